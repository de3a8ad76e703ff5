from django import template

from billing.selectors import NextRenewal
from billing.selectors import next_renewal as _next_renewal

register = template.Library()


@register.filter
def next_renewal(subscription) -> NextRenewal | None:
    """`{% with renewal=subscription|next_renewal %}`: what the next renewal costs
    (`renewal.amount`, `renewal.currency`, `renewal.on`), or None when it won't renew."""
    return _next_renewal(subscription)
