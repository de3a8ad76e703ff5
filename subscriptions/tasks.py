"""Periodic work of the subscriptions app (schedules in seatmgr/settings.py)."""

from celery import shared_task

from . import links, periods, seat_changes


@shared_task
def expire_seat_change_quotes() -> int:
    """Expire open seat changes whose quote ran out (bounded batch per run)."""
    return seat_changes.seat_changes_expire()


@shared_task
def roll_subscription_periods() -> dict:
    """Renew, or end, the subscriptions whose period has ended (bounded batch per run)."""
    roll = periods.subscription_periods_roll()
    return {"renewed": len(roll.renewed), "ended": len(roll.ended)}


@shared_task
def send_retrieved_links(email: str) -> int:
    """ "Retrieve my links": email the links to `email` if it is a subscription's admin
    address (queued by the request, which answers without knowing)."""
    return links.links_retrieve_send(email=email)
