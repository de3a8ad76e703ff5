"""Payments of seat changes: attempts, the one call that charges, and what Stripe says
happened (the guarantees are in `billing.services`)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

import outbox
from audit.services import audit_record
from subscriptions import seat_changes
from subscriptions.models import SeatChange, Subscription
from subscriptions.seat_changes import QuoteExpired

from .. import money
from ..errors import (
    AuthenticationRequired,
    CardDeclined,
    IdempotencyKeyReused,
    NoCardOnFile,
    NothingToPay,
    PaymentError,
    PaymentProcessorUnavailable,
    PaymentRefused,
)
from ..gateways import PaymentIntentResult, stripe_gateway
from ..models import Payment, StrayCharge
from ..selectors import card_on_file

logger = logging.getLogger(__name__)

# An attempt younger than this is in flight: nobody else sends one meanwhile.
ATTEMPT_IN_FLIGHT = timedelta(minutes=2)
# Open payments untouched for this long are asked about from Stripe (reconciliation).
RECONCILE_AFTER = timedelta(minutes=5)
# Stripe unreachable or failing for one attempt: asked again after 10 min, 20 min, …
# (at most 2 h apart), and after this many failures the attempt fails definitively.
MAX_PROCESSOR_FAILURES = 6
MAX_RETRY_DELAY = timedelta(hours=2)

AMOUNT_MISMATCH = "amount_mismatch"
PROCESSOR_GAVE_UP = "processor_unavailable"

PAID_MESSAGE = "Paid — your new seat count is being applied."
PENDING_MESSAGE = "Paying… waiting for the card processor's answer."
UNRESOLVED_MESSAGE = (
    "We are still waiting for the card processor's answer about your last payment. "
    "You will never be charged twice: check again in a few minutes."
)
NOTHING_DUE_MESSAGE = "Nothing to pay: your new seat count is being applied."
NOTHING_CHARGED_MESSAGE = (
    "The payment did not go through and nothing was charged. Please try again in a minute."
)
GAVE_UP_MESSAGE = (
    "We could not take this payment: our card processor did not answer. You will never be "
    "charged twice. Please try again later, or contact your account manager: they have been told."
)
MISMATCH_MESSAGE = (
    "We could not take this payment: our card processor reported a different amount. "
    "Anything taken from your card is refunded in full. Please try again later, or contact "
    "your account manager: they have been told."
)


@dataclass(frozen=True)
class PaymentOutcome:
    """Where a payment stands after a call, in the customer's words."""

    status: str
    message: str
    payment_id: int | None = None
    # Only while the bank asks the customer to confirm (3-D Secure) in the browser.
    client_secret: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == Payment.Status.SUCCEEDED


def _message(payment: Payment) -> str:
    if payment.status == Payment.Status.SUCCEEDED:
        return PAID_MESSAGE
    if payment.status == Payment.Status.REFUNDED:
        return f"Refunded: {payment.refund_reason}" if payment.refund_reason else "Refunded."
    if payment.status == Payment.Status.PENDING:
        in_flight = (
            payment.attempt_started_at and timezone.now() - payment.attempt_started_at < ATTEMPT_IN_FLIGHT
        )
        return PENDING_MESSAGE if in_flight or not payment.charge_sent_at else UNRESOLVED_MESSAGE
    return payment.failure_message or AuthenticationRequired.DEFAULT_MESSAGE


def outcome_of(payment: Payment, *, client_secret: str = "") -> PaymentOutcome:
    return PaymentOutcome(
        status=payment.status,
        message=_message(payment),
        payment_id=payment.pk,
        client_secret=client_secret,
    )


def _locked_payment(payment_id: int) -> Payment:
    return (
        Payment.objects.select_for_update(of=("self",))
        .select_related("seat_change", "subscription__organization")
        .get(pk=payment_id)
    )


def _audit(payment: Payment, action: str, *, after: dict, actor=None, actor_label="system", request=None):
    audit_record(
        action=f"payment.{action}",
        organization=payment.subscription.organization,
        actor=actor,
        actor_label=actor_label,
        obj=payment,
        after={"seat_change": payment.seat_change.number, "attempt": payment.attempts, **after},
        request=request,
    )


def _tell_customer_payment_needed(payment: Payment) -> None:
    outbox.send_signal(
        "billing.signals.payment_needs_customer",
        sender="billing.Payment",
        key=f"payment-needs-customer:{payment.pk}:{payment.attempts}",
        kind="email",
        payment_id=payment.pk,
    )


def _alert_account_manager(payment: Payment, reason: str) -> None:
    outbox.send_signal(
        "billing.signals.payment_refused",
        sender="billing.Payment",
        key=f"payment-refused:{payment.pk}:{payment.attempts}:{hashlib.sha256(reason.encode()).hexdigest()[:16]}",
        kind="email",
        payment_id=payment.pk,
        reason=reason,
    )


