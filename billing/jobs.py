"""Outbox jobs of billing (see outbox.services): thin, each takes ids and calls one
service. An error raised (Stripe unreachable, say) makes the outbox run it again
later, with backoff, until it succeeds or is marked failed."""

import logging
import uuid

from django.core.exceptions import ImproperlyConfigured

import outbox

from . import services, webhooks
from .errors import PaymentRefused

logger = logging.getLogger(__name__)


def process_stripe_event(*, event_id: int) -> None:
    webhooks.stripe_event_process(event_id=event_id)


def send_payment_attempt(*, payment_id: int, attempt: int) -> None:
    """Charge the card on file for a claimed attempt (sent at most once)."""
    services.payment_attempt_send(payment_id=payment_id, attempt=attempt)


def make_card_default(*, payment_id: int) -> None:
    services.payment_card_make_default(payment_id=payment_id)


def refund_payment(*, payment_id: int) -> None:
    services.payment_refund(payment_id=payment_id)


def refund_duplicate_charge(*, payment_id: int, payment_intent_id: str) -> None:
    services.duplicate_charge_refund(payment_id=payment_id, payment_intent_id=payment_intent_id)


def sync_stripe_quantity(*, subscription_id: int) -> None:
    """Renewals bill the subscription's number of seats (safe to run again)."""
    services.stripe_subscription_quantity_sync(subscription_id=subscription_id)


def stop_stripe_renewal(*, subscription_id: int) -> None:
    services.stripe_subscription_stop_renewal(subscription_id=subscription_id)


def resume_stripe_renewal(*, subscription_id: int) -> None:
    """A cancellation withdrawn ("Keep my subscription"): Stripe renews it again."""
    services.stripe_subscription_resume_renewal(subscription_id=subscription_id)


def set_up_stripe_renewal(*, subscription_id: int) -> None:
    """A refusal is recorded on the setup row (reconciliation tries again a few
    times), not retried here; nor is a Stripe that is not configured."""
    try:
        services.stripe_subscription_set_up(subscription_id=subscription_id)
    except PaymentRefused as refused:
        logger.error("Stripe refused to set up subscription %s: %s", subscription_id, refused.detail)
    except ImproperlyConfigured as error:
        logger.warning("Renewals of subscription %s not set up in Stripe: %s", subscription_id, error)


def sync_stripe_catalogue(*, product_id: int) -> None:
    """Stripe's Product and Prices follow ours; the subscriptions of a plan with a new
    Price renew at it."""
    for subscription_id in services.stripe_catalogue_sync(product_id=product_id):
        outbox.enqueue(
            sync_stripe_quantity,
            key=f"stripe-quantity:{subscription_id}:{uuid.uuid4().hex}",
            kind="batch",
            subscription_id=subscription_id,
        )
