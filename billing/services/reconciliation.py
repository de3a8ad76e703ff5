"""Reconciliation: payments whose outcome never reached us are settled by asking Stripe,
with bounded retries when Stripe cannot answer."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from subscriptions.models import SeatChange
from subscriptions.seat_changes import QuoteExpired

from ..errors import IdempotencyKeyReused, NothingToPay, PaymentProcessorUnavailable, PaymentRefused
from ..gateways import stripe_gateway
from ..models import Payment
from .payments import (
    MAX_PROCESSOR_FAILURES,
    RECONCILE_AFTER,
    PaymentOutcome,
    _alert_account_manager,
    _audit,
    _charge,
    _fail_definitively,
    _locked_payment,
    _processor_failed,
    _record_attempt,
    _record_intent,
    _send_attempt,
    outcome_of,
    payment_card_on_file_queue,
)
from .refunds import payment_refund

logger = logging.getLogger(__name__)

RECONCILE_BATCH = 50
# Stripe keeps an idempotency key's first answer for at least 24 hours: within this
# margin a charge is asked about by sending it again with its key.
IDEMPOTENCY_WINDOW = timedelta(hours=23)
# Stripe's search has new PaymentIntents within a minute, within an hour even during
# an outage (docs.stripe.com/search): an empty answer is believed only after this.
SEARCH_SETTLED = timedelta(hours=1)
# An increase signed this long ago with no payment claimed: its signing process stopped
# before claiming the charge of the card on file. Looked for until a day after signing
# (a customer without a card on file pays on the payment page: nothing to sweep).
SIGNED_UNCLAIMED_AFTER = timedelta(minutes=5)
SIGNED_UNCLAIMED_FOR = timedelta(days=1)


def payments_claim_signed(*, now: datetime | None = None, batch_size: int = RECONCILE_BATCH) -> int:
    """Periodic: an increase signed at least SIGNED_UNCLAIMED_AFTER ago that still
    awaits payment with no payment claimed (the request that signed it stopped between
    the signature's commit and the claim) is claimed now and its card on file charged,
    as signing would have done (`payment_card_on_file_queue`), but only when its signer
    consented there and then to that charge (the agreement's `charge_consent`, "Sign
    and pay"); one signed to pay later waits for its payment page. Exactly once: the claim
    is made under the change's row lock and a change has at most one payment, which
    takes it out of this selection. Oldest first, at most `batch_size` a run; returns
    how many were claimed (a customer without a card on file claims nothing)."""
    now = now or timezone.now()
    due = (
        SeatChange.objects.filter(
            state=SeatChange.State.AWAITING_PAYMENT,
            payment__isnull=True,
            signed_at__lte=now - SIGNED_UNCLAIMED_AFTER,
            signed_at__gt=now - SIGNED_UNCLAIMED_FOR,
            agreement__charge_consent__choice="pay_now",
        )
        .exclude(subscription__stripe_customer_id="")
        .select_related("subscription__plan__product", "subscription__organization")
        .order_by("signed_at")[:batch_size]
    )
    claimed = 0
    for seat_change in due:
        try:
            claimed += payment_card_on_file_queue(seat_change=seat_change) is not None
        except (NothingToPay, QuoteExpired):
            continue  # settled, cancelled or expired meanwhile
    return claimed


def payments_reconcile(*, now: datetime | None = None, batch_size: int = RECONCILE_BATCH) -> int:
    """Periodic: settle payments whose outcome never reached us (a lost webhook, a
    closed tab, a crash mid-call) by asking Stripe; issue refunds still due. Looks at
    payments untouched for RECONCILE_AFTER whose next try is due (`retry_at`), oldest
    first, at most `batch_size` per run; each one looked at goes to the back of the
    queue. Returns how many were looked at.

    First, webhook events about the payment that were stored and never processed are
    processed: what Stripe already told us is never asked again. Then:

    - with a PaymentIntent: its status decides (succeeded → applied; failed → failed;
      a 3-D Secure one whose change expired or was cancelled is cancelled in Stripe);
    - an attempt whose charge request never left (its task lost, its worker killed
      before the request, Stripe unreachable before it) is sent now, as the first
      time, without troubling the customer;
    - an attempt whose charge left and whose answer never came is asked about, never
      charged blindly (`_resolve_unanswered_charge`: the same request and idempotency
      key, which Stripe answers with the first PaymentIntent; a search by our metadata
      after 24 h). A charge found for a payment already settled is refunded and the
      customer told (`payment_succeeded`).

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
        _reconcile_bounded(payment_id)
    return len(due)


def payment_attempt_resolve(*, payment_id: int, attempt: int) -> PaymentOutcome:
    """The sender of a card-on-file attempt stopped before recording its outcome (its
    outbox job is run again, see `payment_attempt_send`): the attempt is settled now,
    exactly as reconciliation would settle it after RECONCILE_AFTER (stored events
    first; a charge sent is asked about with its key; one never sent is sent). An
    attempt that is no longer the payment's current one, settled, or waiting for a retry
    after Stripe was unavailable (`retry_at`) is left as it is."""
    payment = Payment.objects.get(pk=payment_id)
    waiting = payment.retry_at is not None and payment.retry_at > timezone.now()
    if payment.attempts == attempt and payment.status == Payment.Status.PENDING and not waiting:
        _reconcile_bounded(payment_id)
    return outcome_of(Payment.objects.get(pk=payment_id))


def _reconcile_bounded(payment_id: int) -> None:
    try:
        _reconcile(payment_id)
    except PaymentProcessorUnavailable:
        logger.warning("Reconciliation of payment %s postponed: Stripe unavailable", payment_id)
        _processor_failed(payment_id)
    except PaymentRefused as error:
        _reconcile_refused(payment_id, error)


def _reconcile_refused(payment_id: int, error: PaymentRefused) -> None:
    """Stripe refused what reconciliation asked: an open payment fails at once; a refund
    Stripe refuses is left to the account manager (never asked again)."""
    with transaction.atomic(durable=True):
        payment = _locked_payment(payment_id)
        if payment.is_open:
            _fail_definitively(
                payment, code=error.stripe_code, message=error.message, detail=error.detail, notify=True
            )
        elif payment.status == Payment.Status.REFUNDED and not payment.stripe_refund_id:
            payment.processor_failures = MAX_PROCESSOR_FAILURES
            payment.save(update_fields=["processor_failures", "updated_at"])
            _audit(payment, "refund_abandoned", after={"code": error.stripe_code, "detail": error.detail})
            _alert_account_manager(payment, reason=f"refund not issued: {error.stripe_code}: {error.detail}")


def _reconcile(payment_id: int) -> None:
    payment = Payment.objects.select_related("seat_change", "subscription__organization").get(pk=payment_id)
    if payment.status == Payment.Status.REFUNDED:
        payment_refund(payment_id=payment_id)
        return
    if not payment.is_open:
        return
    if _process_stored_events(payment):
        payment = Payment.objects.select_related("seat_change", "subscription__organization").get(
            pk=payment_id
        )
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
    elif payment.charge_sent_at is not None:
        _resolve_unanswered_charge(payment)
    elif payment.attempt_sent_at is None or not payment.customer_present:
        # Its charge never left: its task was lost, or its sender stopped (or found
        # Stripe unreachable) before the request. Sent now, as the first time.
        _send_attempt(payment.pk, payment.attempts, notify=True, take_over=True)
    elif payment.stripe_payment_method_id:
        _charge(
            payment,
            payment.attempts,
            customer_id=payment.stripe_customer_id,
            payment_method_id=payment.stripe_payment_method_id,
            notify=True,
        )
    else:
        # A card typed in on the page, whose request stopped before the card was read:
        # nothing was charged, and only the customer can give that card again.
        _record_attempt(payment.pk, payment.attempts, error=PaymentProcessorUnavailable(), notify=True)
    Payment.objects.filter(pk=payment.pk, status__in=Payment.OPEN_STATUSES).update(updated_at=timezone.now())


def _process_stored_events(payment: Payment) -> int:
    """Webhook events about the payment that were stored but never processed (their
    task was lost) are processed first: what Stripe already told us is never asked, or
    charged, again. Returns how many were processed."""
    from ..webhooks import stripe_events_process_for_payment

    return stripe_events_process_for_payment(
        payment_id=payment.pk, payment_intent_id=payment.stripe_payment_intent_id
    )


def _resolve_unanswered_charge(payment: Payment) -> None:
    """The attempt's charge request left (`charge_sent_at`) and its answer never came
    back: ask Stripe what became of it, never charge blindly.

    Within IDEMPOTENCY_WINDOW of the first send, the same request is sent again with
    the same idempotency key: Stripe answers with the first PaymentIntent, whatever
    became of it (or runs the request now if it never arrived: still one charge). After
    that, or when Stripe holds the key for other parameters, the attempt's PaymentIntent
    is looked up by our metadata (Stripe's search, eventually consistent: an empty
    answer is trusted only once SEARCH_SETTLED has passed since the send). Found, its
    status decides; not found after Stripe forgot the key, nothing arrived and it is
    sent again; otherwise it waits for the next run (bounded, `_processor_failed`)."""
    attempt = payment.attempts
    sent_for = timezone.now() - payment.charge_sent_at
    if sent_for < IDEMPOTENCY_WINDOW:
        try:
            _replay(payment)
            return
        except IdempotencyKeyReused:
            logger.warning("Payment %s attempt %s: key used for other parameters", payment.pk, attempt)
    found = stripe_gateway().payment_intents_find(
        metadata={"seatmgr_payment": str(payment.pk), "attempt": str(attempt)}
    )
    if found:
        result = next((intent for intent in found if intent.succeeded), found[0])
        _audit(payment, "charge_found", after={"payment_intent": result.id, "status": result.status})
        _record_intent(payment, result, via="reconciliation", notify=True)
        return
    if sent_for >= IDEMPOTENCY_WINDOW and sent_for >= SEARCH_SETTLED:
        # Stripe forgot the key and has no PaymentIntent of this attempt: the request
        # never arrived. Sent now; its 24 h start again.
        Payment.objects.filter(pk=payment.pk, attempts=attempt, status=Payment.Status.PENDING).update(
            charge_sent_at=None
        )
        _audit(payment, "charge_resent", after={"sent_at": payment.charge_sent_at.isoformat()})
        _replay(payment)
        return
    _processor_failed(payment.pk, attempt=attempt)


def _replay(payment: Payment) -> None:
    _charge(
        payment,
        payment.attempts,
        customer_id=payment.stripe_customer_id,
        payment_method_id=payment.stripe_payment_method_id,
        notify=True,
        replay=True,
    )
