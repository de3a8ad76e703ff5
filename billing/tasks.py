"""Celery tasks of billing: thin, each takes ids and calls one service. Schedules are
in seatmgr/settings.py (CELERY_BEAT_SCHEDULE)."""

import logging
import time

from celery import shared_task
from django.core.exceptions import ImproperlyConfigured

from . import notifications, services, webhooks
from .errors import PaymentProcessorUnavailable, PaymentRefused

logger = logging.getLogger(__name__)

STRIPE_RETRIES = 8


def _retry_later(task, error: PaymentProcessorUnavailable):
    """Stripe was unreachable: try again with backoff (5 s, 10 s, ... up to 5 min). Run
    eagerly (the embedded default has no worker), the failure is only logged."""
    if task.request.is_eager:
        logger.warning("%s failed, not retried in-process: %s", task.name, error)
        return None
    raise task.retry(exc=error, countdown=min(300, 5 * 2**task.request.retries))


@shared_task(acks_late=True)
def process_stripe_event(event_id: int) -> str:
    """Handle one recorded webhook event (once, whatever the deliveries)."""
    return webhooks.stripe_event_process(event_id=event_id)


@shared_task(acks_late=True)
def send_payment_attempt(payment_id: int, attempt: int) -> str:
    """Charge the card on file for a claimed attempt (sent at most once)."""
    return services.payment_attempt_send(payment_id=payment_id, attempt=attempt).status


@shared_task(acks_late=True)
def send_receipt(payment_id: int) -> None:
    notifications.receipt(payment_id=payment_id)


@shared_task(bind=True, acks_late=True, max_retries=STRIPE_RETRIES)
def make_card_default(self, payment_id: int) -> None:
    """The card that paid becomes the customer's card on file."""
    try:
        services.payment_card_make_default(payment_id=payment_id)
    except PaymentProcessorUnavailable as error:
        _retry_later(self, error)


@shared_task(bind=True, acks_late=True, max_retries=STRIPE_RETRIES)
def refund_payment(self, payment_id: int) -> None:
    """Refund a charge that arrived for a change that could no longer be applied
    (reconciliation issues it too, if this task gives up)."""
    try:
        services.payment_refund(payment_id=payment_id)
    except PaymentProcessorUnavailable as error:
        _retry_later(self, error)


@shared_task(bind=True, acks_late=True, max_retries=STRIPE_RETRIES)
def refund_duplicate_charge(self, payment_id: int, payment_intent_id: str) -> None:
    try:
        services.duplicate_charge_refund(payment_id=payment_id, payment_intent_id=payment_intent_id)
    except PaymentProcessorUnavailable as error:
        _retry_later(self, error)


@shared_task(bind=True, acks_late=True, max_retries=STRIPE_RETRIES)
def sync_stripe_quantity(self, subscription_id: int) -> None:
    """Renewals bill the new number of seats."""
    try:
        services.stripe_subscription_quantity_sync(subscription_id=subscription_id)
    except PaymentProcessorUnavailable as error:
        _retry_later(self, error)


@shared_task(bind=True, acks_late=True, max_retries=STRIPE_RETRIES)
def stop_stripe_renewal(self, subscription_id: int) -> None:
    """A subscription cancelled at period end: Stripe does not renew it."""
    try:
        services.stripe_subscription_stop_renewal(subscription_id=subscription_id)
    except PaymentProcessorUnavailable as error:
        _retry_later(self, error)


@shared_task(bind=True, acks_late=True, max_retries=STRIPE_RETRIES)
def set_up_stripe_renewal(self, subscription_id: int) -> str:
    """An activated subscription: its Stripe customer and subscription (once)."""
    try:
        result = services.stripe_subscription_set_up(subscription_id=subscription_id)
    except PaymentProcessorUnavailable as error:
        _retry_later(self, error)
        return "retrying"
    except PaymentRefused as refused:
        # Recorded on the setup row; reconciliation tries again a few times.
        logger.error("Stripe refused to set up subscription %s: %s", subscription_id, refused.detail)
        return "refused"
    except ImproperlyConfigured as error:
        logger.warning("Renewals of subscription %s not set up in Stripe: %s", subscription_id, error)
        return "not configured"
    return result.stripe_subscription_id if result else "nothing to bill"


@shared_task(bind=True, acks_late=True, max_retries=STRIPE_RETRIES)
def sync_stripe_catalogue(self, product_id: int) -> None:
    """A product or plan was saved: Stripe's Product and Prices follow, and the
    subscriptions of a plan with a new Price renew at it."""
    try:
        moved = services.stripe_catalogue_sync(product_id=product_id)
    except PaymentProcessorUnavailable as error:
        _retry_later(self, error)
        return
    for subscription_id in moved:
        sync_stripe_quantity.delay(subscription_id)


# Seconds of payment reconciliation per run of `reconcile_payments`, which beat starts
# every 120 s. A batch is RECONCILE_BATCH payments, each a Stripe call or two; after
# lost webhooks hundreds can be due at once (520 at 10,000 organizations), which one
# batch a run would take 20 minutes to settle.
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
    """Periodic: payments, webhook events and renewal setups whose outcome never
    reached us."""
    return {
        "payments": _payments_reconcile_within(RECONCILE_TIME_BUDGET),
        "events": webhooks.stripe_events_reprocess(),
        "renewal_setups": services.stripe_renewal_setups_retry(),
    }
