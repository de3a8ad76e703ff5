"""Refunds: a charge for a change that could no longer be applied, and a second charge
for a change already paid."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..gateways import stripe_gateway
from ..models import Payment
from .payments import _audit, _locked_payment


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
    with transaction.atomic():
        payment = _locked_payment(payment_id)
        if not payment.stripe_refund_id:
            payment.stripe_refund_id = refund_id
            payment.refunded_at = timezone.now()
            payment.save(update_fields=["stripe_refund_id", "refunded_at", "updated_at"])
            _audit(payment, "refunded", after={"refund": refund_id, "reason": payment.refund_reason})
    return payment


def duplicate_charge_refund(*, payment_id: int, payment_intent_id: str) -> str:
    """Refund a second successful charge for an already paid seat change."""
    payment = Payment.objects.select_related("seat_change", "subscription__organization").get(pk=payment_id)
    refund_id = stripe_gateway().refund_create(
        payment_intent_id=payment_intent_id,
        idempotency_key=f"seatmgr-payment-{payment.pk}-refund-{payment_intent_id}",
    )
    with transaction.atomic():
        _audit(
            payment, "duplicate_refunded", after={"payment_intent": payment_intent_id, "refund": refund_id}
        )
    return refund_id
