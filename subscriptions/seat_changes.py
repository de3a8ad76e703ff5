"""The seat change state machine (DESIGN §3). Every transition locks the change's
row, checks the current state, writes an audit event and queues its email on commit.

    draft ─sign─▶ signed ─(increase)─▶ awaiting_payment ─paid─▶ applying ─pushed─▶ applied
                        └(decrease)─▶ awaiting_approval ─approve─▶ applying
                                             │  └─approve (period-end plan)─▶ scheduled ─period end─▶ applying
                                             └─reject─▶ rejected
    draft/awaiting_*/scheduled ─▶ cancelled;  draft/awaiting_payment ─▶ expired

Amounts are computed by `billing.proration` (which this app does not import): the
caller passes the quote in, and it is stored once and never recomputed.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

import outbox
from audit.services import audit_record

from . import numbers, signals, words
from .errors import Conflict, InvalidInput
from .models import Plan, SeatChange, SeatSync, Subscription

QUOTE_VALIDITY = timedelta(days=7)

# How many licences of a decrease's subscription stay assigned once the ones the change
# names are freed. `licensing` knows; the caller passes it in, and it is called under
# the subscription's row lock, so no licence can be assigned between the count and the
# decrease.
LicencesKept = Callable[[SeatChange], int]


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


class SeatChangeAlreadyDecided(InvalidTransition):
    """The change is no longer waiting for a decision: says who decided what, and when
    (what the second of two account managers acting at once is told)."""

    code = "seat_change_decided"

    def __init__(self, seat_change: SeatChange):
        self.seat_change = seat_change
        super().__init__(
            _decision_summary(seat_change), seat_change=seat_change.number, state=seat_change.state
        )


def _decision_summary(seat_change: SeatChange) -> str:
    State = SeatChange.State
    number = seat_change.number
    by = seat_change.decided_by
    when = f"{seat_change.decided_at:%d %B %Y %H:%M} UTC" if seat_change.decided_at else ""
    who = f" by {by.get_full_name()} on {when}" if by else ""
    if seat_change.state == State.REJECTED and by:
        return f"Seat change {number} was already rejected{who}: “{seat_change.state_reason}”."
    if seat_change.state == State.SCHEDULED:
        return (
            f"Seat change {number} was already approved{who}: it takes effect on "
            f"{seat_change.effective_at:%d %B %Y %H:%M} UTC."
        )
    if seat_change.state in (State.APPLYING, State.APPLIED) and by:
        outcome = "it is being applied" if seat_change.state == State.APPLYING else "it has been applied"
        return f"Seat change {number} was already approved{who}: {outcome}."
    return (
        f"Seat change {number} is {seat_change.get_state_display().lower()}: "
        "there is nothing left to approve or reject."
    )


class DecreaseNoLongerFits(Conflict):
    """More licences are in use now than the decrease leaves room for."""

    code = "licences_in_use"

    def __init__(self, seat_change: SeatChange, *, kept: int):
        must_free = kept - seat_change.new_quantity
        super().__init__(
            f"{kept} licences would still be in use after this decrease to {seat_change.new_quantity} "
            f"(the customer named {len(seat_change.licences_to_free)} to free): the customer must "
            f"free {must_free} more first, or the decrease must be rejected.",
            must_free=must_free,
        )


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
        who = "the user who loses theirs" if must_free == 1 else f"the {must_free} users who lose theirs"
        super().__init__(
            f"{words.licences(in_use)} {'is' if in_use == 1 else 'are'} in use, so the new total "
            f"cannot be {new_quantity}: free {words.licences(must_free)} first, or choose "
            f"{who} below.",
            field="new_total",
            must_free=must_free,
        )


class SubscriptionEnding(InvalidInput):
    """An increase of a subscription cancelled at its period end: it would sell seats
    for a subscription that is ending. Keeping the subscription first lifts it."""

    code = "subscription_ending"

    def __init__(self, subscription: Subscription):
        super().__init__(
            f"Your subscription ends on {subscription.current_period_end:%-d %B %Y}: users can't "
            "be added to a subscription that is ending. Choose “Keep my subscription” first, "
            "then add users.",
            field="new_total",
        )


def validate_new_total(*, subscription: Subscription, raw) -> int:
    """Parse the new total a person typed. Refuses with a message naming the rule."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise InvalidInput("Enter the new total number of users.", field="new_total")
    if not numbers.is_digits(text):
        raise InvalidInput("Enter the new total as a whole number of users, like 4.", field="new_total")
    plan = subscription.plan
    # Bounded before parsing: a number too long to be a seat count is simply too many.
    quantity = numbers.whole_number(text, maximum=numbers.INTEGER_MAX)
    if quantity is None:
        quantity = plan.max_seats + 1
    if quantity < plan.min_seats:
        raise InvalidInput(
            f"The {plan.name} plan needs at least {words.users(plan.min_seats)}.",
            field="new_total",
        )
    if quantity > plan.max_seats:
        raise InvalidInput(
            f"The {plan.name} plan allows at most {words.users(plan.max_seats)}. "
            "Contact your account manager for more.",
            field="new_total",
        )
    if quantity == subscription.quantity:
        raise InvalidInput(
            f"You already have {words.users(quantity)}: enter a different total to change it.",
            field="new_total",
        )
    if quantity > subscription.quantity and subscription.cancel_at_period_end:
        raise SubscriptionEnding(subscription)
    return quantity


