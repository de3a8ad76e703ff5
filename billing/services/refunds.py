"""Refunds: a charge for a change that could no longer be applied, and a charge that is
not the payment (a second one for a change already paid, or one of another amount)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

import outbox

from .. import notifications
from ..errors import PaymentProcessorUnavailable, PaymentRefused
from ..gateways import stripe_gateway
from ..models import Payment, StrayCharge
from .payments import (
    MAX_PROCESSOR_FAILURES,
    RECONCILE_AFTER,
    _alert_account_manager,
    _audit,
    _locked_payment,
)


def payment_refund(*, payment_id: int) -> Payment:
    """Refund a payment marked `refunded` whose refund was not issued yet. Safe to run
    twice (the refund is issued once, with an idempotency key from our ids)."""
    payment = Payment.objects.select_related("seat_change", "subscription__organization").get(pk=payment_id)
    if payment.status != Payment.Status.REFUNDED or payment.stripe_refund_id:
        return payment
    refund_id = stripe_gateway().refund_create(
        payment_intent_id=payment.stripe_payment_intent_id,
        idempotency_key=f"seatmgr-payment-{payment.pk}-refund-{payment.stripe_payment_intent_id}",
    )
    with transaction.atomic(durable=True):
        payment = _locked_payment(payment_id)
        if not payment.stripe_refund_id:
            payment.stripe_refund_id = refund_id
            payment.refunded_at = timezone.now()
            payment.save(update_fields=["stripe_refund_id", "refunded_at", "updated_at"])
            _audit(payment, "refunded", after={"refund": refund_id, "reason": payment.refund_reason})
    return payment


def duplicate_charge_refund(*, payment_id: int, payment_intent_id: str) -> str:
    """Refund in full a charge that is not the payment (a StrayCharge: a second charge
    for a change already paid, or one of another amount). Safe to run twice: the refund
    is issued once (an idempotency key from our ids, and its id recorded); the customer
    is emailed once about a refunded second charge, on commit of the transaction that
    records the refund. Returns the refund's id."""
    stray = StrayCharge.objects.filter(
        payment_id=payment_id, stripe_payment_intent_id=payment_intent_id
    ).first()
    if stray is not None and stray.stripe_refund_id:
        return stray.stripe_refund_id
    refund_id = stripe_gateway().refund_create(
        payment_intent_id=payment_intent_id,
        idempotency_key=f"seatmgr-payment-{payment_id}-refund-{payment_intent_id}",
    )
    with transaction.atomic(durable=True):
        payment = _locked_payment(payment_id)
        stray = (
            StrayCharge.objects.select_for_update()
            .filter(payment_id=payment_id, stripe_payment_intent_id=payment_intent_id)
            .first()
        )
        if stray is not None and stray.stripe_refund_id:
            return stray.stripe_refund_id
        _audit(
            payment, "duplicate_refunded", after={"payment_intent": payment_intent_id, "refund": refund_id}
        )
        if stray is not None:
            now = timezone.now()
            stray.stripe_refund_id, stray.refunded_at = refund_id, now
            if stray.reason == StrayCharge.Reason.DUPLICATE and stray.customer_told_at is None:
                stray.customer_told_at = now
                outbox.enqueue(
                    notifications.stray_charge_refunded,
                    key=f"stray-charge-refunded:{stray.pk}",
                    kind="email",
                    stray_charge_id=stray.pk,
                )
            stray.save(update_fields=["stripe_refund_id", "refunded_at", "customer_told_at", "updated_at"])
    return refund_id


def stray_charges_refund_due(*, now: datetime | None = None, batch_size: int = 50) -> int:
    """Periodic (reconciliation): refund the stray charges whose refund task was lost
    or gave up. Stripe unreachable counts a failure (the next run tries again, at most
    MAX_PROCESSOR_FAILURES times); Stripe refusing leaves it to the account manager,
    alerted once. Returns how many were tried."""
    now = now or timezone.now()
    due = list(
        StrayCharge.objects.filter(
            stripe_refund_id="",
            updated_at__lte=now - RECONCILE_AFTER,
            processor_failures__lt=MAX_PROCESSOR_FAILURES,
        )
        .order_by("updated_at")
        .values_list("pk", "payment_id", "stripe_payment_intent_id")[:batch_size]
    )
    for stray_id, payment_id, payment_intent_id in due:
        try:
            duplicate_charge_refund(payment_id=payment_id, payment_intent_id=payment_intent_id)
        except PaymentProcessorUnavailable:
            StrayCharge.objects.filter(pk=stray_id).update(
                processor_failures=F("processor_failures") + 1, updated_at=timezone.now()
            )
        except PaymentRefused as refused:
            with transaction.atomic():
                StrayCharge.objects.filter(pk=stray_id).update(processor_failures=MAX_PROCESSOR_FAILURES)
                payment = _locked_payment(payment_id)
                _audit(payment, "refund_abandoned", after={"payment_intent": payment_intent_id})
                _alert_account_manager(
                    payment, reason=f"refund of {payment_intent_id} not issued: {refused.stripe_code}"
                )
    return len(due)
