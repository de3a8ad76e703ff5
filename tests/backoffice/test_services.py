"""Back-office services: decisions and their emails, notifications to account managers,
the daily digest, new accounts, and changes started on the customer's behalf."""

import socket
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from backoffice import services
from backoffice.access import StaffScope
from backoffice.models import ApprovalDigest
from backoffice.selectors import approvals_queue
from licensing import delivery
from licensing.connectors import webhook
from licensing.models import ConnectedOrg
from subscriptions import seat_changes, signals
from subscriptions.errors import InvalidInput
from subscriptions.models import (
    CapabilityLink,
    Membership,
    Organization,
    SeatChange,
    SeatSync,
    Subscription,
)
from tests.factories import LicenceAssignmentFactory, PlanFactory, SubscriptionFactory, paid_seat_change

from .factories import seat_change_open, seat_change_signed, staff_factory

pytestmark = pytest.mark.django_db


# --- Decisions email the customer --------------------------------------------------------


def test_an_approval_emails_the_admin_and_the_signer_once(accounts, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.seat_change_approve(seat_change=accounts.decrease, actor=accounts.am)

    (email,) = mail.outbox
    assert email.subject == f"Approved: Opero Documents decrease to 3 users ({accounts.decrease.number})"
    assert email.to == ["ada@customer.example"]  # the admin signed it: one email
    assert "It takes effect now" in email.body and "Alex Manager" in email.body

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(seat_changes.SeatChangeAlreadyDecided),
    ):
        services.seat_change_approve(seat_change=accounts.decrease, actor=accounts.manager)
    assert len(mail.outbox) == 1


def test_a_period_end_approval_email_gives_the_date(period_end_plan, django_capture_on_commit_callbacks):
    am = staff_factory("account_manager")
    subscription = SubscriptionFactory(plan=period_end_plan, quantity=5, admin_email="admin@customer.example")
    change = seat_change_signed(subscription, 4, signer_email="finance@customer.example")

    with django_capture_on_commit_callbacks(execute=True):
        services.seat_change_approve(seat_change=change, actor=am)

    assert sorted(m.to[0] for m in mail.outbox) == ["admin@customer.example", "finance@customer.example"]
    email = mail.outbox[0]
    end = subscription.current_period_end
    assert f"on {end.day} {end:%B %Y}" in email.body
    assert "Until then you keep 5 users" in email.body