def _fail_definitively(
    payment: Payment, *, code: str, message: str, detail: str, notify: bool, payment_intent_id: str = ""
) -> None:
    """Inside the caller's transaction, `payment` locked and open: the attempt failed
    for a reason the customer can't fix (nothing will send it again); the account
    manager is alerted, and the customer emailed when `notify` (nobody on the page)."""
    if payment_intent_id:
        payment.stripe_payment_intent_id = payment_intent_id
    payment.status = Payment.Status.FAILED
    payment.failure_code = code[:60]
    payment.decline_code = ""
    payment.failure_message = message[:500]
    payment.retry_at = None
    payment.save()
    _audit(payment, "refused", after={"code": code, "detail": detail, "payment_intent": payment_intent_id})
    _alert_account_manager(payment, reason=f"{code}: {detail}" if detail else code)
    if notify:
        _tell_customer_payment_needed(payment)


# --- Starting an attempt --------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    payment: Payment | None  # None: nothing was due, the change is applied
    attempt: int = 0  # 0: nothing to send, report `payment` as it is
    resume_action: bool = False  # the bank's confirmation is pending: hand it to the browser


def _claim_attempt(
    *, seat_change: SeatChange, customer_present: bool, new_card: bool, actor, actor_label, request
) -> _Claim:
    """Under the seat change's and the payment's row locks: refuse what can't be paid,
    report an attempt in flight, or claim a new attempt (creating the Payment row on
    the first one). The claim commits before anything is sent to Stripe: its own
    transaction (durable: called inside another one, it raises instead of sending the
    charge before the claim is committed)."""
    with transaction.atomic(durable=True):
        change = (
            SeatChange.objects.select_for_update(of=("self",))
            .select_related("subscription__plan__product", "subscription__organization")
            .get(pk=seat_change.pk)
        )
        payment = Payment.objects.select_for_update(of=("self",)).filter(seat_change=change).first()
        if payment is not None:
            payment.seat_change, payment.subscription = change, change.subscription
            if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED):
                return _Claim(payment)
        if change.state != SeatChange.State.AWAITING_PAYMENT:
            raise NothingToPay(
                f"Seat change {change.number} is {change.get_state_display().lower()}: "
                "there is nothing to pay."
            )
        expired = seat_changes.expire_if_due(change)
        if not expired:
            if not money.chargeable(change.amount_due, change.currency):
                # Priced at nothing (a free plan) or under the smallest card payment (a
                # change quoted minutes before its period ends): nothing is charged.
                seat_changes.seat_change_apply(
                    seat_change=change, via="payment", actor_label="nothing to pay"
                )
                return _Claim(None)
            if payment is not None and payment.status == Payment.Status.PENDING and payment.attempts:
                # An attempt in flight, or whose charge was sent and never answered:
                # reconciliation settles the latter, since sending another could charge
                # twice. One whose sender stopped before its charge left is replaced (its
                # sender, were it still alive, finds itself overtaken and sends nothing).
                in_flight = timezone.now() - payment.attempt_started_at < ATTEMPT_IN_FLIGHT
                if in_flight or payment.charge_sent_at is not None:
                    return _Claim(payment)
            if payment is not None and payment.status == Payment.Status.REQUIRES_ACTION and not new_card:
                return _Claim(payment, resume_action=True)
            payment = _attempt_start(change, payment, customer_present=customer_present)
            _audit(
                payment,
                "attempt_started",
                after={"amount": payment.amount, "currency": payment.currency, "new_card": new_card},
                actor=actor,
                actor_label=actor_label,
                request=request,
            )
    if expired:
        # Raised after the commit: the change stays expired.
        raise QuoteExpired(change)
    return _Claim(payment, attempt=payment.attempts)


def _attempt_start(change: SeatChange, payment: Payment | None, *, customer_present: bool) -> Payment:
    if payment is None:
        payment = Payment(
            organization_id=change.organization_id,
            subscription=change.subscription,
            seat_change=change,
            amount=change.amount_due,
            currency=change.currency,
        )
    payment.attempts += 1
    payment.status = Payment.Status.PENDING
    payment.attempt_started_at = timezone.now()
    payment.attempt_sent_at = None
    payment.charge_sent_at = None
    payment.customer_present = customer_present
    if payment.failure_code == AMOUNT_MISMATCH:
        # That PaymentIntent is being refunded: nothing to cancel or ask about any more.
        payment.stripe_payment_intent_id = ""
    payment.failure_code = ""
    payment.decline_code = ""
    payment.failure_message = ""
    payment.processor_failures = 0
    payment.retry_at = None
    payment.save()
    return payment


