"""Periodic work of the subscriptions app (schedules in seatmgr/settings.py)."""

from celery import shared_task

from . import hot_cache, links, periods, seat_changes


@shared_task
def expire_seat_change_quotes() -> int:
    """Expire open seat changes whose quote ran out (bounded batch per run)."""
    return seat_changes.seat_changes_expire()


# Seconds of work per run of `roll_subscription_periods`, which beat starts every 60 s:
# the rest of the minute is left free, so runs seldom overlap (when they do, SKIP
# LOCKED shares the work).
ROLL_TIME_BUDGET = 40.0


@shared_task
def roll_subscription_periods() -> dict:
    """Renew, or end, the subscriptions whose period has ended: batch after batch, for
    up to ROLL_TIME_BUDGET seconds."""
    roll = periods.subscription_periods_roll(time_budget=ROLL_TIME_BUDGET)
    return {"renewed": len(roll.renewed), "ended": len(roll.ended)}


@shared_task
def send_retrieved_links(email: str) -> int:
    """ "Retrieve my links": email the links to `email` if it is a subscription's admin
    address (queued by the request, which answers without knowing)."""
    return links.links_retrieve_send(email=email)


@shared_task
def retry_cache_invalidations() -> int:
    """Send again the licence-check cache invalidations that could not reach the shared
    cache (the cache is bypassed for their organizations until they do)."""
    return hot_cache.pending_invalidations_retry()
