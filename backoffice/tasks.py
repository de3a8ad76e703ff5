"""Periodic work of the back office (schedules in seatmgr/settings.py). Thin: each
task calls one service, which bounds its own batch."""

from celery import shared_task

from . import services

# Seconds of work per run of `apply_scheduled_decreases`, which beat starts every 60 s
# (as subscriptions.tasks.ROLL_TIME_BUDGET: a yearly billing day's decreases all fall due
# in the same minute).
DECREASES_TIME_BUDGET = 40.0


@shared_task
def apply_scheduled_decreases() -> int:
    """Apply approved decreases whose period end has come (exactly once each): batch
    after batch, for up to DECREASES_TIME_BUDGET seconds."""
    return len(services.scheduled_decreases_apply(time_budget=DECREASES_TIME_BUDGET).applied)


@shared_task
def send_approval_digests() -> int:
    """The daily digest of decreases waiting for approval, to each account manager."""
    return services.approval_digests_send()