def test_a_rejection_emails_the_reason(accounts, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.seat_change_reject(
            seat_change=accounts.decrease, actor=accounts.am, reason="Your contract has a 5-seat minimum."
        )

    (email,) = mail.outbox
    assert email.subject.startswith("Not approved: Opero Documents decrease to 3 users")
    assert "Their reason: Your contract has a 5-seat minimum." in email.body
    assert "you still have 5 users" in email.body


def test_a_refused_rejection_sends_nothing(accounts, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidInput):
        services.seat_change_reject(seat_change=accounts.decrease, actor=accounts.am, reason=" ")

    assert mail.outbox == []


# --- Account managers are told -----------------------------------------------------------


def test_the_account_manager_is_told_when_a_decrease_waits_for_approval(
    accounts, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://seats.example"
    subscription = SubscriptionFactory(organization=accounts.organization, quantity=4)

    with django_capture_on_commit_callbacks(execute=True):
        change = seat_change_signed(subscription, 2)

    (email,) = mail.outbox
    assert email.to == ["am@vendor.example"]
    assert email.subject == "Decrease to approve: Acme Secret-A Ltd, Opero Documents 4 → 2"
    assert f"https://seats.example/backoffice/changes/{change.number}/" in email.body


def test_the_account_manager_is_told_when_an_increase_is_signed(accounts, django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(organization=accounts.organization, quantity=4)

    with django_capture_on_commit_callbacks(execute=True):
        seat_change_signed(subscription, 6)

    (email,) = mail.outbox
    assert email.to == ["am@vendor.example"]
    assert email.subject == "Increase signed: Acme Secret-A Ltd, Opero Documents 4 → 6"
    assert "Amount due for the rest of the period: €" in email.body


def test_without_an_account_manager_the_managers_are_told(accounts, django_capture_on_commit_callbacks):
    Organization.objects.filter(pk=accounts.organization.pk).update(account_manager=None)
    subscription = SubscriptionFactory(organization=accounts.organization, quantity=4)

    with django_capture_on_commit_callbacks(execute=True):
        seat_change_signed(subscription, 2)

    assert [m.to for m in mail.outbox] == [["boss@vendor.example"]]


def test_a_push_that_keeps_failing_emails_the_account_manager(
    accounts, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://seats.example"
    subscription = SubscriptionFactory(organization=accounts.organization, quantity=4)
    paid_seat_change(subscription, 6)
    seat_sync = SeatSync.objects.get(subscription=subscription)
    SeatSync.objects.filter(pk=seat_sync.pk).update(attempts=5, last_error="HTTP 503 from the org")

    with django_capture_on_commit_callbacks(execute=True):
        signals.seat_sync_failing.send(SeatSync, seat_sync_id=seat_sync.pk, error="HTTP 503 from the org")

    (email,) = mail.outbox
    assert email.to == ["am@vendor.example"]
    assert email.subject == "Push failing: Acme Secret-A Ltd, Opero Documents (6 seats)"
    assert "Last error: HTTP 503 from the org" in email.body
    assert "Attempts so far: 5" in email.body
    assert f"https://seats.example/backoffice/accounts/{accounts.organization.pk}/#pushes" in email.body


def test_the_account_manager_hears_from_licensing_when_pushes_to_a_down_org_keep_failing(
    accounts, django_capture_on_commit_callbacks
):
    with socket.socket() as closed:  # a port nobody listens on: the org is down
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/seats"
    ConnectedOrg.objects.create(
        organization=accounts.organization,
        kind=ConnectedOrg.Kind.WEBHOOK,
        webhook_url=url,
        webhook_secret=webhook.new_secret(),
    )
    subscription = SubscriptionFactory(organization=accounts.organization, quantity=4)
    paid_seat_change(subscription, 6)
    seat_sync = SeatSync.objects.get(subscription=subscription)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(delivery.ALERT_AFTER_ATTEMPTS + 1):
            assert delivery.seat_sync_deliver(seat_sync_id=seat_sync.pk).outcome == "failed"

    (email,) = mail.outbox
    assert email.to == ["am@vendor.example"]
    assert email.subject == "Push failing: Acme Secret-A Ltd, Opero Documents (6 seats)"


def test_a_scheduled_decrease_that_cannot_take_effect_is_reported_once(
    accounts, period_end_plan, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory(organization=accounts.organization, plan=period_end_plan, quantity=5)
    LicenceAssignmentFactory.create_batch(2, subscription=subscription)
    change = seat_change_signed(subscription, 2)
    services.seat_change_approve(seat_change=change, actor=accounts.am)
    LicenceAssignmentFactory(subscription=subscription)
    mail.outbox.clear()

    boundary = subscription.current_period_end
    with django_capture_on_commit_callbacks(execute=True):
        services.scheduled_decreases_apply(now=boundary)
        services.scheduled_decreases_apply(now=boundary + timedelta(minutes=5))

    (email,) = mail.outbox
    assert email.to == ["am@vendor.example"]
    assert email.subject.startswith("Scheduled decrease on hold: Acme Secret-A Ltd")
    assert "3 licences would still be in use" in email.body


# --- The daily digest --------------------------------------------------------------------


def test_the_digest_lists_each_account_managers_own_pending_approvals_once_a_day(
    accounts, django_capture_on_commit_callbacks
):
    other_subscription = SubscriptionFactory(organization=accounts.other_organization, quantity=4)
    other = seat_change_signed(other_subscription, 2)
    SeatChange.objects.filter(pk=other.pk).update(signed_at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    staff_factory("account_manager", email="idle@vendor.example")  # nothing pending: no email
    now = datetime(2026, 11, 6, 7, tzinfo=UTC)  # a Friday

    with django_capture_on_commit_callbacks(execute=True):
        assert services.approval_digests_send(now=now) == 3
        assert services.approval_digests_send(now=now) == 0

    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert sorted(by_recipient) == ["am@vendor.example", "boss@vendor.example", "other@vendor.example"]
    assert accounts.decrease.number in by_recipient["am@vendor.example"].body
    assert other.number not in by_recipient["am@vendor.example"].body
    assert by_recipient["other@vendor.example"].subject == (
        "1 decrease waiting for approval (1 for more than two business days)"
    )
    boss = by_recipient["boss@vendor.example"].body
    assert accounts.decrease.number in boss and other.number in boss
    assert ApprovalDigest.objects.filter(day=date(2026, 11, 6)).count() == 3

    with django_capture_on_commit_callbacks(execute=True):
        assert services.approval_digests_send(now=now + timedelta(days=1)) == 3


# --- New accounts ------------------------------------------------------------------------


@pytest.fixture
def plan():
    return PlanFactory(code="signature-monthly", product__code="signature", unit_amount=900, max_seats=200)


def create_account(actor, plan, **overrides):
    arguments = {
        "actor": actor,
        "name": "  Initech   Ltd ",
        "billing_email": "AP@initech.example",
        "admin_name": "Peter Gibbons",
        "admin_email": "Peter@Initech.example",
        "plan": plan,
        "seats": 7,
        "period_start": date(2026, 1, 31),
        **overrides,
    }
    return services.account_create(**arguments)


def test_a_new_account_has_its_admin_and_a_pending_subscription(plan):
    am = staff_factory("account_manager")

    organization, subscription, invitation = create_account(am, plan)

    assert (organization.name, organization.slug, organization.billing_email) == (
        "Initech Ltd",
        "initech-ltd",
        "ap@initech.example",
    )
    assert organization.account_manager == am
    admin = User.objects.get(email="peter@initech.example")
    assert admin.full_name == "Peter Gibbons" and not admin.has_usable_password() and not admin.is_staff
    assert invitation is None
    # The account manager typed the address and the activation email goes there: it
    # is verified, so the admin can sign in by emailed code.
    assert admin.emailaddress_set.filter(email="peter@initech.example", verified=True, primary=True).exists()
    assert Membership.objects.get(organization=organization).role == "admin"
    assert (subscription.status, subscription.quantity, subscription.admin_email) == (
        "pending",
        7,
        admin.email,
    )
    assert subscription.current_period_start == datetime(2026, 1, 31, tzinfo=UTC)
    assert subscription.current_period_end == datetime(2026, 2, 28, tzinfo=UTC)
    actions = set(AuditEvent.objects.filter(actor=am).values_list("action", flat=True))
    assert actions == {"organization.created", "membership.created", "subscription.created"}
    assert mail.outbox == []


def test_activating_a_new_account_sends_the_product_is_now_active_email(
    plan, django_capture_on_commit_callbacks
):
    am = staff_factory("account_manager")

    with django_capture_on_commit_callbacks(execute=True):
        _, subscription, _ = create_account(am, plan, activate=True)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    (email,) = mail.outbox
    assert email.subject == "Opero Signature is now active"
    assert email.to == ["peter@initech.example"]
    assert CapabilityLink.objects.filter(subscription=subscription, revoked_at__isnull=True).count() == 2
    assert AuditEvent.objects.get(action="subscription.activated").actor == am


def test_an_account_manager_cannot_give_the_account_to_someone_else_but_a_manager_can(plan):
    am, manager = staff_factory("account_manager"), staff_factory("manager")
    colleague = staff_factory("account_manager")

    mine, _, _ = create_account(am, plan, account_manager=colleague)
    theirs, _, _ = create_account(manager, plan, slug="initech-2", account_manager=colleague)

    assert mine.account_manager == am
    assert theirs.account_manager == colleague


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": " "}, "name"),
        ({"billing_email": "not-an-email"}, "billing_email"),
        ({"admin_email": "nope"}, "admin_email"),
        ({"admin_name": ""}, "admin_name"),
        ({"seats": 0}, "seats"),
        ({"seats": 201}, "seats"),
        ({"admin_email": "am@vendor.example"}, "admin_email"),
    ],
)
def test_a_new_account_with_bad_input_creates_nothing(plan, overrides, field):
    am = staff_factory("account_manager", email="am@vendor.example")

    with pytest.raises(InvalidInput) as refused:
        create_account(am, plan, **overrides)

    assert refused.value.extra["field"] == field
    assert not Organization.objects.exists() and not Subscription.objects.exists()


def test_a_taken_short_name_is_refused(plan):
    am = staff_factory("account_manager")
    create_account(am, plan)

    with pytest.raises(InvalidInput, match="“initech-ltd” is already used") as refused:
        create_account(am, plan, admin_email="other@initech.example")

    assert refused.value.extra["field"] == "slug"
    assert Organization.objects.count() == 1


def test_an_existing_customers_address_gets_an_invitation_not_a_membership(
    plan, django_capture_on_commit_callbacks
):
    am = staff_factory("account_manager")
    first, _, _ = create_account(am, plan)
    peter = User.objects.get(email="peter@initech.example")

    with django_capture_on_commit_callbacks(execute=True):
        second, _, invitation = create_account(am, plan, name="Initech Europe", activate=True)

    assert User.objects.filter(email__iexact="peter@initech.example").count() == 1
    assert list(Membership.objects.filter(user=peter).values_list("organization", flat=True)) == [first.pk]
    assert (invitation.organization, invitation.email, invitation.accepted_at) == (
        second,
        "peter@initech.example",
        None,
    )
    assert AuditEvent.objects.filter(action="invitation.created", actor=am, organization=second).exists()
    assert not AuditEvent.objects.filter(action="membership.created", organization=second).exists()
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects == ["Opero Signature is now active", "You are invited to manage Initech Europe on Opero"]
    assert all(m.to == ["peter@initech.example"] for m in mail.outbox)


# --- A change on the customer's behalf ---------------------------------------------------


def test_a_change_started_for_the_customer_is_signed_by_their_admin_from_an_email(
    accounts, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "http://testserver"
    subscription = SubscriptionFactory(
        organization=accounts.organization, quantity=2, admin_email="ada@customer.example"
    )

    with django_capture_on_commit_callbacks(execute=True):
        change = services.seat_change_start_for_customer(
            subscription=subscription,
            actor=accounts.am,
            raw_new_total="4",
            signer_name="Ada Admin",
            signer_email="ada@customer.example",
        )

    assert (change.state, change.requested_by, change.requested_via) == ("draft", accounts.am, "backoffice")
    assert (change.signer_name, change.signer_email) == ("Ada Admin", "ada@customer.example")
    (email,) = mail.outbox
    assert email.to == ["ada@customer.example"]
    assert email.subject.startswith("Please sign the Opero Documents seat change agreement")
    link = CapabilityLink.objects.get(seat_change=change)
    assert link.action == "sign" and link.email == "ada@customer.example"
    assert AuditEvent.objects.get(action="seat_change.created", object_id=str(change.pk)).actor == accounts.am


@pytest.mark.parametrize(
    ("name", "email", "field"),
    [
        ("", "ada@customer.example", "signer_name"),
        ("Ada", "nope", "signer_email"),
        ("Ada", "", "signer_email"),
    ],
)
def test_a_change_for_the_customer_needs_someone_to_sign_it(accounts, name, email, field):
    with pytest.raises(InvalidInput) as refused:
        services.seat_change_start_for_customer(
            subscription=accounts.subscription,
            actor=accounts.am,
            raw_new_total="6",
            signer_name=name,
            signer_email=email,
        )

    assert refused.value.extra["field"] == field


def test_the_open_change_blocks_another_started_for_the_customer(accounts):
    with pytest.raises(seat_changes.SeatChangeAlreadyOpen):
        services.seat_change_start_for_customer(
            subscription=accounts.subscription,
            actor=accounts.am,
            raw_new_total="6",
            signer_name="Ada",
            signer_email="ada@customer.example",
        )


def test_an_open_draft_is_not_waiting_for_anyone_in_the_queue(accounts):
    seat_change_open(SubscriptionFactory(organization=accounts.organization, quantity=4), 2)

    rows = approvals_queue(scope=StaffScope(accounts.am), now=timezone.now())

    assert [row.seat_change for row in rows] == [accounts.decrease]
