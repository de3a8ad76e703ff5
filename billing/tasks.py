"""Celery tasks of billing: the periodic ones (schedules in seatmgr/settings.py,
CELERY_BEAT_SCHEDULE). The work queued by a change (a charge, a receipt, a Stripe
call) is an outbox job instead (billing/jobs.py)."""

from celery import shared_task

from . import services, webhooks


@shared_task
def reconcile_payments() -> dict[str, int]:
    """Periodic: webhook events, payments and renewal setups whose outcome never
    reached us, and signed increases whose charge was never claimed. Stored events
    first: what Stripe told us is never charged again."""
    events = webhooks.stripe_events_reprocess()
    return {
        "signed_claimed": services.payments_claim_signed(),
        "payments": services.payments_reconcile(),
        "events": events,
        "stray_refunds": services.stray_charges_refund_due(),
        "renewal_setups": services.stripe_renewal_setups_retry(),
    }