def clean_signer(*, name: str, email: str, required: bool) -> tuple[str, str]:
    """The person named to sign instead of the admin, as (name, email), or ("", "")
    when nobody is named. Someone named needs both a name and a valid email address:
    when `required` (the customer ticked "Someone else signs"), or when either is given,
    a missing or bad one is refused with a message naming the field."""
    name, email = " ".join(str(name or "").split()), str(email or "").strip().lower()
    if not (required or name or email):
        return "", ""
    if not name:
        raise InvalidInput(
            "Enter the full name of the person who will sign, or untick “Someone else signs”.",
            field="signer_name",
        )
    if len(name) > 200:
        raise InvalidInput("Enter the signer's name in at most 200 characters.", field="signer_name")
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(
            "Enter a valid email address for the person who will sign, like name@example.com.",
            field="signer_email",
        ) from None
    return name, email


def open_seat_change(*, subscription: Subscription) -> SeatChange | None:
    return subscription.seat_changes.filter(state__in=SeatChange.OPEN_STATES).first()


def licence_ceiling(subscription: Subscription, open_change: SeatChange | None) -> int:
    """How many licences the subscription may hold: its seats, or fewer while an
    approved decrease (`open_change`) waits for the period end, so that it fits then."""
    if open_change is not None and open_change.state == SeatChange.State.SCHEDULED:
        return min(subscription.quantity, open_change.new_quantity)
    return subscription.quantity


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
    signer_required: bool = False,
    request=None,
) -> SeatChange:
    """Open a seat change in `draft` with its quote fixed.

    Guarantees: at most one open change per subscription (a database constraint;
    a second attempt raises SeatChangeAlreadyOpen naming the open one); a decrease
    never goes below the licences in use unless `licences_to_free` names enough of
    them (they are freed only when the decrease takes effect); a signer named instead
    of the admin has a name and a valid address (`clean_signer`; `signer_required`
    when the customer asked for someone else to sign).
    """
    signer_name, signer_email = clean_signer(name=signer_name, email=signer_email, required=signer_required)
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
                    signer_name=signer_name,
                    signer_email=signer_email,
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


_S = SeatChange.State
# Every move a seat change can make (the diagram above), checked by `_move`, the one
# place that changes a state: a move not listed raises InvalidTransition and changes
# nothing. Applied, rejected, cancelled and expired are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    _S.DRAFT: frozenset({_S.SIGNED, _S.CANCELLED, _S.EXPIRED}),
    _S.SIGNED: frozenset({_S.AWAITING_PAYMENT, _S.AWAITING_APPROVAL}),
    _S.AWAITING_PAYMENT: frozenset({_S.APPLYING, _S.CANCELLED, _S.EXPIRED}),
    _S.AWAITING_APPROVAL: frozenset({_S.APPLYING, _S.SCHEDULED, _S.REJECTED, _S.CANCELLED}),
    _S.SCHEDULED: frozenset({_S.APPLYING, _S.CANCELLED}),
    _S.APPLYING: frozenset({_S.APPLIED}),
    _S.APPLIED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.EXPIRED: frozenset(),
}


