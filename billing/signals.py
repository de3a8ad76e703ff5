"""Signals billing sends so that upper apps can react without being imported here."""

from django.dispatch import Signal

# Sent on commit when a payment needs the customer and nobody is on the page to tell
# them: the card on file was declined or is missing, or the bank asks for 3-D Secure
# (kwargs: payment_id). `portal` emails them a link to the payment page.
payment_needs_customer = Signal()

# Sent on commit when a payment failed for a reason that is ours, not the customer's,
# and a person must look at it: Stripe refused our request (invalid, keys, permissions,
# amount too small once converted), never answered after every retry, charged another
# amount than the payment's, or refused a refund (kwargs: payment_id, reason). The back
# office emails the account manager.
payment_refused = Signal()

# Sent on commit when Stripe refused to set up a subscription's renewals (our request,
# keys or account are at fault: nobody bills its renewals until a person acts), the
# first time for that subscription (kwargs: subscription_id, reason). The back office
# emails the account manager.
renewal_setup_refused = Signal()
