"""Billing periods: how long one lasts, and what happens when one ends.

When a live subscription's period ends, it either renews into the next period with
the same seats, or, when its admin asked to cancel at period end, it ends: its status
becomes cancelled, its open seat changes are withdrawn, the connected org is sent 0
seats (through the same outbox as any count) and the admin is told.
`subscription_periods_roll` (periodic, every minute) does both.

A subscription linked to Stripe is billed by Stripe, whose subscription is anchored to
our period end, so both count the same periods. Its period follows what Stripe says
(`subscription_period_follow`: the renewal invoice paid, `customer.subscription.updated`)
and is also rolled here when its end passes first, so quotes never run on a period
that is over while a webhook is late. Neither rolls it twice: the roll only takes a
period that has ended, and following only moves to a period Stripe reports that is
not older than ours, and changes nothing when it is the one we are in. When Stripe
gives up on a subscription (deleted after failed payments, or left unpaid),
`subscription_end` ends it the same way as a cancellation, and says nobody asked.
"""

import calendar
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

import outbox
from audit.services import audit_record

from . import notifications, seat_changes, signals
from .models import Plan, SeatChange, SeatSync, Subscription

ACTOR_LABEL = "system (period end)"  # who renewed or ended it, in the audit log
CANCELLED_AS_ASKED = "cancelled at the end of its period"

logger = logging.getLogger(__name__)


def period_end_for(start: datetime, interval: str, *, anchor_day: int | None = None) -> datetime:
    """One billing interval after `start`: the same day of the next month (or year),
    or that month's last day when it is shorter (31 January → 28/29 February). With
    `anchor_day`, that day instead of `start`'s (so 28 February → 31 March when the
    subscription started on the 31st)."""
    months = 1 if interval == Plan.Interval.MONTH else 12
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(anchor_day or start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def next_period(subscription: Subscription) -> tuple[datetime, datetime]:
    """The period after the current one, on the subscription's billing day. A period
    boundary falls on that day or, in a shorter month, on the month's last day, so
    the larger of the current period's two days is the billing day."""
    start, end = subscription.current_period_start, subscription.current_period_end
    anchor_day = max(start.day, end.day)
    return end, period_end_for(end, subscription.plan.interval, anchor_day=anchor_day)


@dataclass
class PeriodRoll:
    renewed: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)


def subscription_periods_roll(
    *, now: datetime | None = None, batch_size: int = 200, time_budget: float = 0
) -> PeriodRoll:
    """Periodic: renew or end the live subscriptions whose period has ended.

    Each subscription is taken in its own transaction under its row lock (SKIP LOCKED:
    concurrent runs share the work) and only while its period has still ended, so a
    boundary is crossed once, and a run killed halfway leaves the rest for the next.
    A subscription many periods behind (the worker was down) renews straight into the
    period that contains `now`. Reads `batch_size` subscriptions at a time (bounded
    memory); with `time_budget` (seconds), goes on batch after batch until none is due
    or the budget is spent, so that the thousands of monthly plans billed on the same
    day renew in one run instead of one batch a minute. A subscription that fails is
    not tried again in the same run."""
    now = now or timezone.now()
    deadline = time.monotonic() + time_budget
    roll = PeriodRoll()
    failed: list[int] = []
    while True:
        due_ids = list(
            Subscription.objects.filter(
                status__in=(Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE),
                current_period_end__lte=now,
            )
            .exclude(pk__in=failed)
            .order_by("current_period_end", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        for pk in due_ids:
            try:
                _roll_one(pk, now=now, roll=roll)
            except Exception:
                # One subscription that can't be rolled (it is retried next run) must not
                # hold back the others.
                logger.exception("Subscription %s: its period could not be rolled.", pk)
                failed.append(pk)
        if len(due_ids) < batch_size or time.monotonic() >= deadline:
            return roll


def _roll_one(pk: int, *, now: datetime, roll: PeriodRoll) -> None:
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("plan__product", "organization")
            .filter(pk=pk, current_period_end__lte=now)
            .first()
        )
        if subscription is None or not subscription.is_live:
            return  # rolled meanwhile, or another run holds it
        if subscription.cancel_at_period_end:
            _end(subscription)
            roll.ended.append(pk)
        else:
            _renew(subscription, now=now)
            roll.renewed.append(pk)


def _period(subscription: Subscription) -> list[str]:
    return [subscription.current_period_start.isoformat(), subscription.current_period_end.isoformat()]


def _renew(subscription: Subscription, *, now: datetime) -> None:
    before = _period(subscription)
    while subscription.current_period_end <= now:
        subscription.current_period_start, subscription.current_period_end = next_period(subscription)
    subscription.save(update_fields=["current_period_start", "current_period_end"])
    audit_record(
        action="subscription.renewed",
        organization=subscription.organization,
        actor_label=ACTOR_LABEL,
        obj=subscription,
        before={"period": before},
        after={"period": _period(subscription), "seats": subscription.quantity},
    )


def subscription_end(*, subscription_id: int, actor_label: str, reason: str, requested: bool = False) -> bool:
    """End a live subscription now. As at a cancelled period's end, its open seat
    changes are withdrawn, its licences stop (0 seats pushed through the outbox) and
    its admin is told; when nobody asked for it (`requested=False`: its biller stopped
    it after failed payments) the account manager is told too (`subscription_ended`).
    Under the subscription's row lock; returns False for one that is not live (ended
    already, by the period roll or an earlier call)."""
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan__product", "organization")
            .get(pk=subscription_id)
        )
        if not subscription.is_live:
            return False
        _end(subscription, actor_label=actor_label, reason=reason, requested=requested)
    return True


