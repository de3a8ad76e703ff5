"""A strict Stripe stand-in for development and tests: an HTTP server in front of
localstripe that refuses what real Stripe refuses (for the API version the installed
stripe library pins), translates what localstripe lacks, and lets tests inject faults
and read what was sent. See README "The strict Stripe stand-in" and app.py.

Never imported by the app (it imports no Django): only started as a process.
"""