def _stripe_customer(subscription: Subscription) -> str:
    """The subscription's Stripe customer, created on first need."""
    if subscription.stripe_customer_id:
        return subscription.stripe_customer_id
    customer_id = stripe_gateway().customer_create(
        email=subscription.admin_email,
        name=subscription.organization.name,
        metadata={
            "seatmgr_subscription": str(subscription.pk),
            "organization": subscription.organization.slug,
        },
        idempotency_key=f"seatmgr-subscription-{subscription.pk}-customer",
    )
    with transaction.atomic():
        updated = Subscription.objects.filter(pk=subscription.pk, stripe_customer_id="").update(
            stripe_customer_id=customer_id
        )
        if updated:
            audit_record(
                action="subscription.stripe_customer_created",
                organization=subscription.organization,
                actor_label="system",
                obj=subscription,
                after={"stripe_customer_id": customer_id},
            )
    subscription.refresh_from_db(fields=["stripe_customer_id"])
    return subscription.stripe_customer_id


def _send_attempt(
    payment_id: int, attempt: int, *, setup_intent: str = "", notify: bool, take_over: bool = False
) -> PaymentOutcome:
    """Send a claimed attempt to Stripe, once: a second call for the same attempt (a
    task delivered twice) finds it taken and only reports where it stands.
    `take_over` (reconciliation) takes an attempt whose sender stopped before its
    charge request left (`charge_sent_at` unset): nothing can have been charged, so it
    is sent as if for the first time."""
    now = timezone.now()
    claimable = Payment.objects.filter(
        pk=payment_id, attempts=attempt, status=Payment.Status.PENDING, charge_sent_at__isnull=True
    )
    if not take_over:
        claimable = claimable.filter(attempt_sent_at__isnull=True)
    claimed = claimable.update(attempt_sent_at=now)
    payment = Payment.objects.select_related(
        "seat_change", "subscription__organization", "subscription__plan__product"
    ).get(pk=payment_id)
    if not claimed:
        return outcome_of(payment)
    gateway = stripe_gateway()
    try:
        customer_id = _stripe_customer(payment.subscription)
        if payment.stripe_payment_intent_id:
            previous = gateway.payment_intent_cancel(
                payment.stripe_payment_intent_id,
                idempotency_key=f"seatmgr-payment-{payment.pk}-cancel-{payment.stripe_payment_intent_id}",
            )
            if previous.succeeded:
                # The previous attempt went through after all (e.g. 3-D Secure completed
                # in another tab): that is the payment, unless its amount is not ours
                # (then it is refunded, and this attempt goes on).
                payment_succeeded(
                    payment_intent_id=previous.id,
                    amount=previous.amount,
                    currency=previous.currency,
                    metadata=previous.metadata,
                    via="retry",
                )
                current = Payment.objects.get(pk=payment.pk)
                if current.status != Payment.Status.PENDING or current.attempts != attempt:
                    return outcome_of(current)
        if setup_intent:
            # The card Stripe.js saved with a SetupIntent of this customer (checked: the
            # id comes from the browser). It becomes the card on file only once a payment
            # with it succeeds (`payment_card_make_default`).
            card = gateway.card_setup_card(setup_intent, customer_id=customer_id)
        else:
            card = gateway.customer_default_card(customer_id)
            if card is None:
                raise NoCardOnFile()
    except PaymentProcessorUnavailable as error:
        # Nothing was sent that could charge the card. Nobody is present for a charge of
        # the card on file: it stays pending, and reconciliation sends it later (with
        # backoff, bounded) instead of asking the customer to pay by hand.
        if not payment.customer_present:
            _processor_failed(payment.pk, attempt=attempt)
            return outcome_of(Payment.objects.get(pk=payment.pk))
        return _record_attempt(payment.pk, attempt, error=error, notify=notify)
    except (PaymentError, PaymentRefused) as error:
        # Nothing was sent that could charge the card.
        return _record_attempt(payment.pk, attempt, error=error, notify=notify)
    return _charge(
        payment,
        attempt,
        customer_id=customer_id,
        payment_method_id=card.id,
        card_label=card.label,
        notify=notify,
    )


