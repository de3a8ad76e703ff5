from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from billing.proration import quote_seat_change
from subscriptions import seat_changes
from subscriptions.errors import InvalidInput
from subscriptions.models import SeatChange
from tests.factories import PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def open_change(subscription, new_quantity, *, in_use=0, free=(), at=None, **signer):
    quote = quote_seat_change(
        unit_amount=subscription.plan.unit_amount,
        currency=subscription.plan.currency,
        old_quantity=subscription.quantity,
        new_quantity=new_quantity,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        at=at or timezone.now(),
    )
    return seat_changes.seat_change_create(
        subscription=subscription,
        new_quantity=new_quantity,
        quote=quote,
        renewal_amount=subscription.plan.unit_amount * new_quantity,
        licences_in_use=in_use,
        licences_to_free=free,
        **signer,
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter the new total number of users."),
        ("3.5", "whole number"),
        ("-2", "whole number"),
        ("four", "whole number"),
        ("0", "needs at least 1 user."),
        ("501", "allows at most 500 users"),
        ("3", "You already have 3 users"),
    ],
)
def test_the_new_total_is_refused_with_a_message_naming_the_rule(raw, message):
    subscription = SubscriptionFactory(quantity=3, plan=PlanFactory(min_seats=1, max_seats=500))

    with pytest.raises(InvalidInput, match=message):
        seat_changes.validate_new_total(subscription=subscription, raw=raw)


def test_a_change_stores_its_quote_and_expires_after_seven_days():
    subscription = SubscriptionFactory(quantity=3)

    change = open_change(subscription, 5)

    assert change.state == SeatChange.State.DRAFT
    assert change.number == f"SC-{change.quoted_at:%Y}-{change.pk:06d}"
    assert (change.old_quantity, change.new_quantity, change.delta) == (3, 5, 2)
    assert change.amount_due == change.credit + change.debit > 0
    assert change.expires_at == change.quoted_at + timedelta(days=7)
    assert AuditEvent.objects.filter(action="seat_change.created").count() == 1


def test_a_quote_never_outlives_the_period():
    now = timezone.now()
    subscription = SubscriptionFactory(
        current_period_start=now - timedelta(days=28), current_period_end=now + timedelta(days=2)
    )

    change = open_change(subscription, 5)

    assert change.expires_at == subscription.current_period_end


def test_a_second_open_change_is_refused_and_names_the_open_one():
    subscription = SubscriptionFactory(quantity=3)
    first = open_change(subscription, 5)

    with pytest.raises(seat_changes.SeatChangeAlreadyOpen) as refused:
        open_change(subscription, 6)

    assert refused.value.open_change == first
    assert first.number in refused.value.message


def test_the_database_itself_refuses_two_open_changes_for_one_subscription():
    subscription = SubscriptionFactory(quantity=3)
    first = open_change(subscription, 5)
    twin = SeatChange.objects.get(pk=first.pk)
    twin.pk, twin.number = None, "SC-TWIN"

    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


@pytest.mark.parametrize(
    ("signer", "field"),
    [
        ({"signer_required": True}, "signer_name"),
        ({"signer_required": True, "signer_name": "Fin Ance"}, "signer_email"),
        ({"signer_name": "Fin Ance", "signer_email": "fin@"}, "signer_email"),
        ({"signer_email": "fin@acme.example"}, "signer_name"),
    ],
)
def test_a_named_signer_needs_a_name_and_a_valid_address(signer, field):
    subscription = SubscriptionFactory(quantity=3)

    with pytest.raises(InvalidInput) as refused:
        open_change(subscription, 4, **signer)

    assert refused.value.extra["field"] == field
    assert not SeatChange.objects.exists()


def test_a_named_signer_is_stored_tidied_and_nobody_named_is_fine():
    named = open_change(
        SubscriptionFactory(quantity=3), 4, signer_name="  Fin   Ance ", signer_email=" Fin@Acme.example "
    )
    nobody = open_change(SubscriptionFactory(quantity=3), 4)

    assert (named.signer_name, named.signer_email) == ("Fin Ance", "fin@acme.example")
    assert (nobody.signer_name, nobody.signer_email) == ("", "")


