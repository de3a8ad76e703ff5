"""Renewals: Stripe bills them, at the quantity we set and until we tell it to stop."""

from __future__ import annotations

from django.db import transaction

from audit.services import audit_record
from subscriptions.models import Subscription

from ..gateways import stripe_gateway


def stripe_subscription_stop_renewal(*, subscription_id: int) -> bool:
    """Tell Stripe to end the subscription at its period end instead of renewing it
    (the admin cancelled). Safe to repeat. Returns False when there is nothing to
    tell: no Stripe subscription, or the cancellation was withdrawn meanwhile."""
    subscription = Subscription.objects.select_related("organization").get(pk=subscription_id)
    if not subscription.stripe_subscription_id or not subscription.cancel_at_period_end:
        return False
    stripe_gateway().subscription_cancel_at_period_end(
        subscription_id=subscription.stripe_subscription_id,
        idempotency_key=f"seatmgr-subscription-{subscription.pk}-cancel-at-period-end",
    )
    with transaction.atomic():
        audit_record(
            action="subscription.stripe_renewal_stopped",
            organization=subscription.organization,
            actor_label="system",
            obj=subscription,
            after={"stripe_subscription": subscription.stripe_subscription_id},
        )
    return True


def stripe_subscription_quantity_sync(*, subscription_id: int) -> bool:
    """Set the Stripe subscription's quantity to ours, so that renewals bill the new
    number of seats. Reads the quantity when it runs, so the newest always wins; the
    idempotency key carries the seats version. Returns False for a subscription that
    has no Stripe subscription (nothing to do)."""
    subscription = Subscription.objects.select_related("organization").get(pk=subscription_id)
    if not subscription.stripe_subscription_id:
        return False
    stripe_gateway().subscription_quantity_set(
        subscription_id=subscription.stripe_subscription_id,
        quantity=subscription.quantity,
        idempotency_key=f"seatmgr-subscription-{subscription.pk}-seats-v{subscription.seats_version}",
    )
    with transaction.atomic():
        audit_record(
            action="subscription.stripe_quantity_set",
            organization=subscription.organization,
            actor_label="system",
            obj=subscription,
            after={"quantity": subscription.quantity, "version": subscription.seats_version},
        )
    return True
