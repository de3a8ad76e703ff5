"""Periodic work of the subscriptions app (schedules in seatmgr/settings.py)."""

from celery import shared_task

from . import seat_changes


@shared_task
def expire_seat_change_quotes() -> int:
    """Expire open seat changes whose quote ran out (bounded batch per run)."""
    return seat_changes.seat_changes_expire()