def test_a_decrease_below_the_licences_in_use_is_refused_with_how_many_to_free():
    subscription = SubscriptionFactory(quantity=5)

    with pytest.raises(seat_changes.DecreaseBelowLicencesInUse) as refused:
        open_change(subscription, 2, in_use=4)

    assert "4 licences are in use" in refused.value.message
    assert refused.value.extra["must_free"] == 2
    assert not SeatChange.objects.exists()


def test_a_decrease_below_the_licences_in_use_is_accepted_when_it_names_who_loses_theirs():
    subscription = SubscriptionFactory(quantity=5)

    change = open_change(subscription, 2, in_use=4, free=[11, 12])

    assert change.licences_to_free == [11, 12]


def test_signing_an_increase_waits_for_payment():
    subscription = SubscriptionFactory(quantity=3, admin_email="admin@customer.example")
    change = open_change(subscription, 5)

    seat_changes.seat_change_mark_signed(
        seat_change=change, signer_name="Fin Ance", signer_email="fin@customer.example"
    )

    change.refresh_from_db()
    assert change.state == SeatChange.State.AWAITING_PAYMENT
    assert change.signed_at is not None
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["seat_change.signed", "seat_change.awaiting_payment"]


def test_signing_a_decrease_waits_for_approval():
    subscription = SubscriptionFactory(quantity=3)
    change = open_change(subscription, 2)

    seat_changes.seat_change_mark_signed(seat_change=change, signer_name="A", signer_email="a@b.example")

    change.refresh_from_db()
    assert change.state == SeatChange.State.AWAITING_APPROVAL


def test_signing_twice_is_refused():
    change = open_change(SubscriptionFactory(quantity=3), 4)
    seat_changes.seat_change_mark_signed(seat_change=change, signer_name="A", signer_email="a@b.example")

    with pytest.raises(seat_changes.InvalidTransition):
        seat_changes.seat_change_mark_signed(seat_change=change, signer_name="A", signer_email="a@b.example")


def test_signing_after_the_quote_expired_is_refused_and_marks_the_change_expired():
    change = open_change(SubscriptionFactory(quantity=3), 4)

    with pytest.raises(seat_changes.QuoteExpired):
        seat_changes.seat_change_mark_signed(
            seat_change=change,
            signer_name="A",
            signer_email="a@b.example",
            at=change.expires_at + timedelta(seconds=1),
        )

    change.refresh_from_db()
    assert change.state == SeatChange.State.EXPIRED


def test_cancelling_frees_the_subscription_for_a_new_change():
    subscription = SubscriptionFactory(quantity=3)
    change = open_change(subscription, 4)

    seat_changes.seat_change_cancel(seat_change=change)
    seat_changes.seat_change_cancel(seat_change=change)  # twice: harmless

    change.refresh_from_db()
    assert change.state == SeatChange.State.CANCELLED
    assert open_change(subscription, 6).new_quantity == 6


def test_the_periodic_expiry_expires_due_drafts_but_never_waiting_approvals():
    due = open_change(SubscriptionFactory(quantity=3), 4)
    approval = open_change(SubscriptionFactory(quantity=3), 2)
    seat_changes.seat_change_mark_signed(seat_change=approval, signer_name="A", signer_email="a@b.example")
    fresh = open_change(SubscriptionFactory(quantity=3), 5)
    later = due.expires_at + timedelta(minutes=1)
    SeatChange.objects.filter(pk=fresh.pk).update(expires_at=later + timedelta(days=1))

    assert seat_changes.seat_changes_expire(now=later) == 1
    assert seat_changes.seat_changes_expire(now=later) == 0

    states = dict(SeatChange.objects.values_list("pk", "state"))
    assert states == {due.pk: "expired", approval.pk: "awaiting_approval", fresh.pk: "draft"}


