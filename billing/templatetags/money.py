from django import template

from billing.money import format_money

register = template.Library()


@register.filter
def money(amount_minor, currency):
    """`{{ amount|money:currency }}` → "€1,234.50" (integer minor units in)."""
    if amount_minor is None or amount_minor == "":
        return ""
    return format_money(int(amount_minor), currency)
