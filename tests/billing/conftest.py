"""Fixtures of tests/billing only: Stripe answering with faults (fault_server.py)."""

from tests.billing.fault_server import stripe_faults

__all__ = ["stripe_faults"]
