"""Billing periods: their length, and the periodic renewal or end of a subscription
whose period has ended."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from licensing import selectors as licensing_selectors
from subscriptions import periods, services, signals
from subscriptions.models import Plan, SeatSync, Subscription
from tests.backoffice.factories import seat_change_open
from tests.factories import LicenceAssignmentFactory, OrgUserFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("start", "interval", "end"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), Plan.Interval.MONTH, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), Plan.Interval.MONTH, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), Plan.Interval.MONTH, datetime(2027, 1, 15, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), Plan.Interval.YEAR, datetime(2029, 2, 28, tzinfo=UTC)),
    ],
)
def test_a_period_lasts_one_calendar_interval(start, interval, end):
    assert periods.period_end_for(start, interval) == end


def test_renewals_keep_the_billing_day_through_short_months():
    start = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    subscription = Subscription(
        plan=Plan(interval=Plan.Interval.MONTH),
        current_period_start=start,
        current_period_end=periods.period_end_for(start, Plan.Interval.MONTH),
    )
    ends = []
    for _ in range(5):
        subscription.current_period_start, subscription.current_period_end = periods.next_period(subscription)
        ends.append(subscription.current_period_end.date().isoformat())

    assert ends == ["2026-03-31", "2026-04-30", "2026-05-31", "2026-06-30", "2026-07-31"]
    assert subscription.current_period_end.time().isoformat() == "09:30:00"


def ended_subscription(**kwargs) -> Subscription:
    now = timezone.now()
    return SubscriptionFactory(
        current_period_start=now - timedelta(days=31, minutes=5),
        current_period_end=now - timedelta(minutes=5),
        **kwargs,
    )


def test_a_subscription_whose_period_ended_renews_with_the_same_seats():
    subscription = ended_subscription(quantity=7)
    old_end = subscription.current_period_end
    running = SubscriptionFactory()

    roll = periods.subscription_periods_roll()

    assert roll.renewed == [subscription.pk] and roll.ended == []
    subscription.refresh_from_db()
    assert subscription.current_period_start == old_end
    assert subscription.current_period_end > timezone.now()
    assert (subscription.status, subscription.quantity) == ("active", 7)
    assert AuditEvent.objects.filter(action="subscription.renewed").count() == 1
    assert mail.outbox == []  # Stripe bills and receipts the renewal
    untouched = Subscription.objects.get(pk=running.pk)
    assert untouched.current_period_end == running.current_period_end


def test_a_boundary_is_crossed_once_however_often_the_task_runs():
    subscription = ended_subscription()

    periods.subscription_periods_roll()
    subscription.refresh_from_db()
    period = (subscription.current_period_start, subscription.current_period_end)
    again = periods.subscription_periods_roll()

    subscription.refresh_from_db()
    assert again.renewed == [] and again.ended == []
    assert (subscription.current_period_start, subscription.current_period_end) == period


def test_a_subscription_several_periods_behind_renews_into_the_current_period():
    now = timezone.now()
    subscription = SubscriptionFactory(
        current_period_start=now - timedelta(days=100),
        current_period_end=periods.period_end_for(now - timedelta(days=100), Plan.Interval.MONTH),
    )

    periods.subscription_periods_roll(now=now)

    subscription.refresh_from_db()
    assert subscription.current_period_start <= now < subscription.current_period_end
    assert AuditEvent.objects.filter(action="subscription.renewed").count() == 1


def test_a_subscription_cancelled_at_period_end_ends_and_its_admin_is_told(
    django_capture_on_commit_callbacks,
):
    subscription = ended_subscription(quantity=4, admin_email="ada@acme.example")
    Subscription.objects.filter(pk=subscription.pk).update(cancel_at_period_end=True)
    user = OrgUserFactory(organization=subscription.organization, email="grace@acme.example")
    LicenceAssignmentFactory(subscription=subscription, org_user=user)
    # A decrease asked for just before the end (an increase is refused: it is ending), never
    # signed: it can't outlive the subscription.
    draft = seat_change_open(subscription, 3, at=subscription.current_period_end - timedelta(hours=1))

    pushes = []

    def pushed(sender, *, seat_sync_id, **kwargs):
        pushes.append(seat_sync_id)

    signals.seat_sync_created.connect(pushed)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            roll = periods.subscription_periods_roll()
    finally:
        signals.seat_sync_created.disconnect(pushed)

    assert roll.ended == [subscription.pk]
    subscription.refresh_from_db()
    draft.refresh_from_db()
    assert subscription.status == "cancelled" and not subscription.is_live
    assert draft.state == "cancelled"
    (email,) = mail.outbox
    assert email.to == ["ada@acme.example"] and email.subject.endswith("has ended")
    assert "4 licences no longer work" in email.body
    # The connected org is told: 0 seats, as a newer version than any count before.
    (push,) = SeatSync.objects.filter(subscription=subscription)
    assert (push.quantity, push.version, push.status) == (0, subscription.seats_version, "pending")
    assert pushes == [push.pk]
    code = subscription.plan.product.code
    assert not licensing_selectors.is_licensed(
        organization_id=subscription.organization_id, product_code=code, email="grace@acme.example"
    )


def test_an_overdue_subscription_renews_and_stays_overdue():
    subscription = ended_subscription()
    services.subscription_payment_overdue(
        subscription_id=subscription.pk, actor_label="Stripe", reason="invoice in_1"
    )

    periods.subscription_periods_roll()

    subscription.refresh_from_db()
    assert subscription.status == "past_due"
    assert subscription.current_period_end > timezone.now()


def test_a_subscription_that_cannot_be_rolled_does_not_hold_back_the_others(monkeypatch):
    stuck, other = ended_subscription(), ended_subscription()
    renew = periods._renew

    def failing_for_the_first(subscription, *, now):
        if subscription.pk == stuck.pk:
            raise RuntimeError("the database said no")
        renew(subscription, now=now)

    monkeypatch.setattr(periods, "_renew", failing_for_the_first)

    roll = periods.subscription_periods_roll()

    assert roll.renewed == [other.pk]
    assert Subscription.objects.get(pk=stuck.pk).current_period_end == stuck.current_period_end


def test_with_a_time_budget_one_run_rolls_every_due_batch_and_skips_what_failed(monkeypatch):
    subscriptions = [ended_subscription() for _ in range(5)]
    stuck = subscriptions[0]
    renew = periods._renew

    def failing_for_the_first(subscription, *, now):
        if subscription.pk == stuck.pk:
            raise RuntimeError("the database said no")
        renew(subscription, now=now)

    monkeypatch.setattr(periods, "_renew", failing_for_the_first)

    one_batch = periods.subscription_periods_roll(batch_size=2)
    assert one_batch.renewed == [subscriptions[1].pk]  # the first batch, the stuck one failing

    everything = periods.subscription_periods_roll(batch_size=2, time_budget=30)

    assert sorted(everything.renewed) == sorted(s.pk for s in subscriptions[2:])
    assert Subscription.objects.get(pk=stuck.pk).current_period_end == stuck.current_period_end
