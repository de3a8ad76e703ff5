"""Periodic work of the back office (schedules in seatmgr/settings.py). Thin: each
task calls one service, which bounds its own batch."""

from celery import shared_task

from . import services


@shared_task
def apply_scheduled_decreases() -> int:
    """Apply approved decreases whose period end has come (exactly once each)."""
    return len(services.scheduled_decreases_apply().applied)


@shared_task
def send_approval_digests() -> int:
    """The daily digest of decreases waiting for approval, to each account manager."""
    return services.approval_digests_send()