def _charge(
    payment: Payment,
    attempt: int,
    *,
    customer_id: str,
    payment_method_id: str,
    card_label: str = "",
    notify: bool,
    replay: bool = False,
) -> PaymentOutcome:
    """The one call that can move money, for the payment's current attempt only.

    Before the request leaves, the attempt is marked sent (`charge_sent_at`, with the
    card and customer it charges) in a statement of its own, committed: from then on
    nobody sends this attempt as new, and reconciliation asks Stripe what became of it.
    `replay` (reconciliation) sends the very same request again, same parameters and
    idempotency key, to learn its outcome: Stripe answers with the first request's
    saved answer for 24 h and runs nothing twice; it raises IdempotencyKeyReused if
    Stripe holds the key for other parameters."""
    fields = {
        "stripe_customer_id": customer_id,
        "stripe_payment_method_id": payment_method_id,
        "charge_sent_at": Coalesce(F("charge_sent_at"), Value(timezone.now())),
    }
    if card_label:
        fields["card_label"] = card_label
    with transaction.atomic(durable=True):  # committed before the request, or nothing is sent
        marked = Payment.objects.filter(
            pk=payment.pk, attempts=attempt, status=Payment.Status.PENDING
        ).update(**fields)
    if not marked:
        # Settled meanwhile (a webhook, the page) or overtaken by a newer attempt.
        return outcome_of(Payment.objects.get(pk=payment.pk))
    try:
        result = stripe_gateway().payment_intent_charge(
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            amount=payment.amount,
            currency=payment.currency,
            off_session=not payment.customer_present,
            metadata={
                "seatmgr_payment": str(payment.pk),
                "seat_change": payment.seat_change.number,
                "attempt": str(attempt),
            },
            idempotency_key=f"seatmgr-payment-{payment.pk}-attempt-{attempt}-charge",
        )
    except IdempotencyKeyReused:
        if replay:
            raise
        # Another request with this key ran (with other parameters): its outcome is
        # unknown, like a lost answer's. Reconciliation looks it up.
        _processor_failed(payment.pk, attempt=attempt)
        return PaymentOutcome(Payment.Status.PENDING, UNRESOLVED_MESSAGE, payment.pk)
    except (PaymentError, PaymentRefused) as error:
        return _record_attempt(payment.pk, attempt, error=error, notify=notify)
    except PaymentProcessorUnavailable:
        # It may or may not have reached Stripe: the attempt stays pending until
        # reconciliation asks Stripe with the same request and key (bounded).
        _processor_failed(payment.pk, attempt=attempt)
        return PaymentOutcome(Payment.Status.PENDING, UNRESOLVED_MESSAGE, payment.pk)
    return _record_attempt(payment.pk, attempt, result=result, notify=notify)


def _record_attempt(
    payment_id: int,
    attempt: int,
    *,
    result: PaymentIntentResult | None = None,
    error: PaymentError | PaymentRefused | PaymentProcessorUnavailable | None = None,
    notify: bool,
) -> PaymentOutcome:
    """Store what Stripe answered to an attempt. A success goes through
    `payment_succeeded`; an answer to an older attempt changes nothing."""
    if result is not None and result.succeeded:
        payment_succeeded(
            payment_intent_id=result.id,
            amount=result.amount,
            currency=result.currency,
            metadata=result.metadata,
            via="card",
        )
        return outcome_of(Payment.objects.get(pk=payment_id))
    with transaction.atomic(durable=True):
        payment = _locked_payment(payment_id)
        if payment.attempts != attempt or payment.status != Payment.Status.PENDING:
            return outcome_of(payment)
        if isinstance(error, PaymentRefused):
            _fail_definitively(
                payment, code=error.stripe_code, message=error.message, detail=error.detail, notify=notify
            )
            return outcome_of(payment)
        if error is not None:
            if getattr(error, "payment_intent_id", ""):
                payment.stripe_payment_intent_id = error.payment_intent_id
            payment.status = (
                Payment.Status.REQUIRES_ACTION
                if isinstance(error, AuthenticationRequired)
                else Payment.Status.FAILED
            )
            if isinstance(error, PaymentProcessorUnavailable):
                payment.failure_code, payment.decline_code = error.code, ""
                payment.failure_message = NOTHING_CHARGED_MESSAGE
            else:
                payment.failure_code = error.stripe_code or error.code
                payment.decline_code = error.decline_code
                payment.failure_message = error.message[:500]
        else:
            payment.stripe_payment_intent_id = result.id
            if result.requires_action:
                payment.status = Payment.Status.REQUIRES_ACTION
                payment.failure_code = AuthenticationRequired.code
                payment.failure_message = AuthenticationRequired.DEFAULT_MESSAGE
            elif result.failed:
                payment.status = Payment.Status.FAILED
                payment.failure_code, payment.decline_code = result.failure_code, result.decline_code
                payment.failure_message = (result.failure_message or CardDeclined.DEFAULT_MESSAGE)[:500]
        payment.save()
        if payment.status != Payment.Status.PENDING:
            _audit(
                payment,
                payment.status,
                after={"payment_intent": payment.stripe_payment_intent_id, "reason": payment.failure_message},
            )
            if notify:
                _tell_customer_payment_needed(payment)
    return outcome_of(
        payment, client_secret=result.client_secret if result and result.requires_action else ""
    )


