"""Signals billing sends so that upper apps can react without being imported here."""

from django.dispatch import Signal

# Sent on commit when a payment needs the customer and nobody is on the page to tell
# them: the card on file was declined or is missing, or the bank asks for 3-D Secure
# (kwargs: payment_id). `portal` emails them a link to the payment page.
payment_needs_customer = Signal()
