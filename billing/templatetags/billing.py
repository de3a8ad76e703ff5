from django import template

from billing.models import RenewalInvoice
from billing.selectors import next_renewal as _next_renewal
from billing.selectors import unpaid_invoice as _unpaid_invoice
from subscriptions.money_story import Renewal

register = template.Library()


@register.filter
def next_renewal(subscription) -> Renewal | None:
    """`{% with renewal=subscription|next_renewal %}`: what the next renewal costs
    (`renewal.amount`, `renewal.currency`, `renewal.on`), or when it ends
    (`renewal.ends`); None when the subscription is not live."""
    return _next_renewal(subscription)


@register.filter
def unpaid_invoice(subscription) -> RenewalInvoice | None:
    """`{% with invoice=subscription|unpaid_invoice %}`: the invoice left unpaid, if any."""
    return _unpaid_invoice(subscription) if subscription.status == subscription.Status.PAST_DUE else None