def payment_card_setup(*, seat_change: SeatChange) -> str:
    """A new card for paying `seat_change` on the payment page: a SetupIntent of the
    subscription's Stripe customer (created on first need) that saves the card for
    off-session charges; returns its client secret, which Stripe.js confirms with the
    card typed in (`stripe.confirmCardSetup`). Moves no money and changes nothing of
    ours; refused unless the change awaits payment (NothingToPay) on a quote still
    valid (QuoteExpired: paying would mark the change expired)."""
    if seat_change.state != SeatChange.State.AWAITING_PAYMENT:
        raise NothingToPay(
            f"Seat change {seat_change.number} is {seat_change.get_state_display().lower()}: "
            "there is nothing to pay."
        )
    if timezone.now() >= seat_change.expires_at:
        raise QuoteExpired(seat_change)
    customer_id = _stripe_customer(seat_change.subscription)
    setup = stripe_gateway().card_setup_create(
        customer_id=customer_id,
        metadata={
            "seatmgr_subscription": str(seat_change.subscription_id),
            "seat_change": seat_change.number,
        },
        # Each card typed in is a SetupIntent of its own; the key only makes the
        # client's own retries of this one request safe.
        idempotency_key=f"seatmgr-seat-change-{seat_change.pk}-card-setup-{secrets.token_hex(8)}",
    )
    return setup.client_secret


def payment_start_or_retry(
    *,
    seat_change: SeatChange,
    setup_intent: str = "",
    customer_present: bool = True,
    actor=None,
    actor_label: str = "",
    request=None,
) -> PaymentOutcome:
    """Pay for an increase that awaits payment: with the card Stripe.js saved through
    `payment_card_setup` (`setup_intent`, its SetupIntent's id), else with the
    customer's card on file. The customer is present: the charge is on-session.

    Refuses a change that is not awaiting payment (NothingToPay) and an expired quote
    (QuoteExpired; the change is then marked expired). Returns at once, sending
    nothing, when the change is paid already or an attempt is in flight. When the bank
    asks for 3-D Secure, the outcome carries the PaymentIntent's client secret for
    Stripe.js; calling again without a new card hands the same one back. A new card
    after a decline is a new attempt (the previous PaymentIntent is cancelled first).
    Never emails: the customer is on the page.
    """
    claim = _claim_attempt(
        seat_change=seat_change,
        customer_present=customer_present,
        new_card=bool(setup_intent),
        actor=actor,
        actor_label=actor_label,
        request=request,
    )
    if claim.payment is None:
        return PaymentOutcome(Payment.Status.SUCCEEDED, NOTHING_DUE_MESSAGE)
    if claim.resume_action:
        return _resume_action(claim.payment)
    if not claim.attempt:
        return outcome_of(claim.payment)
    return _send_attempt(claim.payment.pk, claim.attempt, setup_intent=setup_intent, notify=False)


def _resume_action(payment: Payment) -> PaymentOutcome:
    result = stripe_gateway().payment_intent_retrieve(payment.stripe_payment_intent_id)
    if not result.requires_action:
        return _record_intent(payment, result, via="page", notify=False)
    return outcome_of(payment, client_secret=result.client_secret)


def payment_card_on_file_queue(*, seat_change: SeatChange) -> Payment | None:
    """Right after an increase is signed: claim the first attempt (so the change page
    shows "paying…") and charge the card on file off-session in a task, on commit.
    Without a card on file (no Stripe customer, or one whose renewals Stripe bills
    but who never paid by card) nothing is done: the change page offers the payment
    page. The customer is emailed if the card is declined or needs their bank's
    confirmation. Returns the claimed payment (None when nothing was claimed)."""
    nothing_to_charge = not money.chargeable(seat_change.amount_due, seat_change.currency)
    if not nothing_to_charge and not _has_card_on_file(seat_change.subscription):
        return None
    claim = _claim_attempt(
        seat_change=seat_change,
        customer_present=False,
        new_card=False,
        actor=None,
        actor_label="system",
        request=None,
    )
    if claim.attempt:
        from ..jobs import send_payment_attempt

        payment_id, attempt = claim.payment.pk, claim.attempt
        outbox.enqueue(
            send_payment_attempt,
            key=f"payment-attempt:{payment_id}:{attempt}",
            kind="urgent",
            payment_id=payment_id,
            attempt=attempt,
        )
    return claim.payment


def _has_card_on_file(subscription: Subscription) -> bool:
    """Whether the customer has a default card to charge. When Stripe can't say right
    now, the attempt is claimed anyway: its task asks again, with retries."""
    if not subscription.stripe_customer_id:
        return False
    try:
        return card_on_file(subscription) is not None
    except PaymentProcessorUnavailable:
        return True


def payment_attempt_send(*, payment_id: int, attempt: int) -> PaymentOutcome:
    """Outbox job body: send a claimed card-on-file attempt (once; see `_send_attempt`).

    Only this job sends such an attempt, and the outbox runs it again only when an
    earlier run did not finish (its database connection dropped, its worker died). A
    run that finds the attempt already taken by such a run, still pending and not
    waiting for a retry, resolves it at once as reconciliation would
    (`payment_attempt_resolve`): the charge asked about with its own key if it was
    sent, sent if it never was; never a second charge."""
    taken = Payment.objects.filter(
        pk=payment_id, attempts=attempt, status=Payment.Status.PENDING, attempt_sent_at__isnull=False
    ).exists()
    if taken:
        from .reconciliation import payment_attempt_resolve

        return payment_attempt_resolve(payment_id=payment_id, attempt=attempt)
    return _send_attempt(payment_id, attempt, notify=True)


