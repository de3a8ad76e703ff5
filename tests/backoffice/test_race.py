"""Two managers deciding the same decrease at the same moment, on PostgreSQL: one wins,
the other is told what happened; nothing is applied twice."""

import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection

from backoffice import selectors, services
from subscriptions import seat_changes
from subscriptions.models import SeatChange, SeatSync, Subscription
from tests.factories import PlanFactory, SubscriptionFactory

from .factories import seat_change_signed, staff_factory

pytestmark = pytest.mark.django_db(transaction=True)

HOLD = 0.3


@pytest.fixture
def slow_decision(monkeypatch):
    """Whoever takes the change's lock first holds it HOLD seconds longer (the licence
    count runs under the lock), so the other decision surely arrives while it is held."""
    count = selectors.licences_kept

    def slow(seat_change):
        time.sleep(HOLD)
        return count(seat_change)

    monkeypatch.setattr(selectors, "licences_kept", slow)


def race(*actions):
    """Run each action in its own thread (own database connection), released together.
    Returns each outcome (a result or the exception raised) and how long it took."""
    barrier = threading.Barrier(len(actions))
    outcomes: list = [None] * len(actions)
    durations: list = [0.0] * len(actions)

    def run(index, action):
        try:
            barrier.wait(timeout=10)
            started = time.monotonic()
            try:
                outcomes[index] = action()
            finally:
                durations[index] = time.monotonic() - started
        except Exception as error:  # the outcome is what the test checks
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, action)) for i, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes, durations


@pytest.mark.usefixtures("slow_decision")
def test_two_managers_approving_at_once_apply_the_decrease_once():
    first = staff_factory("manager", full_name="First Manager")
    second = staff_factory("manager", full_name="Second Manager")
    subscription = SubscriptionFactory(quantity=5, admin_email="ada@customer.example")
    change = seat_change_signed(subscription, 3)
    mail.outbox.clear()

    outcomes, durations = race(
        lambda: services.seat_change_approve(seat_change=change, actor=first),
        lambda: services.seat_change_approve(seat_change=change, actor=second),
    )

    won = [o for o in outcomes if isinstance(o, SeatChange)]
    lost = [o for o in outcomes if isinstance(o, seat_changes.SeatChangeAlreadyDecided)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    # The loser waited for the winner's lock rather than arriving after it was released.
    loser = next(i for i, o in enumerate(outcomes) if isinstance(o, Exception))
    assert durations[loser] >= HOLD * 0.8
    winner = won[0].decided_by
    assert f"already approved by {winner.full_name}" in lost[0].message
    subscription.refresh_from_db()
    assert (subscription.quantity, subscription.seats_version) == (3, 1)
    assert SeatSync.objects.filter(subscription=subscription).count() == 1
    assert len(mail.outbox) == 1


@pytest.mark.usefixtures("slow_decision")
def test_an_approval_and_a_rejection_at_once_have_exactly_one_outcome():
    approver = staff_factory("manager", full_name="Ann Approver")
    rejecter = staff_factory("account_manager", full_name="Rex Rejecter")
    subscription = SubscriptionFactory(quantity=5, admin_email="ada@customer.example")
    change = seat_change_signed(subscription, 3)
    mail.outbox.clear()

    outcomes, _ = race(
        lambda: services.seat_change_approve(seat_change=change, actor=approver),
        lambda: services.seat_change_reject(seat_change=change, actor=rejecter, reason="Minimum is 5"),
    )

    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], seat_changes.SeatChangeAlreadyDecided), outcomes
    change.refresh_from_db()
    subscription.refresh_from_db()
    if change.state == SeatChange.State.REJECTED:
        assert "already rejected by Rex Rejecter" in errors[0].message
        assert subscription.quantity == 5 and not SeatSync.objects.exists()
    else:
        assert change.state == SeatChange.State.APPLYING
        assert "already approved by Ann Approver" in errors[0].message
        assert subscription.quantity == 3
    assert len(mail.outbox) == 1


def test_two_runs_of_the_period_end_task_at_once_apply_a_decrease_once():
    plan = PlanFactory(code="documents-yearly", interval="year", decrease_policy="period_end")
    manager = staff_factory("manager")
    subscriptions = [SubscriptionFactory(plan=plan, quantity=5) for _ in range(6)]
    changes = [
        services.seat_change_approve(seat_change=seat_change_signed(s, 4), actor=manager)
        for s in subscriptions
    ]
    boundary = max(c.effective_at for c in changes) + timedelta(seconds=1)

    runs, _ = race(
        lambda: services.scheduled_decreases_apply(now=boundary),
        lambda: services.scheduled_decreases_apply(now=boundary),
    )

    applied = [pk for run in runs for pk in run.applied]
    assert sorted(applied) == sorted(c.pk for c in changes)
    assert set(Subscription.objects.values_list("quantity", flat=True)) == {4}
    assert SeatSync.objects.count() == 6
