"""Stripe's renewal events, signed, in the pinned API version's shapes, for
subscriptions linked through the strict Stripe stand-in: the renewal invoice paid or
failed, the cardholder asked to confirm, Stripe giving up after dunning. Our period
follows Stripe's, and is never rolled twice."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from billing.models import RenewalInvoice, StripeEvent
from licensing import selectors as licensing_selectors
from subscriptions import periods
from subscriptions import services as subscription_services
from subscriptions.models import SeatSync, Subscription
from tests.backoffice.factories import seat_change_signed, staff_factory
from tests.billing.stripe_renewals import (  # noqa: F401
    deliver,
    linked,
    on_standin_fixture,
    renewal_invoice,
    stripe_subscription_object,
)
from tests.factories import (
    LicenceAssignmentFactory,
    MembershipFactory,
    OrganizationFactory,
    OrgUserFactory,
    SubscriptionFactory,
)
from tests.stripe_standin.fixtures import stripe_standin, stripe_standin_server  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("on_standin", "celery_eager"),
]


def next_period(subscription: Subscription):
    return periods.next_period(subscription)


def licensed_subscription(**kwargs) -> Subscription:
    """A linked subscription with one user holding a licence, looked after by an
    account manager."""
    manager = staff_factory("account_manager", email="am@vendor.example")
    organization = OrganizationFactory(account_manager=manager)
    subscription = linked(
        SubscriptionFactory(organization=organization, admin_email="ada@acme.example", quantity=4, **kwargs)
    )
    user = OrgUserFactory(organization=organization, email="grace@acme.example")
    LicenceAssignmentFactory(subscription=subscription, org_user=user)
    mail.outbox.clear()
    return subscription


def holds_licence(subscription: Subscription) -> bool:
    return licensing_selectors.is_licensed(
        organization_id=subscription.organization_id,
        product_code=subscription.plan.product.code,
        email="grace@acme.example",
    )


def test_a_paid_renewal_invoice_moves_our_period_to_the_one_it_paid_for(client):
    subscription = licensed_subscription()
    start, end = next_period(subscription)

    deliver(
        client,
        "invoice.paid",
        renewal_invoice(subscription, "in_renewal_0001", start=start, end=end, amount=4 * 1500, paid=True),
    )

    record = RenewalInvoice.objects.get()
    assert (record.status, record.amount, record.number) == ("paid", 6000, "INV-0001")
    subscription.refresh_from_db()
    assert int(subscription.current_period_start.timestamp()) == int(start.timestamp())
    assert int(subscription.current_period_end.timestamp()) == int(end.timestamp())
    assert subscription.status == "active"
    # Stripe's subscription.updated for the same period, and our own roll, change nothing.
    deliver(
        client,
        "customer.subscription.updated",
        stripe_subscription_object(subscription, status="active", start=start, end=end),
    )
    roll = periods.subscription_periods_roll(now=start + timedelta(minutes=1))
    assert roll.renewed == []
    assert AuditEvent.objects.filter(action="subscription.period_followed").count() == 1
    assert not AuditEvent.objects.filter(action="subscription.renewed").exists()


def test_our_roll_first_then_stripes_events_for_the_same_period_roll_nothing_twice(client):
    subscription = licensed_subscription()
    old_end = subscription.current_period_end
    start, end = next_period(subscription)

    periods.subscription_periods_roll(now=old_end + timedelta(seconds=1))
    deliver(
        client,
        "customer.subscription.updated",
        stripe_subscription_object(subscription, status="active", start=start, end=end),
    )
    deliver(
        client,
        "invoice.paid",
        renewal_invoice(subscription, "in_renewal_0002", start=start, end=end, amount=6000, paid=True),
    )
    # A late delivery about the period before changes nothing either.
    deliver(
        client,
        "customer.subscription.updated",
        stripe_subscription_object(
            subscription, status="active", start=subscription.current_period_start, end=old_end
        ),
    )

    subscription.refresh_from_db()
    assert subscription.current_period_start == start and subscription.current_period_end == end
    assert AuditEvent.objects.filter(action="subscription.renewed").count() == 1
    assert not AuditEvent.objects.filter(action="subscription.period_followed").exists()


def test_a_failed_renewal_makes_it_overdue_and_emails_the_invoice_then_paying_it_recovers(client):
    subscription = licensed_subscription()
    start, end = next_period(subscription)
    failed = renewal_invoice(subscription, "in_renewal_0003", start=start, end=end, amount=6000, paid=False)

    deliver(client, "invoice.payment_failed", failed)
    deliver(client, "invoice.payment_failed", failed)  # Stripe's next retry fails too

    subscription.refresh_from_db()
    assert subscription.status == "past_due"
    assert holds_licence(subscription)  # licences keep working while overdue
    (email,) = mail.outbox
    assert email.to == ["ada@acme.example"] and email.subject.startswith("Payment overdue")
    assert "https://invoice.stripe.com/i/acct_test/in_renewal_0003" in email.body
    # An unpaid renewal does not move our period (Stripe's subscription.updated does).
    assert subscription.current_period_end < start + timedelta(seconds=1)

    deliver(client, "invoice.paid", {**failed, "status": "paid", "amount_paid": 6000})

    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert int(subscription.current_period_end.timestamp()) == int(end.timestamp())


def test_a_subscription_stripe_deletes_after_dunning_ends_and_everyone_is_told(client):
    subscription = licensed_subscription()
    start, end = next_period(subscription)
    failed = renewal_invoice(subscription, "in_renewal_0004", start=start, end=end, amount=6000, paid=False)
    change = seat_change_signed(subscription, 6)  # an increase waiting for payment
    for _retry in range(4):
        deliver(client, "invoice.payment_failed", failed)
    mail.outbox.clear()

    deliver(
        client,
        "customer.subscription.deleted",
        stripe_subscription_object(subscription, status="canceled", start=start, end=end),
        "evt_deleted_after_dunning",
    )
    deliver(  # delivered twice
        client,
        "customer.subscription.deleted",
        stripe_subscription_object(subscription, status="canceled", start=start, end=end),
        "evt_deleted_after_dunning",
    )

    subscription.refresh_from_db()
    change.refresh_from_db()
    assert subscription.status == "cancelled" and not subscription.is_live
    assert change.state == "cancelled"
    assert not holds_licence(subscription)
    (push,) = SeatSync.objects.filter(subscription=subscription, quantity=0)
    assert push.version == subscription.seats_version
    by_address = {email.to[0]: email for email in mail.outbox}
    assert sorted(by_address) == ["ada@acme.example", "am@vendor.example"]
    assert "could not be collected" in by_address["ada@acme.example"].body
    assert "no longer work" in by_address["ada@acme.example"].body
    assert by_address["am@vendor.example"].subject.startswith("Subscription ended:")
    assert StripeEvent.objects.filter(stripe_id="evt_deleted_after_dunning").count() == 1
    (ended,) = AuditEvent.objects.filter(action="subscription.ended")
    assert ended.actor_label == "Stripe"


def test_unpaid_after_dunning_ends_the_subscription(client):
    subscription = licensed_subscription()

    deliver(
        client,
        "customer.subscription.updated",
        stripe_subscription_object(
            subscription,
            status="unpaid",
            start=subscription.current_period_start,
            end=subscription.current_period_end,
        ),
    )

    subscription.refresh_from_db()
    assert subscription.status == "cancelled"
    assert not holds_licence(subscription)
    assert SeatSync.objects.filter(subscription=subscription, quantity=0).exists()


def test_an_invoice_marked_uncollectible_ends_the_subscription(client):
    subscription = licensed_subscription()
    start, end = next_period(subscription)
    invoice = renewal_invoice(
        subscription, "in_renewal_0005", start=start, end=end, amount=6000, paid=False, status="uncollectible"
    )

    deliver(client, "invoice.marked_uncollectible", invoice)

    subscription.refresh_from_db()
    assert RenewalInvoice.objects.get().status == "uncollectible"
    assert subscription.status == "cancelled"
    assert not holds_licence(subscription)
    assert {email.to[0] for email in mail.outbox} == {"ada@acme.example", "am@vendor.example"}


def test_a_payment_the_bank_wants_confirmed_emails_the_admin_stripes_page_once(client):
    subscription = licensed_subscription()
    start, end = next_period(subscription)
    invoice = renewal_invoice(subscription, "in_renewal_0006", start=start, end=end, amount=6000, paid=False)

    deliver(client, "invoice.payment_action_required", invoice)
    deliver(client, "invoice.payment_action_required", invoice)  # another event, same invoice

    (email,) = mail.outbox
    assert email.to == ["ada@acme.example"]
    assert email.subject.startswith("Please confirm your payment")
    assert "Confirm it here: https://invoice.stripe.com/i/acct_test/in_renewal_0006" in email.body
    subscription.refresh_from_db()
    assert subscription.status == "past_due"
    assert RenewalInvoice.objects.get().status == "action_required"
    # The admin's dashboard says so too, with the same link.
    admin = MembershipFactory(organization=subscription.organization, user__email="ada@acme.example").user
    page_client = Client()
    page_client.force_login(admin)
    page = page_client.get("/dashboard/").content.decode()
    assert "Payment overdue: €60.00, invoice INV-0006. Your bank asks you to confirm it" in page
    link = "https://invoice.stripe.com/i/acct_test/in_renewal_0006"
    assert f'<a href="{link}" rel="noopener">Confirm the payment</a>' in page

    # Stripe also reports the attempt as failed: the admin was asked already.
    deliver(client, "invoice.payment_failed", invoice)
    assert len(mail.outbox) == 1

    deliver(client, "invoice.paid", {**invoice, "status": "paid", "amount_paid": 6000})

    subscription.refresh_from_db()
    assert subscription.status == "active"


def test_a_subscription_cancelled_at_period_end_that_stripe_ends_then_ends_as_asked(client):
    subscription = licensed_subscription()
    subscription_services.subscription_cancel(subscription=subscription)
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end
    Subscription.objects.filter(pk=subscription.pk).update(
        current_period_start=timezone.now() - timedelta(days=30), current_period_end=timezone.now()
    )
    subscription.refresh_from_db()
    mail.outbox.clear()

    deliver(
        client,
        "customer.subscription.deleted",
        stripe_subscription_object(
            subscription,
            status="canceled",
            start=subscription.current_period_start,
            end=subscription.current_period_end,
        ),
    )

    subscription.refresh_from_db()
    assert subscription.status == "cancelled"
    (email,) = mail.outbox  # the admin, as for any cancellation; nobody else needs telling
    assert email.to == ["ada@acme.example"] and "as asked" in email.body
    # Our own roll finds nothing left to end.
    assert periods.subscription_periods_roll().ended == []
