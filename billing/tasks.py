"""Celery tasks of billing: thin, each takes ids and calls one service. Schedules are
in seatmgr/settings.py (CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task

from . import notifications, services, webhooks
from .errors import PaymentProcessorUnavailable

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


@shared_task
def reconcile_payments() -> dict[str, int]:
    """Periodic: payments and webhook events whose outcome never reached us."""
    return {
        "payments": services.payments_reconcile(),
        "events": webhooks.stripe_events_reprocess(),
    }
