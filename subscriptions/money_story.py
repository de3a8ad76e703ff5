"""The money story: what a subscription and each seat change cost, told once.

Every page, PDF, email and API answer that shows an amount of a subscription or a seat
change reads it here, so that they all say the same thing:

* **Due now.** An increase costs its quote (`billing.proration`, fixed on the seat
  change when it was created and never recomputed). A decrease costs nothing and
  gives nothing back: the current period stays as paid.
* **The next renewal** is what Stripe will bill at the period end: the seats the next
  period starts with (`renewal_seats`: a decrease approved for the period end counts
  already, since its seats reach Stripe when it is approved) at the plan's price. A
  seat change's renewal is the one it leads to: its new total at the price it was
  quoted with.
* **A subscription cancelled at its period end does not renew**: instead of a
  renewal amount it "ends on <date>", for the subscription and for its changes alike.

The amounts are integer minor units of `currency`; `billing.money.format_money` (the
`money` template filter) writes them for people. Below the smallest card payment an
amount due is not charged: that rule is Stripe's, so it stays in `billing.money`
(the `chargeable` and `below_minimum` filters).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from .models import SeatChange, Subscription

__all__ = [
    "Renewal",
    "SeatChangeMoney",
    "preview_money",
    "renewal_seats",
    "seat_change_money",
    "subscription_ends_on",
    "subscription_renewal",
    "with_renewal_seats",
]


@dataclass(frozen=True)
class Renewal:
    """The next renewal of a subscription: `amount` for `quantity` seats on `on`; or,
    when the subscription is cancelled at its period end, no amount and `ends`: it ends
    on `on` instead."""

    currency: str
    on: datetime
    quantity: int
    amount: int | None
    ends: bool = False

    @property
    def ends_on(self) -> datetime | None:
        return self.on if self.ends else None


def _scheduled_decrease(subscriptions) -> QuerySet:
    return SeatChange.objects.filter(subscription=subscriptions, state=SeatChange.State.SCHEDULED).values(
        "new_quantity"
    )[:1]


def with_renewal_seats(subscriptions: QuerySet[Subscription]) -> QuerySet[Subscription]:
    """`subscriptions` with the seats of a decrease scheduled for the period end read in
    the same query, so that `renewal_seats` (and every renewal of a list) asks nothing
    more."""
    return subscriptions.annotate(scheduled_renewal_seats=Subquery(_scheduled_decrease(OuterRef("pk"))))


def renewal_seats(subscription: Subscription) -> int:
    """The seats the next period starts with: a decrease approved for the period end
    already counts, though its licences work until then."""
    if "scheduled_renewal_seats" in subscription.__dict__:  # read by `with_renewal_seats`
        scheduled = subscription.scheduled_renewal_seats
    else:
        scheduled = _scheduled_decrease(subscription).values_list("new_quantity", flat=True).first()
    return scheduled if scheduled is not None else subscription.quantity


def subscription_ends_on(subscription: Subscription) -> datetime | None:
    """When a live subscription cancelled at its period end ends; None when it renews
    (or is not live). Reads no more than the subscription row."""
    if subscription.is_live and subscription.cancel_at_period_end:
        return subscription.current_period_end
    return None


def subscription_renewal(subscription: Subscription) -> Renewal | None:
    """What the next renewal bills (what Stripe will bill), or when the subscription
    ends; None for a subscription that is not live (pending, ended)."""
    if not subscription.is_live:
        return None
    plan = subscription.plan
    if subscription_ends_on(subscription) is not None:
        return Renewal(
            currency=plan.currency, on=subscription.current_period_end, quantity=0, amount=None, ends=True
        )
    seats = renewal_seats(subscription)
    return Renewal(
        currency=plan.currency,
        on=subscription.current_period_end,
        quantity=seats,
        amount=plan.unit_amount * seats,
    )


@dataclass(frozen=True)
class SeatChangeMoney:
    """What a seat change costs now and what it leads to at renewal.

    `due_now` is what the customer pays for the rest of the period: the quote's
    amount for an increase, 0 for a decrease (never a credit). `credit` and `debit`
    are the quote's two lines, for the agreement's worked computation. `renewal` is
    the renewal once the change has taken effect (or the subscription's end)."""

    old_quantity: int
    new_quantity: int
    currency: str
    unit_amount: int
    due_now: int
    credit: int
    debit: int
    renewal: Renewal

    @property
    def delta(self) -> int:
        return self.new_quantity - self.old_quantity

    @property
    def is_increase(self) -> bool:
        return self.delta > 0

    @property
    def delta_label(self) -> str:
        """ "+2", or "-1" written with a minus sign (U+2212), not a hyphen."""
        return f"+{self.delta}" if self.delta > 0 else f"\u2212{-self.delta}"


def _renewal_after(
    subscription: Subscription, *, new_quantity: int, renewal_amount: int, period_end: datetime, currency: str
) -> Renewal:
    if subscription.cancel_at_period_end:
        return Renewal(currency=currency, on=period_end, quantity=0, amount=None, ends=True)
    return Renewal(currency=currency, on=period_end, quantity=new_quantity, amount=renewal_amount)


def seat_change_money(seat_change: SeatChange) -> SeatChangeMoney:
    """The money story of a seat change, from its stored quote and its subscription."""
    subscription = seat_change.subscription
    return SeatChangeMoney(
        old_quantity=seat_change.old_quantity,
        new_quantity=seat_change.new_quantity,
        currency=seat_change.currency,
        unit_amount=seat_change.unit_amount,
        due_now=max(seat_change.amount_due, 0) if seat_change.is_increase else 0,
        credit=seat_change.credit,
        debit=seat_change.debit,
        renewal=_renewal_after(
            subscription,
            new_quantity=seat_change.new_quantity,
            renewal_amount=seat_change.renewal_amount,
            period_end=seat_change.period_end,
            currency=seat_change.currency,
        ),
    )


def preview_money(
    *, subscription: Subscription, new_quantity: int, credit: int, debit: int, amount_due: int
) -> SeatChangeMoney:
    """The money story of a change not made yet (the change page's live quote), from a
    quote computed now: the same story `seat_change_money` tells once it is made."""
    plan = subscription.plan
    is_increase = new_quantity > subscription.quantity
    return SeatChangeMoney(
        old_quantity=subscription.quantity,
        new_quantity=new_quantity,
        currency=plan.currency,
        unit_amount=plan.unit_amount,
        due_now=max(amount_due, 0) if is_increase else 0,
        credit=credit,
        debit=debit,
        renewal=_renewal_after(
            subscription,
            new_quantity=new_quantity,
            renewal_amount=plan.unit_amount * new_quantity,
            period_end=subscription.current_period_end,
            currency=plan.currency,
        ),
    )
