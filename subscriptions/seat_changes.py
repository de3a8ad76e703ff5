"""The seat change state machine (DESIGN §3). Every transition locks the change's
row, checks the current state, writes an audit event and queues its email on commit.

    draft ─sign─▶ signed ─(increase)─▶ awaiting_payment ─paid─▶ applying ─pushed─▶ applied
                        └(decrease)─▶ awaiting_approval ─approve─▶ applying
                                             └─reject─▶ rejected
    draft/awaiting_* ─▶ cancelled | expired

Amounts are computed by `billing.proration` (which this app does not import): the
caller passes the quote in, and it is stored once and never recomputed.
"""

import uuid
from datetime import datetime, timedelta
from typing import Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record

from . import signals
from .errors import Conflict, InvalidInput
from .models import SeatChange, SeatSync, Subscription

QUOTE_VALIDITY = timedelta(days=7)


class QuoteLike(Protocol):
    credit: int
    debit: int
    amount_due: int
    at: datetime


class SeatChangeAlreadyOpen(Conflict):
    code = "seat_change_open"

    def __init__(self, open_change: SeatChange):
        self.open_change = open_change
        super().__init__(
            f"This subscription already has a seat change in progress ({open_change.number}: "
            f"{open_change.old_quantity} → {open_change.new_quantity}, "
            f"{open_change.get_state_display().lower()}). Finish or cancel it first.",
            seat_change=open_change.number,
        )


class InvalidTransition(Conflict):
    code = "invalid_transition"


class QuoteExpired(Conflict):
    code = "quote_expired"

    def __init__(self, seat_change: SeatChange):
        super().__init__(
            f"The quote for seat change {seat_change.number} expired on "
            f"{seat_change.expires_at:%d %B %Y %H:%M} UTC. Start a new change to get a new quote."
        )


class DecreaseBelowLicencesInUse(InvalidInput):
    code = "licences_in_use"

    def __init__(self, *, new_quantity: int, in_use: int):
        must_free = in_use - new_quantity
        super().__init__(
            f"{in_use} licences are in use, so the new total cannot be {new_quantity}: "
            f"free {must_free} licence{'s' if must_free != 1 else ''} first, or choose "
            "who loses theirs below.",
            field="new_total",
            must_free=must_free,
        )


