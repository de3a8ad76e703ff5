"""Who reaches the back office: every back-office URL pattern, requested by anonymous
visitors, a customer admin, another organization's account manager, this
organization's account manager and a manager.

The test walks the URL configuration under `backoffice:`, so a new back-office URL
fails here until someone says which of organization A's objects it takes.
"""

import pytest
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audit.models import AuditEvent
from backoffice.access import StaffScope
from backoffice.selectors import accounts_list, approvals_queue
from licensing.models import ConnectedOrg
from subscriptions import links
from subscriptions.models import CapabilityLink, Organization, SeatChange, Subscription
from tests.factories import LicenceAssignmentFactory, MembershipFactory, SubscriptionFactory

from .factories import payment_factory, seat_change_signed, staff_factory

pytestmark = pytest.mark.django_db

A_SECRETS = ("Acme Secret-A Ltd", "ada@customer.example")


def backoffice_patterns(resolver=None, namespace=""):
    """(name, route) of every URL pattern in the `backoffice` namespace."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or namespace
            yield from (
                (name, str(entry.pattern) + route) for name, route in backoffice_patterns(entry, inner)
            )
        elif isinstance(entry, URLPattern) and namespace == "backoffice":
            yield f"backoffice:{entry.name}", str(entry.pattern)


class World:
    """Organization A (account manager `am`) with a decrease awaiting approval, its
    signed agreement, and active links; organization B (account manager `other_am`)."""

    def __init__(self):
        self.am = staff_factory("account_manager", email="am@vendor.example")
        self.other_am = staff_factory("account_manager", email="other@vendor.example")
        self.manager = staff_factory("manager", email="boss@vendor.example")
        self.customer = MembershipFactory(
            user__email="ada@customer.example",
            user__password=None,
            organization__name="Acme Secret-A Ltd",
            organization__account_manager=self.am,
        )
        self.organization = self.customer.organization
        MembershipFactory(
            user__password=None,
            organization__name="Globex B Ltd",
            organization__account_manager=self.other_am,
        )
        self.subscription = SubscriptionFactory(
            organization=self.organization, quantity=5, admin_email="ada@customer.example"
        )
        LicenceAssignmentFactory.create_batch(2, subscription=self.subscription)
        self.decrease = seat_change_signed(self.subscription, 3, with_agreement=True)
        links.links_email(subscription=self.subscription, subject="Your links")
        self.link = CapabilityLink.objects.filter(subscription=self.subscription).first()
        increase = seat_change_signed(SubscriptionFactory(organization=self.organization, quantity=2), 3)
        self.payment = payment_factory(increase)
        mail.outbox.clear()

    def kwargs(self):
        number = {"number": self.decrease.number}
        organization = {"pk": self.organization.pk}
        subscription = {"pk": self.subscription.pk}
        return {
            "backoffice:approvals": {},
            "backoffice:accounts": {},
            "backoffice:account_new": {},
            "backoffice:seat_change": number,
            "backoffice:agreement_pdf": number,
            "backoffice:approve": number,
            "backoffice:reject": number,
            "backoffice:account": organization,
            "backoffice:audit_csv": organization,
            "backoffice:subscription_new": organization,
            "backoffice:test_push": organization,
            "backoffice:connected_org_edit": organization,
            "backoffice:subscription_activate": subscription,
            "backoffice:change_start": subscription,
            "backoffice:links_send": subscription,
            "backoffice:links_rotate": subscription,
            "backoffice:link_revoke": {"pk": self.link.pk},
            "backoffice:payment_receipt": {"pk": self.payment.pk},
        }

    def a_state(self):
        return (
            SeatChange.objects.get(pk=self.decrease.pk).state,
            Subscription.objects.filter(organization=self.organization).count(),
            Subscription.objects.get(pk=self.subscription.pk).quantity,
            CapabilityLink.objects.filter(subscription=self.subscription, revoked_at__isnull=True).count(),
            AuditEvent.objects.filter(organization=self.organization).count(),
            Organization.objects.count(),
            ConnectedOrg.objects.count(),
        )


# Pages anyone on the staff opens, with nothing of an organization in the URL.
UNSCOPED = {"backoffice:approvals", "backoffice:accounts", "backoffice:account_new"}
POST_ONLY = {
    "backoffice:approve",
    "backoffice:reject",
    "backoffice:test_push",
    "backoffice:subscription_activate",
    "backoffice:links_send",
    "backoffice:links_rotate",
    "backoffice:link_revoke",
}


@pytest.fixture
def world():
    return World()


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_every_back_office_url_is_in_the_matrix(world):
    assert sorted(name for name, _ in backoffice_patterns()) == sorted(world.kwargs())


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitors_are_sent_to_sign_in_and_change_nothing(world, method):
    client = client_for(None)
    before = world.a_state()

    for name, kwargs in world.kwargs().items():
        response = getattr(client, method)(reverse(name, kwargs=kwargs))

        assert response.status_code == 302, name
        assert response["Location"].startswith("/accounts/login/"), name
    assert world.a_state() == before
    assert mail.outbox == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_customers_never_reach_a_back_office_page(world, method):
    client = client_for(world.customer.user)
    before = world.a_state()

    for name, kwargs in world.kwargs().items():
        response = getattr(client, method)(reverse(name, kwargs=kwargs))

        assert response.status_code == 403, name
        # The refusal page's header names the customer's own organization; what the
        # page itself says shows nothing of the back office's.
        body = response.content.decode().split("<main", 1)[1]
        assert "Secret-A" not in body and "My subscriptions" in body, name
    assert world.a_state() == before
    assert mail.outbox == []


def test_staff_without_a_back_office_role_are_refused(world):
    client = client_for(staff_factory("", email="support@vendor.example"))

    for name, kwargs in world.kwargs().items():
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 403, name


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_account_manager_never_sees_nor_touches_this_account(world, method):
    client = client_for(world.other_am)
    before = world.a_state()

    for name, kwargs in world.kwargs().items():
        response = getattr(client, method)(reverse(name, kwargs=kwargs))
        body = response.content.decode(errors="replace")

        if name in UNSCOPED:
            assert response.status_code in (200, 400, 405), name
        else:
            assert response.status_code in (404, 405), (name, response.status_code)
        assert not any(secret in body for secret in A_SECRETS), name
    assert world.a_state() == before
    assert mail.outbox == []


@pytest.mark.parametrize("role", ["am", "manager"])
def test_this_accounts_manager_and_managers_open_every_page(world, role):
    client = client_for(getattr(world, role))

    for name, kwargs in world.kwargs().items():
        response = client.get(reverse(name, kwargs=kwargs))

        expected = 405 if name in POST_ONLY else 200
        assert response.status_code == expected, (name, response.status_code)
        if name in ("backoffice:approvals", "backoffice:accounts", "backoffice:account"):
            assert "Acme Secret-A Ltd" in response.content.decode(), name


def test_the_scope_itself_lists_only_the_account_managers_organizations(world):
    mine, theirs, everyone = (StaffScope(u) for u in (world.am, world.other_am, world.manager))
    b_change = seat_change_signed(
        SubscriptionFactory(organization=Organization.objects.get(name="Globex B Ltd"), quantity=4), 2
    )

    assert [o.name for o in accounts_list(scope=mine)] == ["Acme Secret-A Ltd"]
    assert [o.name for o in accounts_list(scope=theirs)] == ["Globex B Ltd"]
    assert len(accounts_list(scope=everyone)) == 2
    assert [r.seat_change for r in approvals_queue(scope=mine)] == [world.decrease]
    assert [r.seat_change for r in approvals_queue(scope=theirs)] == [b_change]
    assert {r.seat_change for r in approvals_queue(scope=everyone)} == {world.decrease, b_change}