def subscription_period_follow(
    *, subscription_id: int, start: datetime, end: datetime, actor_label: str
) -> bool:
    """The period is [start, end) as the biller reports it. Under the subscription's
    row lock. A report of a period that ended before ours began (a late or replayed
    webhook), or of the period we are in (the same end), changes nothing, so a period
    rolled here is not rolled again, nor one followed rolled here (the roll takes only
    periods that have ended). Returns whether the period changed."""
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=subscription_id)
        )
        current_start, current_end = subscription.current_period_start, subscription.current_period_end
        # A period is known by its end, to the second (the biller counts in whole
        # seconds): the biller's first period may start when it was created, later
        # than ours, and still be ours.
        same_end = int(end.timestamp()) == int(current_end.timestamp())
        if not subscription.is_live or end <= start or end <= current_start or same_end:
            return False
        before = _period(subscription)
        subscription.current_period_start, subscription.current_period_end = start, end
        subscription.save(update_fields=["current_period_start", "current_period_end"])
        audit_record(
            action="subscription.period_followed",
            organization=subscription.organization,
            actor_label=actor_label,
            obj=subscription,
            before={"period": before},
            after={"period": _period(subscription), "seats": subscription.quantity},
        )
    return True


def _end(
    subscription: Subscription,
    *,
    actor_label: str = ACTOR_LABEL,
    reason: str = CANCELLED_AS_ASKED,
    requested: bool = True,
) -> None:
    for seat_change in subscription.seat_changes.filter(state__in=SeatChange.OPEN_STATES):
        seat_changes.seat_change_cancel(seat_change=seat_change, actor_label=actor_label)
    before = subscription.status
    subscription.status = Subscription.Status.CANCELLED
    subscription.seats_version += 1
    subscription.save(update_fields=["status", "seats_version"])
    # The connected org takes the licences away: 0 seats, newer than any count before.
    seat_sync = SeatSync.objects.create(
        organization_id=subscription.organization_id,
        subscription=subscription,
        quantity=0,
        version=subscription.seats_version,
    )
    ended_at = subscription.current_period_end if requested else timezone.now()
    audit_record(
        action="subscription.ended",
        organization=subscription.organization,
        actor_label=actor_label,
        obj=subscription,
        before={"status": before},
        after={"status": subscription.status, "ended_at": ended_at.isoformat(), "reason": reason},
    )
    subscription_id = subscription.pk
    outbox.enqueue(
        notifications.subscription_ended,
        key=f"subscription-ended:{subscription_id}",
        kind="email",
        subscription_id=subscription_id,
        reason=reason,
        requested=requested,
    )
    transaction.on_commit(
        lambda: signals.seat_sync_created.send(
            SeatSync, seat_sync_id=seat_sync.pk, subscription_id=subscription_id
        ),
        robust=True,
    )
    outbox.send_signal(
        "subscriptions.signals.subscription_ended",
        sender="subscriptions.Subscription",
        key=f"subscription-ended-signal:{subscription_id}",
        kind="email",
        subscription_id=subscription_id,
        requested=requested,
        reason=reason,
    )