def payment_confirm(*, seat_change: SeatChange) -> PaymentOutcome:
    """After Stripe.js reported the bank's confirmation: ask Stripe for the
    PaymentIntent (no waiting for the webhook) and record what it says."""
    payment = Payment.objects.select_related("seat_change").filter(seat_change=seat_change).first()
    if payment is None:
        raise NothingToPay(f"Seat change {seat_change.number} has no payment to confirm.")
    if not payment.is_open or not payment.stripe_payment_intent_id:
        return outcome_of(payment)
    result = stripe_gateway().payment_intent_retrieve(payment.stripe_payment_intent_id)
    return _record_intent(payment, result, via="page", notify=False)


def _record_intent(
    payment: Payment, result: PaymentIntentResult, *, via: str, notify: bool
) -> PaymentOutcome:
    metadata = result.metadata or {"seatmgr_payment": str(payment.pk)}
    if result.succeeded:
        payment_succeeded(
            payment_intent_id=result.id,
            amount=result.amount,
            currency=result.currency,
            metadata=metadata,
            via=via,
        )
    elif result.failed:
        message = result.failure_message or (
            "The payment was cancelled." if result.status == "canceled" else CardDeclined.DEFAULT_MESSAGE
        )
        payment_failed(
            payment_intent_id=result.id,
            message=message,
            failure_code=result.failure_code,
            decline_code=result.decline_code,
            metadata=metadata,
            notify=notify,
        )
    elif result.requires_action:
        payment_requires_action(payment_intent_id=result.id, metadata=metadata, notify=notify)
    payment = Payment.objects.get(pk=payment.pk)
    secret = result.client_secret if payment.status == Payment.Status.REQUIRES_ACTION else ""
    return outcome_of(payment, client_secret=secret)


# --- What Stripe says happened ---------------------------------------------------------


def _payment_for_intent(payment_intent_id: str, metadata: dict | None) -> Payment | None:
    """The payment a PaymentIntent belongs to: by its id, else by the payment id we put
    in its metadata (a webhook can beat the page that created it). Locks the seat
    change's row, then the payment's: the order every writer here takes them in."""
    payments = Payment.objects.filter(stripe_payment_intent_id=payment_intent_id)
    found = payments.values_list("pk", "seat_change_id").first()
    if found is None:
        raw = str((metadata or {}).get("seatmgr_payment", ""))
        if raw.isdigit():
            found = Payment.objects.filter(pk=int(raw)).values_list("pk", "seat_change_id").first()
    if found is None:
        return None
    payment_id, seat_change_id = found
    SeatChange.objects.select_for_update(of=("self",)).filter(pk=seat_change_id).values_list("pk").get()
    return _locked_payment(payment_id)


def _is_current(payment: Payment, payment_intent_id: str, metadata: dict | None) -> bool:
    """Whether a PaymentIntent is the payment's latest attempt, not an older one whose
    news (its decline, or its cancellation by a retry) arrives late. Ours carry their
    attempt number in their metadata."""
    attempt = (metadata or {}).get("attempt")
    if attempt is not None:
        return str(attempt) == str(payment.attempts)
    return payment.stripe_payment_intent_id in ("", payment_intent_id)


