"""Celery tasks of billing: the periodic ones (schedules in seatmgr/settings.py,
CELERY_BEAT_SCHEDULE). The work queued by a change (a charge, a receipt, a Stripe
call) is an outbox job instead (billing/jobs.py)."""

from celery import shared_task

from . import services, webhooks


@shared_task
def reconcile_payments() -> dict[str, int]:
    """Periodic: payments, webhook events and renewal setups whose outcome never
    reached us."""
    return {
        "payments": services.payments_reconcile(),
        "events": webhooks.stripe_events_reprocess(),
        "renewal_setups": services.stripe_renewal_setups_retry(),
    }
