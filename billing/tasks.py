"""Celery tasks of billing: the periodic ones (schedules in seatmgr/settings.py,
CELERY_BEAT_SCHEDULE). The work queued by a change (a charge, a receipt, a Stripe
call) is an outbox job instead (billing/jobs.py)."""

import time

from celery import shared_task

from . import services, webhooks

# How long one run of reconcile_payments may go on settling batch after batch (its
# interval is 120 s, so runs never overlap).
RECONCILE_TIME_BUDGET = 60.0


def _payments_reconcile_within(seconds: float) -> int:
    """Batch after batch (each payment looked at leaves the queue for RECONCILE_AFTER),
    until a batch is not full or `seconds` are spent."""
    deadline = time.monotonic() + seconds
    looked_at = 0
    while True:
        batch = services.payments_reconcile(batch_size=services.RECONCILE_BATCH)
        looked_at += batch
        if batch < services.RECONCILE_BATCH or time.monotonic() >= deadline:
            return looked_at


@shared_task
def reconcile_payments() -> dict[str, int]:
    """Periodic: webhook events, payments and renewal setups whose outcome never
    reached us, and signed increases whose charge was never claimed. Stored events
    first: what Stripe told us is never charged again."""
    events = webhooks.stripe_events_reprocess()
    return {
        "signed_claimed": services.payments_claim_signed(),
        "payments": _payments_reconcile_within(RECONCILE_TIME_BUDGET),
        "events": events,
        "stray_refunds": services.stray_charges_refund_due(),
        "renewal_setups": services.stripe_renewal_setups_retry(),
    }