def payment_succeeded(
    *, payment_intent_id: str, amount: int, currency: str, metadata: dict | None = None, via: str
) -> Payment | None:
    """A PaymentIntent succeeded, charging `amount` minor units of `currency`. In one
    transaction: the Payment `succeeded` (receipt number, paid_at) and the seat change
    applied; the receipt is emailed on commit. Idempotent. A charge for a change that is
    already paid (another PaymentIntent), expired or cancelled is refunded in full
    instead, and so is one whose amount or currency is not the Payment's (see
    `_amount_mismatch`). Returns the payment, or None for a PaymentIntent that is none
    of ours."""
    # No savepoint of its own (two round trips on every payment): its callers run it
    # outside any transaction, or inside one they roll back whole on its error (a
    # webhook's processing). Nobody catches its error and goes on in the same transaction.
    with transaction.atomic(savepoint=False):
        payment = _payment_for_intent(payment_intent_id, metadata)
        if payment is None:
            # Stripe's own charges (renewal invoices) are not seat change payments.
            logger.info("PaymentIntent %s succeeded but is not a seat change payment", payment_intent_id)
            return None
        if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED):
            if payment.stripe_payment_intent_id != payment_intent_id:
                _refund_stray_charge(
                    payment,
                    payment_intent_id,
                    reason=StrayCharge.Reason.DUPLICATE,
                    amount=amount,
                    currency=currency,
                )
            return payment
        if (amount, currency.lower()) != (payment.amount, payment.currency.lower()):
            _amount_mismatch(payment, payment_intent_id, amount=amount, currency=currency, metadata=metadata)
            return payment
        # Locked by `_payment_for_intent` before the payment was read with it: current.
        change = payment.seat_change
        now = timezone.now()
        payment.stripe_payment_intent_id = payment_intent_id
        payment.paid_at = now
        payment.failure_code = ""
        payment.failure_message = ""
        payment.receipt_number = f"R-{now:%Y}-{payment.pk:06d}"
        if change.state != SeatChange.State.AWAITING_PAYMENT:
            payment.status = Payment.Status.REFUNDED
            payment.refund_reason = (
                f"seat change {change.number} was {change.get_state_display().lower()} "
                "when the payment arrived, so it could not be applied."
            )
            payment.save()
            _audit(payment, "refund_due", after={"payment_intent": payment_intent_id, "via": via})
            _refund_task(payment.pk)
            return payment
        payment.status = Payment.Status.SUCCEEDED
        payment.save()
        _audit(
            payment,
            "succeeded",
            after={"payment_intent": payment_intent_id, "amount": payment.amount, "via": via},
        )
        seat_changes.seat_change_apply(seat_change=change, via="payment", actor_label=f"payment ({via})")
        _receipt_task(payment.pk)
        _card_default_task(payment.pk)
    return payment


def payment_card_make_default(*, payment_id: int) -> str:
    """The card that paid `payment` becomes its customer's card on file (Stripe's
    `invoice_settings.default_payment_method`): the card of the PaymentIntent that
    succeeded, as Stripe says, so a card that was declined never becomes the default,
    and the last card that paid always does. Safe to run twice; returns the
    PaymentMethod's id ("" when the payment did not succeed)."""
    payment = Payment.objects.select_related("seat_change", "subscription__organization").get(pk=payment_id)
    customer_id = payment.stripe_customer_id or payment.subscription.stripe_customer_id
    if payment.status != Payment.Status.SUCCEEDED or not customer_id:
        return ""
    gateway = stripe_gateway()
    payment_method_id = gateway.payment_intent_retrieve(payment.stripe_payment_intent_id).payment_method_id
    if not payment_method_id:
        return ""
    gateway.customer_default_card_set(
        customer_id=customer_id,
        payment_method_id=payment_method_id,
        idempotency_key=f"seatmgr-payment-{payment.pk}-default-card-{payment_method_id}",
    )
    _audit(payment, "card_on_file", after={"payment_method": payment_method_id, "customer": customer_id})
    return payment_method_id


def _receipt_task(payment_id: int) -> None:
    from ..notifications import receipt

    outbox.enqueue(receipt, key=f"receipt:{payment_id}", kind="email", payment_id=payment_id)


def _card_default_task(payment_id: int) -> None:
    from ..jobs import make_card_default

    outbox.enqueue(make_card_default, key=f"card-default:{payment_id}", kind="batch", payment_id=payment_id)


def _refund_task(payment_id: int) -> None:
    from ..jobs import refund_payment

    outbox.enqueue(refund_payment, key=f"refund:{payment_id}", kind="urgent", payment_id=payment_id)


def _amount_mismatch(
    payment: Payment, payment_intent_id: str, *, amount: int, currency: str, metadata: dict | None
) -> None:
    """A PaymentIntent of this payment succeeded with another amount or currency than
    the Payment's (changed in Stripe's dashboard, or a bug of ours): it is not the
    payment. It is refunded in full, audited and the account manager alerted; when it
    was the latest attempt, that attempt fails (the customer may pay again). Seen twice
    (the page, then the webhook), it is handled once."""
    if payment.failure_code == AMOUNT_MISMATCH and payment.stripe_payment_intent_id == payment_intent_id:
        return
    charged = money.format_money(amount, currency) if len(currency) == 3 else f"{amount} {currency}"
    expected = money.format_money(payment.amount, payment.currency)
    detail = f"PaymentIntent {payment_intent_id} charged {charged}, the payment is {expected}; refunded"
    logger.error("Payment %s: %s", payment.pk, detail)
    _refund_stray_charge(
        payment,
        payment_intent_id,
        reason=StrayCharge.Reason.AMOUNT_MISMATCH,
        amount=amount,
        currency=currency,
        after={"amount": amount, "currency": currency, "expected": payment.amount},
    )
    if payment.is_open and _is_current(payment, payment_intent_id, metadata):
        _fail_definitively(
            payment,
            code=AMOUNT_MISMATCH,
            message=MISMATCH_MESSAGE,
            detail=detail,
            notify=True,
            payment_intent_id=payment_intent_id,
        )
    else:
        _alert_account_manager(payment, reason=f"{AMOUNT_MISMATCH}: {detail}")


