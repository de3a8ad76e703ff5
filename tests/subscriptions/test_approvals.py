"""The account manager's decision on a decrease, and decreases at period end
(`subscriptions.seat_changes`). The clock is passed in (`now=`) or frozen."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from backoffice.selectors import licences_kept
from licensing.models import LicenceAssignment
from subscriptions import seat_changes
from subscriptions.errors import Conflict, InvalidInput
from subscriptions.models import Plan, SeatChange, SeatSync
from tests.backoffice.factories import seat_change_open, seat_change_signed, staff_factory
from tests.factories import LicenceAssignmentFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def am():
    return staff_factory("account_manager", full_name="Alex Manager")


def period_end_subscription(quantity=5, **kwargs):
    plan = PlanFactory(code="documents-yearly", interval=Plan.Interval.YEAR, decrease_policy="period_end")
    return SubscriptionFactory(plan=plan, quantity=quantity, **kwargs)


def approve(change, am, **kwargs):
    return seat_changes.seat_change_approve(
        seat_change=change, actor=am, licences_kept=licences_kept, **kwargs
    )


def apply_scheduled(now):
    return seat_changes.seat_changes_apply_scheduled(licences_kept=licences_kept, now=now)


# --- Approve and reject ------------------------------------------------------------------


def test_approving_an_immediate_decrease_applies_it_and_frees_the_named_licences(am):
    subscription = SubscriptionFactory(quantity=4)
    keep, lose = (
        LicenceAssignmentFactory(subscription=subscription),
        LicenceAssignmentFactory(subscription=subscription),
    )
    change = seat_change_signed(subscription, 1, free=[lose.org_user_id])

    change = approve(change, am)

    subscription.refresh_from_db()
    assert (change.state, change.decided_by, subscription.quantity) == ("applying", am, 1)
    assert change.decided_at is not None and change.effective_at == change.decided_at
    assert list(LicenceAssignment.objects.values_list("pk", flat=True)) == [keep.pk]
    (sync,) = SeatSync.objects.filter(subscription=subscription)
    assert (sync.quantity, sync.version, sync.seat_change) == (1, 1, change)
    approved = AuditEvent.objects.get(action="seat_change.approved")
    assert approved.actor == am and approved.after["at_period_end"] is False
    assert AuditEvent.objects.get(action="seat_change.applying").actor == am


def test_approving_a_period_end_decrease_schedules_it_and_changes_nothing_yet(am):
    subscription = period_end_subscription(quantity=5)
    change = seat_change_signed(subscription, 3)

    change = approve(change, am)

    subscription.refresh_from_db()
    assert change.state == SeatChange.State.SCHEDULED
    assert change.effective_at == subscription.current_period_end
    assert subscription.quantity == 5 and subscription.seats_version == 0
    assert not SeatSync.objects.exists()
    assert change.is_open


def test_a_period_end_decrease_approved_after_its_period_ended_applies_at_once(am):
    subscription = period_end_subscription(quantity=5)
    change = seat_change_signed(subscription, 3)

    change = approve(change, am, now=subscription.current_period_end + timedelta(minutes=1))

    assert change.state == SeatChange.State.APPLYING


def test_rejecting_needs_a_reason_and_changes_nothing_without_one(am):
    change = seat_change_signed(SubscriptionFactory(quantity=5), 3)

    for reason in ("", "   ", "x" * 501):
        with pytest.raises(InvalidInput) as refused:
            seat_changes.seat_change_reject(seat_change=change, actor=am, reason=reason)
        assert refused.value.extra["field"] == "reason"

    change.refresh_from_db()
    assert change.state == SeatChange.State.AWAITING_APPROVAL and change.decided_by is None


def test_rejecting_records_the_reason_and_who_decided(am):
    subscription = SubscriptionFactory(quantity=5)
    change = seat_change_signed(subscription, 3)

    change = seat_changes.seat_change_reject(
        seat_change=change, actor=am, reason="  Your contract\nruns until March. "
    )

    subscription.refresh_from_db()
    assert (change.state, change.state_reason, change.decided_by) == (
        "rejected",
        "Your contract runs until March.",
        am,
    )
    assert subscription.quantity == 5
    event = AuditEvent.objects.get(action="seat_change.rejected")
    assert event.actor == am and event.after["reason"] == "Your contract runs until March."


def test_a_second_decision_is_refused_and_says_who_decided_what():
    first, second = staff_factory("manager", full_name="First Person"), staff_factory("manager")
    change = seat_change_signed(SubscriptionFactory(quantity=5), 3)
    approve(change, first)

    with pytest.raises(seat_changes.SeatChangeAlreadyDecided) as again:
        approve(change, second)
    with pytest.raises(seat_changes.SeatChangeAlreadyDecided) as reject:
        seat_changes.seat_change_reject(seat_change=change, actor=second, reason="No")

    assert "already approved by First Person" in again.value.message
    assert "it is being applied" in again.value.message
    assert reject.value.message == again.value.message
    assert SeatSync.objects.count() == 1


def test_approving_a_rejected_change_names_the_rejection_and_its_reason(am):
    change = seat_change_signed(SubscriptionFactory(quantity=5), 3)
    seat_changes.seat_change_reject(seat_change=change, actor=am, reason="Talk to finance first")

    with pytest.raises(
        seat_changes.SeatChangeAlreadyDecided, match=r"already rejected by Alex Manager.*finance"
    ):
        approve(change, staff_factory("manager"))


def test_a_change_the_customer_withdrew_cannot_be_approved(am):
    change = seat_change_signed(SubscriptionFactory(quantity=5), 3)
    seat_changes.seat_change_cancel(seat_change=change)

    with pytest.raises(seat_changes.SeatChangeAlreadyDecided, match="is cancelled: there is nothing left"):
        approve(change, am)


def test_an_increase_is_never_approved(am):
    change = seat_change_signed(SubscriptionFactory(quantity=3), 5)

    with pytest.raises(seat_changes.SeatChangeAlreadyDecided):
        approve(change, am)


def test_approval_is_refused_when_more_licences_are_in_use_than_the_decrease_leaves(am):
    subscription = SubscriptionFactory(quantity=5)
    LicenceAssignmentFactory.create_batch(2, subscription=subscription)
    change = seat_change_signed(subscription, 2)
    LicenceAssignmentFactory(subscription=subscription)  # assigned after the request

    with pytest.raises(seat_changes.DecreaseNoLongerFits) as refused:
        approve(change, am)

    assert "3 licences would still be in use" in refused.value.message
    assert refused.value.extra["must_free"] == 1
    change.refresh_from_db()
    subscription.refresh_from_db()
    assert change.state == "awaiting_approval" and subscription.quantity == 5


def test_a_cancelled_subscription_cannot_have_a_decrease_approved(am):
    subscription = SubscriptionFactory(quantity=5)
    change = seat_change_signed(subscription, 3)
    subscription.status = "cancelled"
    subscription.save()

    with pytest.raises(Conflict, match="reject the decrease instead"):
        approve(change, am)


# --- Scheduled decreases stay open -----------------------------------------------------


def test_a_scheduled_decrease_keeps_the_subscription_from_starting_another_change(am):
    subscription = period_end_subscription(quantity=5)
    approve(seat_change_signed(subscription, 3), am)

    with pytest.raises(seat_changes.SeatChangeAlreadyOpen, match="approved, takes effect at period end"):
        seat_change_open(subscription, 4)


def test_the_database_refuses_a_second_open_change_beside_a_scheduled_one(am):
    subscription = period_end_subscription(quantity=5)
    scheduled = approve(seat_change_signed(subscription, 3), am)
    twin = SeatChange.objects.get(pk=scheduled.pk)
    twin.pk, twin.number, twin.state = None, "SC-TWIN", SeatChange.State.DRAFT

    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


def test_the_database_refuses_a_scheduled_change_without_a_date():
    change = seat_change_signed(SubscriptionFactory(quantity=5), 3)

    with pytest.raises(IntegrityError), transaction.atomic():
        SeatChange.objects.filter(pk=change.pk).update(state=SeatChange.State.SCHEDULED, effective_at=None)


def test_the_customer_can_withdraw_a_scheduled_decrease_before_it_takes_effect(am):
    subscription = period_end_subscription(quantity=5)
    change = approve(seat_change_signed(subscription, 3), am)

    seat_changes.seat_change_cancel(seat_change=change)

    change.refresh_from_db()
    assert change.state == SeatChange.State.CANCELLED
    assert apply_scheduled(subscription.current_period_end + timedelta(days=1)).applied == []


def test_quote_expiry_never_touches_a_scheduled_decrease(am):
    subscription = period_end_subscription(quantity=5)
    change = approve(seat_change_signed(subscription, 3), am)

    assert seat_changes.seat_changes_expire(now=change.expires_at + timedelta(days=400)) == 0
    change.refresh_from_db()
    assert change.state == SeatChange.State.SCHEDULED


# --- At the boundary -------------------------------------------------------------------


def test_a_scheduled_decrease_is_applied_at_its_period_end_exactly_once(am):
    subscription = period_end_subscription(quantity=5)
    lose = LicenceAssignmentFactory(subscription=subscription)
    change = approve(seat_change_signed(subscription, 3, free=[lose.org_user_id]), am)
    boundary = change.effective_at

    assert apply_scheduled(boundary - timedelta(microseconds=1)).applied == []
    subscription.refresh_from_db()
    assert subscription.quantity == 5 and not SeatSync.objects.exists()

    assert apply_scheduled(boundary).applied == [change.pk]
    assert apply_scheduled(boundary).applied == []
    assert apply_scheduled(boundary + timedelta(hours=1)).applied == []

    subscription.refresh_from_db()
    change.refresh_from_db()
    assert (subscription.quantity, subscription.seats_version, change.state) == (3, 1, "applying")
    (sync,) = SeatSync.objects.all()
    assert (sync.quantity, sync.version, sync.seat_change) == (3, 1, change)
    assert not LicenceAssignment.objects.filter(pk=lose.pk).exists()
    applied = AuditEvent.objects.get(action="subscription.quantity_changed")
    assert applied.after["via"] == "schedule" and applied.actor_label == "system (period end)"


def test_the_periodic_task_applies_at_the_boundary_with_a_frozen_clock(am, monkeypatch):
    from backoffice.tasks import apply_scheduled_decreases

    subscription = period_end_subscription(quantity=5)
    change = approve(seat_change_signed(subscription, 3), am)

    monkeypatch.setattr(timezone, "now", lambda: change.effective_at - timedelta(seconds=1))
    assert apply_scheduled_decreases() == 0
    monkeypatch.setattr(timezone, "now", lambda: change.effective_at)
    assert apply_scheduled_decreases() == 1
    assert apply_scheduled_decreases() == 0

    subscription.refresh_from_db()
    assert subscription.quantity == 3


def test_a_decrease_that_no_longer_fits_at_period_end_waits_and_is_reported_once(am):
    subscription = period_end_subscription(quantity=5)
    LicenceAssignmentFactory.create_batch(3, subscription=subscription)
    change = approve(seat_change_signed(subscription, 3), am)
    extra = LicenceAssignmentFactory(subscription=subscription)  # 4 in use, max still 5
    boundary = change.effective_at

    first = apply_scheduled(boundary)
    second = apply_scheduled(boundary + timedelta(minutes=1))

    assert first.applied == [] and [pk for pk, _ in first.newly_blocked] == [change.pk]
    assert "4 licences would still be in use" in first.newly_blocked[0][1]
    assert second.applied == [] and second.newly_blocked == []
    change.refresh_from_db()
    assert change.state == SeatChange.State.SCHEDULED and "4 licences" in change.state_reason
    assert AuditEvent.objects.filter(action="seat_change.apply_blocked").count() == 1

    extra.delete()
    third = apply_scheduled(boundary + timedelta(minutes=2))

    assert third.applied == [change.pk]
    change.refresh_from_db()
    assert change.state == SeatChange.State.APPLYING and change.state_reason == ""


def test_due_decreases_are_applied_oldest_first_within_the_batch(am):
    changes = []
    for days in (3, 1, 2):
        subscription = period_end_subscription(quantity=5)
        change = approve(seat_change_signed(subscription, 4), am)
        SeatChange.objects.filter(pk=change.pk).update(effective_at=timezone.now() - timedelta(days=days))
        changes.append(change)

    run = seat_changes.seat_changes_apply_scheduled(licences_kept=licences_kept, batch_size=2)

    assert run.applied == [changes[0].pk, changes[2].pk]
    assert apply_scheduled(timezone.now()).applied == [changes[1].pk]


def test_decreases_that_no_longer_fit_do_not_hold_up_the_ones_due_after_them(am):
    """Blocked changes stay scheduled and are looked at first (oldest): with a time
    budget, a run pages past a batch full of them to the changes after."""
    now = timezone.now()
    blocked, due = [], []
    for days, fits in ((5, False), (4, False), (3, True), (2, False), (1, True)):
        subscription = period_end_subscription(quantity=5)
        LicenceAssignmentFactory.create_batch(4, subscription=subscription)
        change = approve(seat_change_signed(subscription, 4), am)
        if not fits:
            LicenceAssignmentFactory(subscription=subscription)  # 5 in use, 4 left by the decrease
        SeatChange.objects.filter(pk=change.pk).update(effective_at=now - timedelta(days=days))
        (due if fits else blocked).append(change.pk)

    one_batch = seat_changes.seat_changes_apply_scheduled(licences_kept=licences_kept, now=now, batch_size=2)
    assert one_batch.applied == []  # the two oldest are blocked

    run = seat_changes.seat_changes_apply_scheduled(
        licences_kept=licences_kept, now=now, batch_size=2, time_budget=30
    )

    assert run.applied == due
    assert [pk for pk, _ in run.newly_blocked] == blocked[2:]  # the first two were reported before
    assert set(
        SeatChange.objects.filter(state=SeatChange.State.SCHEDULED).values_list("pk", flat=True)
    ) == set(blocked)
