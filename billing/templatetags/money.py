from django import template

from billing.money import chargeable as is_chargeable
from billing.money import format_money, minimum_charge, renewal_words

register = template.Library()


@register.filter
def money(amount_minor, currency):
    """`{{ amount|money:currency }}` → "€1,234.50" (integer minor units in)."""
    if amount_minor is None or amount_minor == "":
        return ""
    return format_money(int(amount_minor), currency)


@register.filter
def chargeable(amount_minor, currency) -> bool:
    """`{% if amount|chargeable:currency %}`: at least the minimum card payment."""
    return is_chargeable(int(amount_minor or 0), currency)


@register.filter
def below_minimum(amount_minor, currency) -> bool:
    """`{% if amount|below_minimum:currency %}`: something is due, but less than the
    smallest card payment, so it is not charged."""
    amount = int(amount_minor or 0)
    return amount > 0 and not is_chargeable(amount, currency)


@register.filter
def minimum_payment(currency) -> str:
    """`{{ currency|minimum_payment }}` → "€0.50"."""
    return format_money(minimum_charge(currency), currency)


@register.filter
def renewal(renewal_) -> str:
    """`{{ renewal|renewal }}` → "€360.00 on 31 December 2026", or "None: ends on …"."""
    return renewal_words(renewal_)