def _refund_stray_charge(
    payment: Payment, payment_intent_id: str, *, reason: str, amount: int, currency: str, after=None
) -> None:
    """Refund, in full and after commit, a charge that is not this payment's (a second
    one for a paid change, or one of the wrong amount); the payment itself stays as it
    is. The charge is recorded (a StrayCharge, once per PaymentIntent) in the caller's
    transaction, beside the outbox row that refunds it; reconciliation also issues
    refunds still due."""
    from ..jobs import refund_duplicate_charge

    _stray, created = StrayCharge.objects.get_or_create(
        stripe_payment_intent_id=payment_intent_id,
        defaults={"payment": payment, "reason": reason, "amount": amount, "currency": currency.lower()[:3]},
    )
    if not created:
        return
    _audit(payment, reason, after={"payment_intent": payment_intent_id, **(after or {})})
    outbox.enqueue(
        refund_duplicate_charge,
        key=f"refund-charge:{payment.pk}:{payment_intent_id}",
        kind="urgent",
        payment_id=payment.pk,
        payment_intent_id=payment_intent_id,
    )


def payment_failed(
    *,
    payment_intent_id: str,
    message: str,
    failure_code: str = "",
    decline_code: str = "",
    metadata: dict | None = None,
    notify: bool = True,
) -> Payment | None:
    """The latest attempt failed: the Payment `failed` with `message` (and Stripe's
    error and decline codes, when it gave them); the change stays awaiting payment.
    Changes nothing for a payment that succeeded or for an older attempt's
    PaymentIntent."""
    with transaction.atomic():
        payment = _payment_for_intent(payment_intent_id, metadata)
        if payment is None or not payment.is_open or not _is_current(payment, payment_intent_id, metadata):
            return payment
        payment.stripe_payment_intent_id = payment_intent_id
        payment.status = Payment.Status.FAILED
        payment.failure_code, payment.decline_code = failure_code[:60], decline_code[:60]
        payment.failure_message = (message or CardDeclined.DEFAULT_MESSAGE)[:500]
        payment.save()
        _audit(
            payment, "failed", after={"payment_intent": payment_intent_id, "reason": payment.failure_message}
        )
        if notify:
            _tell_customer_payment_needed(payment)
    return payment


def payment_requires_action(
    *, payment_intent_id: str, metadata: dict | None = None, notify: bool = True
) -> Payment | None:
    """The bank asks the customer to confirm the latest attempt (3-D Secure)."""
    with transaction.atomic():
        payment = _payment_for_intent(payment_intent_id, metadata)
        if (
            payment is None
            or payment.status != Payment.Status.PENDING
            or not _is_current(payment, payment_intent_id, metadata)
        ):
            return payment
        payment.stripe_payment_intent_id = payment_intent_id
        payment.status = Payment.Status.REQUIRES_ACTION
        payment.failure_code = AuthenticationRequired.code
        payment.failure_message = AuthenticationRequired.DEFAULT_MESSAGE
        payment.save()
        _audit(payment, "requires_action", after={"payment_intent": payment_intent_id})
        if notify:
            _tell_customer_payment_needed(payment)
    return payment


# --- Attempts Stripe could not answer ---------------------------------------------------


def _retry_delay(failures: int) -> timedelta:
    """10 min after the first failure, then twice as long each time, at most 2 h."""
    return min(RECONCILE_AFTER * 2**failures, MAX_RETRY_DELAY)


def _processor_failed(payment_id: int, *, attempt: int | None = None) -> None:
    """Stripe could not answer about a payment (its latest attempt, or its refund):
    count it and postpone the next try; at MAX_PROCESSOR_FAILURES, an open payment fails
    definitively (the account manager is alerted, the customer emailed), and a refund
    is left to the account manager. A late success still arrives by webhook or by the
    customer's next attempt, and is applied (or refunded) then."""
    with transaction.atomic(durable=True):
        payment = _locked_payment(payment_id)
        if attempt is not None and payment.attempts != attempt:
            return
        if not payment.is_open and not (
            payment.status == Payment.Status.REFUNDED and not payment.stripe_refund_id
        ):
            return
        payment.processor_failures += 1
        if payment.processor_failures < MAX_PROCESSOR_FAILURES:
            payment.retry_at = timezone.now() + _retry_delay(payment.processor_failures)
            payment.save(update_fields=["processor_failures", "retry_at", "updated_at"])
            return
        detail = f"Stripe did not answer {payment.processor_failures} times"
        if payment.is_open:
            _fail_definitively(
                payment, code=PROCESSOR_GAVE_UP, message=GAVE_UP_MESSAGE, detail=detail, notify=True
            )
            return
        payment.retry_at = None
        payment.save(update_fields=["processor_failures", "retry_at", "updated_at"])
        _audit(payment, "refund_abandoned", after={"detail": detail})
        _alert_account_manager(payment, reason=f"refund not issued: {detail}")
