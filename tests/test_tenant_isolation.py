"""An admin of organization A, against every customer URL and API endpoint, with the
ids of organization B's objects: never B's data, never a change to B.

The test walks the URL configuration itself, so a new customer URL without an
entry in OBJECT_KWARGS fails here until someone says which of B's objects it takes.
"""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from licensing.models import LicenceAssignment, OrgUser, UserImport
from subscriptions import links
from subscriptions.models import ApiKey, CapabilityLink, Invitation, Membership, SeatChange, hash_secret
from tests.factories import (
    LicenceAssignmentFactory,
    MembershipFactory,
    OrgUserFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Not customer-facing or public by design: vendor admin, sign-in, API docs, the
# DEBUG mailbox, the agreement verification page anyone may use, and the vendor's
# back office (staff only: tests/backoffice has its own permission matrix).
EXCLUDED_PREFIXES = (
    "backoffice/",
    "admin/",
    "accounts/",
    "api/schema/",
    "api/docs/",
    "_dev/",
    "agreements/verify/",
)


def walk(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            namespace = entry.namespace
            for name, full in walk(entry, route):
                yield (f"{namespace}:{name}" if namespace and name else name), full
        elif isinstance(entry, URLPattern):
            yield entry.name, route


def customer_patterns():
    return sorted(
        {(name, route) for name, route in walk() if name and not route.startswith(EXCLUDED_PREFIXES)}
    )


class World:
    """Organizations A (the caller) and B (the target), each with a live subscription,
    a licensed user, an API key, an open seat change and unique links."""

    def __init__(self):
        self.a = MembershipFactory(user__email="admin-a@a.example")
        self.b = MembershipFactory(user__email="admin-b@b.example")
        self.sub_a = SubscriptionFactory(organization=self.a.organization, quantity=3)
        self.sub_b = SubscriptionFactory(organization=self.b.organization, quantity=3)
        self.user_a = OrgUserFactory(organization=self.a.organization, name="Alice Tenant-A")
        self.user_b = LicenceAssignmentFactory(
            subscription=self.sub_b, org_user__name="Bob Secret-B", org_user__email="bob@b.example"
        ).org_user
        self.unlicensed_b = OrgUserFactory(organization=self.b.organization, name="Bea Secret-B")
        self.key_a = self._key(self.a.organization)
        self.key_b = ApiKey.objects.get(key_hash=hash_secret(self._key(self.b.organization)))
        self.change_b = self._change(self.b, self.sub_b)
        self.receipt_b = self._paid(self.change_b)
        self.import_b = UserImport.objects.create(
            organization=self.b.organization,
            filename="b.csv",
            content="name,email,status,products\nBob Secret-B,bob@b.example,Inactive,\n",
        )
        _, self.token_a = links.link_issue(
            subscription=self.sub_a, action=CapabilityLink.Action.CHANGE_SEATS, email="a@a.example"
        )
        _, self.cancel_token_a = links.link_issue(
            subscription=self.sub_a, action=CapabilityLink.Action.CANCEL, email="a@a.example"
        )
        # An invitation to B for someone else, as emailed to them.
        self.invitation_token_b = "invitation-to-b-" + "x" * 30
        Invitation.objects.create(
            organization=self.b.organization,
            email="new-admin@b.example",
            token_hash=hash_secret(self.invitation_token_b),
        )
        _, self.token_b = links.link_issue(
            subscription=self.sub_b, action=CapabilityLink.Action.CHANGE_SEATS, email="b@b.example"
        )
        _, self.sign_token_b = links.link_issue(
            subscription=self.sub_b,
            action=CapabilityLink.Action.SIGN,
            email="bob@b.example",
            seat_change=self.change_b,
        )
        # B's links opened in B's own browser: their session ids mean nothing in A's.
        b_browser = Client()
        self.sid_b = open_link(b_browser, self.token_b)
        self.sign_sid_b = open_link(b_browser, self.sign_token_b)

    def open_links(self, client):
        """Open A's own links in `client` (A's browser)."""
        self.sid_a = open_link(client, self.token_a)
        self.cancel_sid_a = open_link(client, self.cancel_token_a)

    @staticmethod
    def _key(organization):
        raw = ApiKey.generate_raw()
        ApiKey.objects.create(organization=organization, name="k", prefix=raw[:10], key_hash=hash_secret(raw))
        return raw

    @staticmethod
    def _change(membership, subscription):
        client = Client()
        client.force_login(membership.user)
        client.post(f"/subscriptions/{subscription.pk}/change/", {"new_total": "4"})
        return SeatChange.objects.get(subscription=subscription)

    @staticmethod
    def _paid(change):
        from billing.models import Payment

        return Payment.objects.create(
            organization_id=change.organization_id,
            subscription_id=change.subscription_id,
            seat_change=change,
            amount=1000,
            currency="eur",
            status=Payment.Status.SUCCEEDED,
            receipt_number="R-2026-999999",
        ).receipt_number

    def b_state(self):
        return (
            sorted(OrgUser.objects.filter(organization=self.b.organization).values_list("name", "status")),
            LicenceAssignment.objects.filter(subscription=self.sub_b).count(),
            ApiKey.objects.get(pk=self.key_b.pk).revoked_at,
            SeatChange.objects.get(pk=self.change_b.pk).state,
            self.sub_b.__class__.objects.get(pk=self.sub_b.pk).cancel_at_period_end,
            UserImport.objects.get(pk=self.import_b.pk).applied_at,
            sorted(Membership.objects.filter(organization=self.b.organization).values_list("user_id")),
        )


def open_link(client, token) -> str:
    """Open `/l/<token>/` as a browser does: the session id of the link's pages."""
    location = client.get(f"/l/{token}/")["Location"]
    assert location.startswith("/link/") and token not in location
    return location.split("/")[2]


def object_kwargs(world):
    """For each URL name: the kwargs that point it at B's objects (from A's side)."""
    b, a = world, world
    return {
        "subscriptions:detail": [{"pk": b.sub_b.pk}],
        "subscriptions:api_key_revoke": [{"pk": b.key_b.pk}],
        "subscriptions:invitation": [{"token": b.invitation_token_b}],
        "licensing:user_status": [{"pk": b.user_b.pk}],
        "licensing:user_activate": [{"pk": b.user_b.pk}],
        "licensing:import_preview": [{"pk": b.import_b.pk}],
        "licensing:user_delete": [{"pk": b.user_b.pk}],
        "licensing:assign": [
            {"pk": b.unlicensed_b.pk, "subscription_pk": b.sub_b.pk},
            {"pk": a.user_a.pk, "subscription_pk": b.sub_b.pk},
            {"pk": b.unlicensed_b.pk, "subscription_pk": a.sub_a.pk},
        ],
        "licensing:remove": [
            {"pk": b.user_b.pk, "subscription_pk": b.sub_b.pk},
            {"pk": b.user_b.pk, "subscription_pk": a.sub_a.pk},
        ],
        "api-licences": [{"pk": b.sub_b.pk}],
        "api-licence": [
            {"pk": b.sub_b.pk, "user_id": b.user_b.pk},
            {"pk": a.sub_a.pk, "user_id": b.user_b.pk},
        ],
        "api-user": [{"pk": b.user_b.pk}],
        # A's link (opened in A's session) with B's objects, and B's links' session ids.
        **{
            f"portal:link_{name}": [
                {"sid": a.sid_a, "number": b.change_b.number},
                {"sid": b.sid_b, "number": b.change_b.number},
                {"sid": b.sign_sid_b, "number": b.change_b.number},
            ]
            for name in (
                "seat_change",
                "agreement_pdf",
                "sign",
                "withdraw",
                "pay",
                "pay_card",
                "pay_confirm",
                "payment_status",
            )
        },
        "portal:link_receipt_pdf": [
            {"sid": a.sid_a, "receipt_number": b.receipt_b},
            {"sid": b.sid_b, "receipt_number": b.receipt_b},
        ],
        **{
            f"portal:link_{name}": [{"sid": b.sid_b}, {"sid": b.sign_sid_b}]
            for name in ("change", "quote", "cancel", "keep", "payments")
        },
        "portal:admin_receipt_pdf": [
            {"subscription_pk": b.sub_b.pk, "receipt_number": b.receipt_b},
            {"subscription_pk": a.sub_a.pk, "receipt_number": b.receipt_b},
        ],
        **{
            f"portal:admin_{name}": [{"subscription_pk": b.sub_b.pk}]
            for name in ("change", "quote", "cancel", "keep", "rotate_links", "payments", "buy_seat")
        },
        **{
            f"portal:admin_{name}": [
                {"subscription_pk": b.sub_b.pk, "number": b.change_b.number},
                {"subscription_pk": a.sub_a.pk, "number": b.change_b.number},
            ]
            for name in (
                "seat_change",
                "agreement_pdf",
                "sign",
                "withdraw",
                "pay",
                "pay_card",
                "pay_confirm",
                "payment_status",
            )
        },
    }


# Routes that take no id of another organization: A's own pages, A's own links.
# They are still requested, and must show nothing of B.
OWN_KWARGS = {
    "wizard_step": lambda w: {"step": "users"},
    "portal:link": lambda w: {"token": w.token_a},
    # A's link asking for B's seat change page: it lands on a 404.
    "portal:link_to": lambda w: {"token": w.token_a, "then": f"changes/{w.change_b.number}/"},
    "portal:link_change": lambda w: {"sid": w.sid_a},
    "portal:link_quote": lambda w: {"sid": w.sid_a},
    "portal:link_cancel": lambda w: {"sid": w.cancel_sid_a},
    "portal:link_payments": lambda w: {"sid": w.sid_a},
}

B_SECRETS = ("Bob Secret-B", "Bea Secret-B", "bob@b.example")


def test_every_customer_url_refuses_another_organizations_objects():
    world = World()
    session = Client()
    session.force_login(world.a.user)
    world.open_links(session)
    kwargs_by_name = object_kwargs(world)
    patterns = customer_patterns()
    unknown = [
        (name, route)
        for name, route in patterns
        if name not in kwargs_by_name and name not in OWN_KWARGS and "<" in route
    ]
    assert unknown == [], "say which of B's objects these URLs take, in object_kwargs()"

    api = Client(HTTP_AUTHORIZATION=f"Api-Key {world.key_a}")
    before = world.b_state()
    checked = 0
    from django.urls import reverse

    for name, route in patterns:
        is_api = route.startswith("api/v1/")
        clients = (session, api) if is_api else (session,)
        if name in kwargs_by_name:
            for kwargs in kwargs_by_name[name]:
                url = reverse(name, kwargs=kwargs)
                for client in clients:
                    for method in ("get", "post", "patch", "delete"):
                        response = getattr(client, method)(url, content_type="application/json")
                        body = response.content.decode(errors="replace")
                        assert response.status_code in (403, 404, 405), (
                            name,
                            method,
                            response.status_code,
                        )
                        assert not any(secret in body for secret in B_SECRETS), (name, method)
                        checked += 1
        if name not in kwargs_by_name or name in OWN_KWARGS:
            own = OWN_KWARGS.get(name)
            url = reverse(name, kwargs=own(world) if own else None)
            for client in clients:
                response = client.get(url, follow=True)
                body = response.content.decode(errors="replace")
                assert not any(secret in body for secret in B_SECRETS), name
                checked += 1
        assert world.b_state() == before, f"{name} changed organization B"
    assert checked > 100


def test_the_licence_check_never_answers_for_another_organizations_people():
    world = World()
    api = Client(HTTP_AUTHORIZATION=f"Api-Key {world.key_a}")
    own = Client(HTTP_AUTHORIZATION=f"Api-Key {world.key_b.prefix}")  # a truncated key is no key

    response = api.get("/api/v1/licences/check", {"product": "documents", "email": "bob@b.example"})

    assert response.json() == {"licensed": False}
    assert (
        own.get("/api/v1/licences/check", {"product": "documents", "email": "bob@b.example"}).status_code
        == 401
    )