def test_a_paid_increase_changes_the_quantity_and_writes_one_outbox_row_even_if_reported_twice():
    from subscriptions.models import SeatSync

    subscription = SubscriptionFactory(quantity=3)
    change = open_change(subscription, 5)
    seat_changes.seat_change_mark_signed(seat_change=change, signer_name="A", signer_email="a@b.example")

    seat_changes.seat_change_apply(seat_change=change, via="payment")
    seat_changes.seat_change_apply(seat_change=change, via="payment")  # the webhook, after the page

    subscription.refresh_from_db()
    change.refresh_from_db()
    assert (subscription.quantity, subscription.seats_version, change.state) == (5, 1, "applying")
    (sync,) = SeatSync.objects.all()
    assert (sync.quantity, sync.version, sync.status, sync.seat_change) == (5, 1, "pending", change)


def test_an_unsigned_or_unpaid_change_cannot_be_applied():
    change = open_change(SubscriptionFactory(quantity=3), 5)

    with pytest.raises(seat_changes.InvalidTransition):
        seat_changes.seat_change_apply(seat_change=change, via="payment")
    seat_changes.seat_change_mark_signed(seat_change=change, signer_name="A", signer_email="a@b.example")
    with pytest.raises(seat_changes.InvalidTransition):
        seat_changes.seat_change_apply(seat_change=change, via="approval")


def test_an_approved_decrease_frees_the_licences_it_named_in_the_same_transaction():
    from licensing.models import LicenceAssignment
    from tests.factories import LicenceAssignmentFactory

    subscription = SubscriptionFactory(quantity=3)
    keep, lose_1, lose_2 = (LicenceAssignmentFactory(subscription=subscription) for _ in range(3))
    change = open_change(subscription, 1, in_use=3, free=[lose_1.org_user_id, lose_2.org_user_id])
    seat_changes.seat_change_mark_signed(seat_change=change, signer_name="A", signer_email="a@b.example")

    seat_changes.seat_change_apply(seat_change=change, via="approval")

    assert list(LicenceAssignment.objects.values_list("pk", flat=True)) == [keep.pk]
    subscription.refresh_from_db()
    assert subscription.quantity == 1


def test_applied_is_reached_once():
    change = open_change(SubscriptionFactory(quantity=3), 5)
    seat_changes.seat_change_mark_signed(seat_change=change, signer_name="A", signer_email="a@b.example")
    seat_changes.seat_change_apply(seat_change=change, via="payment")

    assert seat_changes.seat_change_mark_applied(seat_change_id=change.pk) is True
    assert seat_changes.seat_change_mark_applied(seat_change_id=change.pk) is False
    change.refresh_from_db()
    assert change.state == "applied"


# --- One transition table, checked where every state changes ----------------------------


def test_every_state_is_in_the_transition_table_and_only_final_states_lead_nowhere():
    table = seat_changes.TRANSITIONS
    final = {s for s, targets in table.items() if not targets}

    assert set(table) == set(SeatChange.State.values)
    assert final == {"applied", "rejected", "cancelled", "expired"}
    assert all(set(targets) <= set(SeatChange.State.values) for targets in table.values())


@pytest.mark.parametrize(
    ("start", "to"),
    [
        ("draft", "applying"),  # never applied unsigned
        ("awaiting_payment", "applied"),  # never live before it is applying
        ("applied", "applying"),  # nothing moves backwards
        ("cancelled", "awaiting_payment"),
        ("expired", "signed"),
        ("rejected", "applying"),
        ("awaiting_payment", "rejected"),  # only a decrease is rejected
    ],
)
def test_an_illegal_move_raises_and_changes_nothing(start, to):
    change = open_change(SubscriptionFactory(quantity=3), 5)
    SeatChange.objects.filter(pk=change.pk).update(state=start)
    audited = AuditEvent.objects.count()

    with transaction.atomic():
        locked = seat_changes._locked(change)
        with pytest.raises(seat_changes.InvalidTransition) as refused:
            seat_changes._move(locked, to, actor_label="test")

    assert refused.value.extra["state"] == start
    change.refresh_from_db()
    assert change.state == start
    assert AuditEvent.objects.count() == audited