def _move(seat_change: SeatChange, to: str, *, actor=None, actor_label="", request=None, reason=""):
    """Move a locked seat change to `to`, if TRANSITIONS allows it from where it is."""
    before = seat_change.state
    if to not in TRANSITIONS[before]:
        raise InvalidTransition(
            f"Seat change {seat_change.number} is {seat_change.get_state_display().lower()}: "
            f"it cannot become {SeatChange.State(to).label.lower()}.",
            seat_change=seat_change.number,
            state=before,
        )
    seat_change.state = to
    seat_change.state_reason = reason[:500]
    seat_change.save(update_fields=["state", "state_reason", "signed_at", "updated_at"])
    if SeatChange.State.SCHEDULED in (before, to) and to != SeatChange.State.APPLYING:
        # The next period's seats changed while the quantity did not (applying sends
        # its own SeatSync): whoever bills the renewal must hear of it before it.
        outbox.send_signal(
            "subscriptions.signals.renewal_seats_changed",
            sender="subscriptions.Subscription",
            key=f"renewal-seats-changed:{seat_change.pk}:{to}",
            kind="batch",
            subscription_id=seat_change.subscription_id,
        )
    audit_record(
        action=f"seat_change.{to}",
        organization_id=seat_change.organization_id,
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
    expirable = seat_change.is_open and seat_change.state not in (
        SeatChange.State.AWAITING_APPROVAL,
        SeatChange.State.SCHEDULED,
    )
    if expirable and now >= seat_change.expires_at:
        _move(seat_change, SeatChange.State.EXPIRED, actor_label="system")
        signals.seat_change_closed.send(SeatChange, seat_change=seat_change)
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
    marked expired). The email with the signed agreement says what happens next;
    `seat_change_signed` is sent on commit (the account manager is told).
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
    outbox.send_signal(
        "subscriptions.signals.seat_change_signed",
        sender="subscriptions.SeatChange",
        key=f"seat-change-signed:{seat_change.pk}",
        kind="email",
        seat_change_id=seat_change.pk,
    )
    return seat_change


def seat_change_cancel(*, seat_change: SeatChange, actor=None, actor_label="", request=None) -> SeatChange:
    """Withdraw an open change (draft, awaiting payment or approval, or an approved
    decrease still waiting for its period end). Idempotent for an already cancelled
    change; refuses one that is being applied or is done."""
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
        signals.seat_change_closed.send(SeatChange, seat_change=seat_change)
    return seat_change