def validate_new_total(*, subscription: Subscription, raw) -> int:
    """Parse the new total a person typed. Refuses with a message naming the rule."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise InvalidInput("Enter the new total number of users.", field="new_total")
    if not text.isdigit():
        raise InvalidInput("Enter the new total as a whole number of users, like 4.", field="new_total")
    quantity = int(text)
    plan = subscription.plan
    if quantity < plan.min_seats:
        raise InvalidInput(
            f"The {plan.name} plan needs at least {plan.min_seats} user{'s' if plan.min_seats != 1 else ''}.",
            field="new_total",
        )
    if quantity > plan.max_seats:
        raise InvalidInput(
            f"The {plan.name} plan allows at most {plan.max_seats} users. "
            "Contact your account manager for more.",
            field="new_total",
        )
    if quantity == subscription.quantity:
        raise InvalidInput(
            f"You already have {quantity} users: enter a different total to change it.",
            field="new_total",
        )
    return quantity


def open_seat_change(*, subscription: Subscription) -> SeatChange | None:
    return subscription.seat_changes.filter(state__in=SeatChange.OPEN_STATES).first()


def quote_expiry(*, quoted_at: datetime, period_end: datetime) -> datetime:
    return min(quoted_at + QUOTE_VALIDITY, period_end)


def seat_change_create(
    *,
    subscription: Subscription,
    new_quantity: int,
    quote: QuoteLike,
    renewal_amount: int,
    licences_in_use: int,
    licences_to_free: list[int] | tuple[int, ...] = (),
    requested_by=None,
    requested_via: str = "link",
    signer_name: str = "",
    signer_email: str = "",
    request=None,
) -> SeatChange:
    """Open a seat change in `draft` with its quote fixed.

    Guarantees: at most one open change per subscription (a database constraint;
    a second attempt raises SeatChangeAlreadyOpen naming the open one); a decrease
    never goes below the licences in use unless `licences_to_free` names enough of
    them (they are freed only when the decrease takes effect).
    """
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan__product", "organization")
            .get(pk=subscription.pk)
        )
        if not subscription.is_live:
            raise Conflict(
                f"The {subscription.plan.product.name} subscription is "
                f"{subscription.get_status_display().lower()}: its seats cannot be changed."
            )
        new_quantity = validate_new_total(subscription=subscription, raw=new_quantity)
        existing = open_seat_change(subscription=subscription)
        if existing is not None:
            raise SeatChangeAlreadyOpen(existing)
        licences_to_free = sorted(set(licences_to_free))
        if new_quantity < subscription.quantity:
            if licences_in_use - len(licences_to_free) > new_quantity:
                raise DecreaseBelowLicencesInUse(new_quantity=new_quantity, in_use=licences_in_use)
        elif licences_to_free:
            raise InvalidInput("Licences are only freed by a decrease.", field="licences_to_free")
        quoted_at = quote.at
        try:
            with transaction.atomic():
                seat_change = SeatChange.objects.create(
                    organization_id=subscription.organization_id,
                    subscription=subscription,
                    number=uuid.uuid4().hex[:20],
                    old_quantity=subscription.quantity,
                    new_quantity=new_quantity,
                    unit_amount=subscription.plan.unit_amount,
                    currency=subscription.plan.currency,
                    quoted_at=quoted_at,
                    period_start=subscription.current_period_start,
                    period_end=subscription.current_period_end,
                    credit=quote.credit,
                    debit=quote.debit,
                    amount_due=quote.amount_due,
                    renewal_amount=renewal_amount,
                    expires_at=quote_expiry(quoted_at=quoted_at, period_end=subscription.current_period_end),
                    licences_to_free=licences_to_free,
                    requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
                    requested_via=requested_via,
                    signer_name=signer_name.strip(),
                    signer_email=signer_email.strip().lower(),
                )
        except IntegrityError:
            raise SeatChangeAlreadyOpen(open_seat_change(subscription=subscription)) from None
        seat_change.number = f"SC-{quoted_at:%Y}-{seat_change.pk:06d}"
        seat_change.save(update_fields=["number"])
        audit_record(
            action="seat_change.created",
            organization=subscription.organization,
            actor=requested_by,
            actor_label="" if requested_by else f"unique link ({requested_via})",
            obj=seat_change,
            after=_snapshot(seat_change),
            request=request,
        )
    return seat_change


def _snapshot(seat_change: SeatChange) -> dict:
    return {
        "number": seat_change.number,
        "state": seat_change.state,
        "old_quantity": seat_change.old_quantity,
        "new_quantity": seat_change.new_quantity,
        "amount_due": seat_change.amount_due,
        "currency": seat_change.currency,
    }


def _locked(seat_change: SeatChange) -> SeatChange:
    return (
        SeatChange.objects.select_for_update(of=("self",))
        .select_related("subscription__plan__product", "subscription__organization")
        .get(pk=seat_change.pk)
    )


def _move(seat_change: SeatChange, to: str, *, actor=None, actor_label="", request=None, reason=""):
    before = seat_change.state
    seat_change.state = to
    seat_change.state_reason = reason[:500]
    seat_change.save(update_fields=["state", "state_reason", "signed_at", "updated_at"])
    audit_record(
        action=f"seat_change.{to}",
        organization=seat_change.subscription.organization,
        actor=actor,
        actor_label=actor_label,
        obj=seat_change,
        before={"state": before},
        after={"state": to, **({"reason": reason} if reason else {})},
        request=request,
    )


def expire_if_due(seat_change: SeatChange, *, now: datetime | None = None) -> bool:
    """Mark a locked, open change expired when its quote has run out."""
    now = now or timezone.now()
    expirable = seat_change.is_open and seat_change.state != SeatChange.State.AWAITING_APPROVAL
    if expirable and now >= seat_change.expires_at:
        _move(seat_change, SeatChange.State.EXPIRED, actor_label="system")
        return True
    return False


def seat_change_mark_signed(
    *,
    seat_change: SeatChange,
    signer_name: str,
    signer_email: str,
    at: datetime | None = None,
    actor=None,
    request=None,
) -> SeatChange:
    """draft → signed → awaiting_payment (increase) or awaiting_approval (decrease).

    Call inside the transaction that stores the signed agreement. Refuses a change
    that is not a draft (a second signature) or whose quote has expired (it is then
    marked expired). The email with the signed agreement says what happens next.
    """
    at = at or timezone.now()
    seat_change = _locked(seat_change)
    if seat_change.state != SeatChange.State.DRAFT:
        raise InvalidTransition(
            f"Seat change {seat_change.number} is {seat_change.get_state_display().lower()}: "
            "it can no longer be signed."
        )
    if expire_if_due(seat_change, now=at):
        raise QuoteExpired(seat_change)
    seat_change.signer_name = signer_name
    seat_change.signer_email = signer_email
    seat_change.signed_at = at
    seat_change.save(update_fields=["signer_name", "signer_email", "signed_at", "updated_at"])
    _move(seat_change, SeatChange.State.SIGNED, actor=actor, actor_label=signer_email, request=request)
    next_state = (
        SeatChange.State.AWAITING_PAYMENT if seat_change.is_increase else SeatChange.State.AWAITING_APPROVAL
    )
    _move(seat_change, next_state, actor=actor, actor_label="system", request=request)
    return seat_change


def seat_change_cancel(*, seat_change: SeatChange, actor=None, actor_label="", request=None) -> SeatChange:
    """Withdraw an open change (draft, awaiting payment or approval). Idempotent for
    an already cancelled change; refuses one that is being applied or is done."""
    with transaction.atomic():
        seat_change = _locked(seat_change)
        if seat_change.state == SeatChange.State.CANCELLED:
            return seat_change
        if not seat_change.is_open:
            raise InvalidTransition(
                f"Seat change {seat_change.number} is {seat_change.get_state_display().lower()}: "
                "it can no longer be cancelled."
            )
        _move(
            seat_change,
            SeatChange.State.CANCELLED,
            actor=actor,
            actor_label=actor_label,
            request=request,
        )
    return seat_change


def seat_changes_expire(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Periodic: expire open changes whose quote ran out (not those awaiting an
    account manager's decision). Bounded per run; safe to run concurrently."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        due = (
            SeatChange.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription__organization")
            .filter(
                state__in=[SeatChange.State.DRAFT, SeatChange.State.AWAITING_PAYMENT],
                expires_at__lte=now,
            )
            .order_by("expires_at")[:batch_size]
        )
        for seat_change in due:
            expired += expire_if_due(seat_change, now=now)
    return expired


def seat_change_apply(*, seat_change: SeatChange, via: str, actor=None, actor_label="system", request=None):
    """awaiting_payment (paid) or awaiting_approval (approved) → applying.

    In one transaction, under the seat change's and the subscription's row locks:
    the subscription's quantity becomes the new total, its `seats_version` goes up,
    and a SeatSync outbox row carrying both is written. Running it again for the same
    change does nothing and returns the change (a webhook and a page may both report
    one payment). Sends `seat_change_applying` inside the transaction and
    `seat_sync_created` on commit.
    """
    expected = {
        "payment": SeatChange.State.AWAITING_PAYMENT,
        "approval": SeatChange.State.AWAITING_APPROVAL,
    }[via]
    with transaction.atomic():
        seat_change = _locked(seat_change)
        if seat_change.state in (SeatChange.State.APPLYING, SeatChange.State.APPLIED):
            return seat_change
        if seat_change.state != expected:
            raise InvalidTransition(
                f"Seat change {seat_change.number} is {seat_change.get_state_display().lower()}: "
                f"it cannot be applied after {via}."
            )
        subscription = Subscription.objects.select_for_update(of=("self",)).get(
            pk=seat_change.subscription_id
        )
        before = subscription.quantity
        subscription.quantity = seat_change.new_quantity
        subscription.seats_version += 1
        subscription.save(update_fields=["quantity", "seats_version"])
        seat_sync = SeatSync.objects.create(
            organization_id=subscription.organization_id,
            subscription=subscription,
            seat_change=seat_change,
            quantity=subscription.quantity,
            version=subscription.seats_version,
        )
        _move(seat_change, SeatChange.State.APPLYING, actor=actor, actor_label=actor_label, request=request)
        audit_record(
            action="subscription.quantity_changed",
            organization=seat_change.subscription.organization,
            actor=actor,
            actor_label=actor_label,
            obj=subscription,
            before={"quantity": before},
            after={"quantity": subscription.quantity, "version": subscription.seats_version, "via": via},
            request=request,
        )
        signals.seat_change_applying.send(SeatChange, seat_change=seat_change)
        transaction.on_commit(lambda: signals.seat_sync_created.send(SeatSync, seat_sync_id=seat_sync.pk))
    return seat_change


def seat_change_mark_applied(*, seat_change_id: int) -> bool:
    """applying → applied, once the count it set is live in the connected org.
    Returns True when this call made the move (so its email is sent once)."""
    with transaction.atomic():
        seat_change = _locked(SeatChange(pk=seat_change_id))
        if seat_change.state != SeatChange.State.APPLYING:
            return False
        _move(seat_change, SeatChange.State.APPLIED, actor_label="system")
    return True
