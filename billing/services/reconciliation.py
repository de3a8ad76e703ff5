"""Reconciliation: payments whose outcome never reached us are settled by asking Stripe,
with bounded retries when Stripe cannot answer."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from subscriptions.models import SeatChange

from ..errors import PaymentProcessorUnavailable, PaymentRefused
from ..gateways import stripe_gateway
from ..models import Payment
from .payments import (
    MAX_PROCESSOR_FAILURES,
    RECONCILE_AFTER,
    _alert_account_manager_on_commit,
    _audit,
    _charge,
    _fail_definitively,
    _locked_payment,
    _processor_failed,
    _record_attempt,
    _record_intent,
    _send_attempt,
)
from .refunds import payment_refund

logger = logging.getLogger(__name__)

RECONCILE_BATCH = 50


def payments_reconcile(*, now: datetime | None = None, batch_size: int = RECONCILE_BATCH) -> int:
    """Periodic: settle payments whose outcome never reached us (a lost webhook, a
    closed tab, a crash mid-call) by asking Stripe; issue refunds still due. Looks at
    payments untouched for RECONCILE_AFTER whose next try is due (`retry_at`), oldest
    first, at most `batch_size` per run; each one looked at goes to the back of the
    queue. Returns how many were looked at.

    - with a PaymentIntent: its status decides (succeeded → applied; failed → failed;
      a 3-D Secure one whose change expired or was cancelled is cancelled in Stripe);
    - an attempt claimed but never sent (its task lost) is sent now;
    - an attempt sent whose answer never came is sent again with the same idempotency
      key: Stripe (and the stand-in) answers with the original PaymentIntent (were a
      second charge made all the same, it would be refunded).

    Stripe unreachable or failing (PaymentProcessorUnavailable) postpones a payment with
    backoff, MAX_PROCESSOR_FAILURES times at most (`_processor_failed`); Stripe refusing
    the request (PaymentRefused) fails it at once: it would be refused again.
    """
    now = now or timezone.now()
    untouched = Q(updated_at__lte=now - RECONCILE_AFTER) & (Q(retry_at__isnull=True) | Q(retry_at__lte=now))
    due = list(
        Payment.objects.filter(untouched, status__in=Payment.OPEN_STATUSES)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    due += list(
        Payment.objects.filter(
            untouched,
            status=Payment.Status.REFUNDED,
            stripe_refund_id="",
            processor_failures__lt=MAX_PROCESSOR_FAILURES,
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    for payment_id in due:
        try:
            _reconcile(payment_id)
        except PaymentProcessorUnavailable:
            logger.warning("Reconciliation of payment %s postponed: Stripe unavailable", payment_id)
            _processor_failed(payment_id)
        except PaymentRefused as error:
            _reconcile_refused(payment_id, error)
    return len(due)


def _reconcile_refused(payment_id: int, error: PaymentRefused) -> None:
    """Stripe refused what reconciliation asked: an open payment fails at once; a refund
    Stripe refuses is left to the account manager (never asked again)."""
    with transaction.atomic():
        payment = _locked_payment(payment_id)
        if payment.is_open:
            _fail_definitively(
                payment, code=error.stripe_code, message=error.message, detail=error.detail, notify=True
            )
        elif payment.status == Payment.Status.REFUNDED and not payment.stripe_refund_id:
            payment.processor_failures = MAX_PROCESSOR_FAILURES
            payment.save(update_fields=["processor_failures", "updated_at"])
            _audit(payment, "refund_abandoned", after={"code": error.stripe_code, "detail": error.detail})
            _alert_account_manager_on_commit(
                payment, reason=f"refund not issued: {error.stripe_code}: {error.detail}"
            )


def _reconcile(payment_id: int) -> None:
    payment = Payment.objects.select_related("seat_change", "subscription__organization").get(pk=payment_id)
    if payment.status == Payment.Status.REFUNDED:
        payment_refund(payment_id=payment_id)
        return
    if not payment.is_open:
        return
    gateway = stripe_gateway()
    if payment.stripe_payment_intent_id:
        result = gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)
        change_open = payment.seat_change.state == SeatChange.State.AWAITING_PAYMENT
        if not change_open and not result.succeeded:
            result = gateway.payment_intent_cancel(
                result.id, idempotency_key=f"seatmgr-payment-{payment.pk}-cancel-{result.id}"
            )
        _record_intent(payment, result, via="reconciliation", notify=change_open)
    elif payment.attempt_sent_at is None:
        _send_attempt(payment.pk, payment.attempts, notify=True)
    elif payment.stripe_payment_method_id:
        _charge(
            payment,
            payment.attempts,
            customer_id=payment.stripe_customer_id,
            payment_method_id=payment.stripe_payment_method_id,
            notify=True,
        )
    else:
        # Sent no further than saving the card: nothing can have been charged.
        _record_attempt(payment.pk, payment.attempts, error=PaymentProcessorUnavailable(), notify=True)
    Payment.objects.filter(pk=payment.pk, status__in=Payment.OPEN_STATUSES).update(updated_at=timezone.now())
