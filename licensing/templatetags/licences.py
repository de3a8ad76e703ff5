"""Licence counts for templates that are given only a subscription (emails)."""

from django import template

from licensing import selectors

register = template.Library()


@register.filter
def seat_summary(subscription) -> selectors.SeatSummary:
    """`{% with licences=subscription|seat_summary %}`: maximum, active, available."""
    return selectors.seat_summary(subscription)