def seat_changes_expire(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Periodic: expire open changes whose quote ran out (not those awaiting an
    account manager's decision). Bounded per run; safe to run concurrently."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic(durable=True):
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
    """awaiting_payment (paid), awaiting_approval (approved) or scheduled (its period
    end has come) → applying.

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
        "schedule": SeatChange.State.SCHEDULED,
    }[via]
    with transaction.atomic():
        # Its own row only: the subscription's is locked next, with what the audit events
        # and the receivers below read (organization, plan, product), and set on it.
        seat_change = SeatChange.objects.select_for_update().get(pk=seat_change.pk)
        if seat_change.state in (SeatChange.State.APPLYING, SeatChange.State.APPLIED):
            return seat_change
        if seat_change.state != expected:
            raise InvalidTransition(
                f"Seat change {seat_change.number} is {seat_change.get_state_display().lower()}: "
                f"it cannot be applied after {via}."
            )
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("organization", "plan__product")
            .get(pk=seat_change.subscription_id)
        )
        seat_change.subscription = subscription
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
            organization=subscription.organization,
            actor=actor,
            actor_label=actor_label,
            obj=subscription,
            before={"quantity": before},
            after={"quantity": subscription.quantity, "version": subscription.seats_version, "via": via},
            request=request,
        )
        signals.seat_change_applying.send(SeatChange, seat_change=seat_change)
        transaction.on_commit(
            lambda: signals.seat_sync_created.send(
                SeatSync, seat_sync_id=seat_sync.pk, subscription_id=seat_sync.subscription_id
            ),
            robust=True,
        )
    return seat_change


def seat_change_mark_applied(*, seat_change_id: int) -> bool:
    """applying → applied, once the connected org has its count or a newer one.
    Returns True when this call made the move (so its email is sent once)."""
    with transaction.atomic():
        seat_change = _locked(SeatChange(pk=seat_change_id))
        if seat_change.state != SeatChange.State.APPLYING:
            return False
        _move(seat_change, SeatChange.State.APPLIED, actor_label="system")
    return True


def seat_changes_mark_live(*, subscription_id: int, version: int) -> list[int]:
    """The connected org acknowledged the subscription's count at `version`: every change
    of it still applying whose own count is that one or older (`SeatSync.version` at most
    `version`) becomes applied — an older change too, whose count was never sent because
    a newer one overtook it. Never a change whose count is newer than what the org has.

    Row locks in id order, state re-checked; meant to run in the transaction that records
    the delivery, so the push and the move commit together. Returns the ids moved, in id
    order: the caller tells each admin once."""
    moved = []
    with transaction.atomic(savepoint=False):  # all or nothing with the delivery it records
        sql = _LIVE_CANDIDATES_SQL + (" FOR UPDATE" if connection.features.has_select_for_update else "")
        candidates = SeatChange.objects.raw(
            sql, [subscription_id, SeatChange.State.APPLYING, subscription_id, version]
        )
        for seat_change in candidates:
            _move(seat_change, SeatChange.State.APPLIED, actor_label="system")
            moved.append(seat_change.pk)
    return moved


# In SQL: it runs in every push that lands, and the ORM took longer to build it (a
# subquery, row locks) than PostgreSQL to run it (BENCHMARKS.md, "Bursts of paid changes").
_LIVE_CANDIDATES_SQL = """
SELECT c.* FROM subscriptions_seatchange c
WHERE c.subscription_id = %s AND c.state = %s
  AND EXISTS (SELECT 1 FROM subscriptions_seatsync s
              WHERE s.seat_change_id = c.id AND s.subscription_id = %s AND s.version <= %s)
ORDER BY c.id
"""


# --- The account manager's decision on a decrease --------------------------------------

MAX_REASON_LENGTH = 500


def _require_awaiting_approval(seat_change: SeatChange) -> None:
    if seat_change.state != SeatChange.State.AWAITING_APPROVAL:
        raise SeatChangeAlreadyDecided(seat_change)


def _require_fits(seat_change: SeatChange, licences_kept: LicencesKept) -> None:
    kept = licences_kept(seat_change)
    if kept > seat_change.new_quantity:
        raise DecreaseNoLongerFits(seat_change, kept=kept)


def seat_change_approve(
    *,
    seat_change: SeatChange,
    actor,
    licences_kept: LicencesKept,
    now: datetime | None = None,
    request=None,
) -> SeatChange:
    """awaiting_approval → applying (plan decreases immediately) or → scheduled (plan
    decreases at period end: `effective_at` = the subscription's current period end).

    Guarantees, in one transaction under the change's row lock, then the
    subscription's:
    - only a change still awaiting approval is approved; otherwise
      SeatChangeAlreadyDecided says who decided what and when (of two account
      managers acting at once, the second waits for the first's lock and gets this);
    - refuses (DecreaseNoLongerFits) when the licences still in use after freeing the
      ones the customer named exceed the new total, counted under the subscription's
      lock so no licence is assigned in between; refuses a cancelled subscription;
    - records the decision (`decided_by`, `decided_at`) and a `seat_change.approved`
      audit event with the account manager;
    - immediately: `seat_change_apply` in the same transaction (quantity, outbox row,
      the named licences freed).
    Sends no email: the caller queues the customer's on commit.
    """
    now = now or timezone.now()
    with transaction.atomic():
        seat_change = _locked(seat_change)
        _require_awaiting_approval(seat_change)
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan")
            .get(pk=seat_change.subscription_id)
        )
        if not subscription.is_live:
            raise Conflict(
                f"The subscription is {subscription.get_status_display().lower()}: "
                "reject the decrease instead."
            )
        _require_fits(seat_change, licences_kept)
        at_period_end = (
            subscription.plan.decrease_policy == Plan.DecreasePolicy.PERIOD_END
            and now < subscription.current_period_end
        )
        seat_change.decided_by = actor
        seat_change.decided_at = now
        seat_change.effective_at = subscription.current_period_end if at_period_end else now
        seat_change.save(update_fields=["decided_by", "decided_at", "effective_at", "updated_at"])
        audit_record(
            action="seat_change.approved",
            organization=seat_change.subscription.organization,
            actor=actor,
            obj=seat_change,
            after={
                "new_quantity": seat_change.new_quantity,
                "effective_at": seat_change.effective_at.isoformat(),
                "at_period_end": at_period_end,
            },
            request=request,
        )
        if at_period_end:
            _move(seat_change, SeatChange.State.SCHEDULED, actor=actor, request=request)
            return seat_change
        return seat_change_apply(
            seat_change=seat_change, via="approval", actor=actor, actor_label="", request=request
        )


def clean_reason(raw) -> str:
    """The reason an account manager gives for a rejection, on one line. Required."""
    reason = " ".join(str(raw or "").split())
    if not reason:
        raise InvalidInput("Give the customer a reason for rejecting the decrease.", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(
            f"Keep the reason to at most {MAX_REASON_LENGTH} characters ({len(reason)} now).",
            field="reason",
        )
    return reason


def seat_change_reject(
    *, seat_change: SeatChange, actor, reason: str, now: datetime | None = None, request=None
) -> SeatChange:
    """awaiting_approval → rejected, with the reason the customer will read (required).

    Bad input raises InvalidInput before anything is locked. Under the change's row
    lock, only a change still awaiting approval is rejected, else
    SeatChangeAlreadyDecided (see `seat_change_approve`). Records the decision and a
    `seat_change.rejected` audit event with the reason. Sends no email.
    """
    reason = clean_reason(reason)
    now = now or timezone.now()
    with transaction.atomic():
        seat_change = _locked(seat_change)
        _require_awaiting_approval(seat_change)
        seat_change.decided_by = actor
        seat_change.decided_at = now
        seat_change.save(update_fields=["decided_by", "decided_at", "updated_at"])
        _move(seat_change, SeatChange.State.REJECTED, actor=actor, request=request, reason=reason)
    return seat_change


@dataclass
class ScheduledRun:
    """What one run of `seat_changes_apply_scheduled` did: the ids it applied, and the
    ids it found blocked for the first time, with the reason."""

    applied: list[int] = field(default_factory=list)
    newly_blocked: list[tuple[int, str]] = field(default_factory=list)


def seat_changes_apply_scheduled(
    *,
    licences_kept: LicencesKept,
    now: datetime | None = None,
    batch_size: int = 100,
    time_budget: float | None = None,
) -> ScheduledRun:
    """Periodic: apply the approved decreases whose period end has come.

    Exactly once: each change is taken in its own transaction under its row lock
    (SKIP LOCKED, so concurrent runs share the work instead of waiting) and applied only
    while still `scheduled` and due; applying moves it to `applying`, which no run
    selects again. A change whose licences no longer fit (see `seat_change_approve`)
    stays scheduled and is retried on every run; the first refusal is written into its
    `state_reason` with a `seat_change.apply_blocked` audit event and reported in
    `newly_blocked`, so the account manager is told once.

    Bounded: one batch of `batch_size`, or, with a `time_budget` (seconds), batch after
    batch until none is left or the budget is spent. Batches are keyset-paged on
    (effective_at, id), so blocked changes are passed over instead of filling every
    batch, and memory holds one batch. A run killed midway leaves the rest scheduled
    for the next one.
    """
    now = now or timezone.now()
    deadline = None if time_budget is None else time.monotonic() + time_budget
    run = ScheduledRun()
    due = SeatChange.objects.filter(state=SeatChange.State.SCHEDULED, effective_at__lte=now).order_by(
        "effective_at", "pk"
    )
    after: tuple[datetime, int] | None = None
    while True:
        page = (
            due
            if after is None
            else due.filter(Q(effective_at__gt=after[0]) | Q(effective_at=after[0], pk__gt=after[1]))
        )
        batch = list(page.values_list("effective_at", "pk")[:batch_size])
        for _, pk in batch:
            _apply_scheduled_one(pk, now=now, licences_kept=licences_kept, run=run)
        if len(batch) < batch_size or deadline is None or time.monotonic() >= deadline:
            return run
        after = batch[-1]


def _apply_scheduled_one(pk: int, *, now: datetime, licences_kept: LicencesKept, run: ScheduledRun) -> None:
    """One due change, in its own transaction (see `seat_changes_apply_scheduled`)."""
    with transaction.atomic():
        seat_change = (
            SeatChange.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription__organization")
            .filter(pk=pk, state=SeatChange.State.SCHEDULED, effective_at__lte=now)
            .first()
        )
        if seat_change is None:
            return  # applied or withdrawn meanwhile, or another run holds it
        Subscription.objects.select_for_update(of=("self",)).get(pk=seat_change.subscription_id)
        try:
            _require_fits(seat_change, licences_kept)
        except DecreaseNoLongerFits as blocked:
            if not seat_change.state_reason:
                seat_change.state_reason = blocked.message[:MAX_REASON_LENGTH]
                seat_change.save(update_fields=["state_reason", "updated_at"])
                audit_record(
                    action="seat_change.apply_blocked",
                    organization=seat_change.subscription.organization,
                    actor_label="system (period end)",
                    obj=seat_change,
                    after={"reason": blocked.message},
                )
                run.newly_blocked.append((pk, blocked.message))
            return
        seat_change_apply(seat_change=seat_change, via="schedule", actor_label="system (period end)")
        run.applied.append(pk)
