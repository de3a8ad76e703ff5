"""The pages and API lists that show a whole organization make as many SQL queries
for 1,000 org users as for 10, and for 4 subscriptions as for 1: no query per user,
per licence or per subscription (My subscriptions tells each renewal and where each
seat count stands in the org without asking per subscription).

The same pages and the back office's lists make as many queries for 120 organizations
(`manage.py seed_scale`) as for 60 (two pages of accounts at both sizes).

Counts only, never timings. "Manage licences" lists every user on one page, so its
size still grows with the users; its query count must not.
"""

import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from licensing.models import LicenceAssignment, OrgUser
from subscriptions.models import ApiKey, PendingInvalidation, SeatChange, SeatSync, hash_secret
from tests.factories import (
    MembershipFactory,
    OrgUserFactory,
    PlanFactory,
    ProductFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

SMALL, LARGE = 10, 1_000


def organization_of(users: int) -> dict[str, Client]:
    """An organization with two live subscriptions and `users` org users (bulk
    created; every other one holds a licence of each product, one is Inactive).
    Returns a signed-in admin's client and an API-key client."""
    membership = MembershipFactory()
    organization = membership.organization
    subscriptions = [
        SubscriptionFactory(
            organization=organization,
            quantity=users,
            plan=PlanFactory(product=ProductFactory(code=code)),
        )
        for code in ("documents", "projects")
    ]
    org_users = OrgUser.objects.bulk_create(OrgUserFactory.build_batch(users, organization=organization))
    org_users[-1].status = OrgUser.Status.INACTIVE
    org_users[-1].save()
    LicenceAssignment.objects.bulk_create(
        LicenceAssignment(organization=organization, subscription=subscription, org_user=org_user)
        for subscription in subscriptions
        for org_user in org_users[:-1:2]
    )

    raw_key = ApiKey.generate_raw()
    ApiKey.objects.create(
        organization=organization, name="CRM", prefix=raw_key[:10], key_hash=hash_secret(raw_key)
    )
    session = Client()
    session.force_login(membership.user)
    return {"session": session, "api_key": Client(headers={"Authorization": f"Api-Key {raw_key}"})}


# The hot cache reads its recorded failures at most every MAX_STALENESS per process, not
# per request: whether a GET happens to make that read depends on the clock.
HOT_CACHE_CHECK = f'FROM "{PendingInvalidation._meta.db_table}"'


def queries(client: Client, path: str) -> list[str]:
    """The SQL of one GET, after a first GET (which fills the API-key cache, as in
    production), without the hot cache's periodic check."""
    assert client.get(path).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries if HOT_CACHE_CHECK not in query["sql"]]


@pytest.fixture
def small_and_large():
    return organization_of(SMALL), organization_of(LARGE)


@pytest.mark.parametrize(
    ("path", "auth"),
    [
        pytest.param("/dashboard/", "session", id="my-subscriptions"),
        pytest.param("/licences/", "session", id="manage-licences"),
        pytest.param("/api/v1/subscriptions/", "api_key", id="api-subscriptions"),
    ],
)
def test_query_count_does_not_grow_with_the_users(small_and_large, path, auth):
    small, large = small_and_large

    small_queries = queries(small[auth], path)
    large_queries = queries(large[auth], path)

    assert len(small_queries) == len(large_queries), (
        f"{path}: {len(small_queries)} queries for {SMALL} users, "
        f"{len(large_queries)} for {LARGE}:\n" + "\n".join(large_queries)
    )


# --- More subscriptions --------------------------------------------------------------

ONE, SEVERAL = 1, 4


def organization_with_subscriptions(count: int) -> dict[str, Client]:
    """An organization with `count` live subscriptions of different products, each
    with a seat count delivered to the org and 2 of its 3 licences given."""
    membership = MembershipFactory()
    organization = membership.organization
    org_users = OrgUserFactory.create_batch(2, organization=organization)
    for n in range(count):
        subscription = SubscriptionFactory(
            organization=organization, plan=PlanFactory(product=ProductFactory(code=f"product-{n}"))
        )
        SeatSync.objects.create(
            organization=organization,
            subscription=subscription,
            quantity=subscription.quantity,
            version=1,
            status=SeatSync.Status.DELIVERED,
        )
        LicenceAssignment.objects.bulk_create(
            LicenceAssignment(organization=organization, subscription=subscription, org_user=org_user)
            for org_user in org_users
        )
    raw_key = ApiKey.generate_raw()
    ApiKey.objects.create(
        organization=organization, name="CRM", prefix=raw_key[:10], key_hash=hash_secret(raw_key)
    )
    session = Client()
    session.force_login(membership.user)
    return {"session": session, "api_key": Client(headers={"Authorization": f"Api-Key {raw_key}"})}


@pytest.mark.parametrize(
    ("path", "auth"),
    [
        pytest.param("/dashboard/", "session", id="my-subscriptions"),
        pytest.param("/licences/push-status/", "session", id="my-subscriptions-push-status"),
        pytest.param("/licences/", "session", id="manage-licences"),
        pytest.param("/api/v1/subscriptions/", "api_key", id="api-subscriptions"),
    ],
)
def test_query_count_does_not_grow_with_the_subscriptions(path, auth):
    one, several = organization_with_subscriptions(ONE), organization_with_subscriptions(SEVERAL)

    one_queries = queries(one[auth], path)
    several_queries = queries(several[auth], path)

    assert len(one_queries) == len(several_queries), (
        f"{path}: {len(one_queries)} queries for {ONE} subscription, "
        f"{len(several_queries)} for {SEVERAL}:\n" + "\n".join(several_queries)
    )


def test_my_subscriptions_tells_every_renewal_and_push():
    session = organization_with_subscriptions(SEVERAL)["session"]

    page = session.get("/dashboard/").content.decode()

    # 3 seats at the plan's €15.00 each, and the count delivered, for every subscription.
    assert page.count('data-testid="renewal">€45.00</strong>') == SEVERAL
    assert page.count("3 seats live in your org") == SEVERAL


# --- More organizations --------------------------------------------------------------

FEWER_ORGS, MORE_ORGS = 60, 120


def seeded_clients() -> dict[str, Client]:
    """Clients of `scale-00001`'s admin and API key, of the vendor's manager and of the
    first account manager (`manage.py seed_scale` data)."""
    from accounts.models import User
    from subscriptions.models import Organization

    raw_key = ApiKey.generate_raw()
    ApiKey.objects.create(
        organization=Organization.objects.get(slug="scale-00001"),
        name="CRM",
        prefix=raw_key[:10],
        key_hash=hash_secret(raw_key),
    )
    clients = {"api_key": Client(headers={"Authorization": f"Api-Key {raw_key}"})}
    for name, email in (
        ("session", "admin@scale-00001.example"),
        ("manager", "manager@scale.example"),
        ("account_manager", "am-000@scale.example"),
    ):
        clients[name] = Client()
        clients[name].force_login(User.objects.get(email=email))
    return clients


def seeded_paths() -> list[tuple[str, str]]:
    from subscriptions.models import Organization

    large = Organization.objects.get(slug="scale-00000").pk
    return [
        ("/dashboard/", "session"),
        ("/licences/", "session"),
        ("/api/v1/subscriptions/", "api_key"),
        ("/api/v1/users/", "api_key"),
        ("/backoffice/", "manager"),
        ("/backoffice/", "account_manager"),
        ("/backoffice/?sort=largest&product=scale-documents", "manager"),
        ("/backoffice/accounts/", "manager"),
        ("/backoffice/accounts/?q=Customer", "manager"),
        ("/backoffice/accounts/?q=Customer&page=2", "manager"),
        ("/backoffice/accounts/?q=Customer&page=99", "manager"),  # past the end: the last page
        (f"/backoffice/accounts/{large}/", "manager"),
    ]


CHECK = "/api/v1/licences/check?product=scale-documents&email="


def licence_check_queries(client: Client) -> dict[str, int]:
    """The SQL of a licence check asked again (warm), for a licensed user of
    `scale-00001`, and of one never asked (cold), after the API key is cached."""
    email = OrgUser.objects.filter(organization__slug="scale-00001", licences__isnull=False).values_list(
        "email", flat=True
    )[0]
    warm = queries(client, CHECK + email)
    assert client.get(CHECK + email).json() == {"licensed": True}
    with CaptureQueriesContext(connection) as captured:
        assert client.get(CHECK + f"{uuid.uuid4().hex}@scale-00001.example").json() == {"licensed": False}
    cold = [query["sql"] for query in captured.captured_queries if HOT_CACHE_CHECK not in query["sql"]]
    return {"licence check, warm": len(warm), "licence check, cold": len(cold)}


def test_query_count_does_not_grow_with_the_organizations():
    def seed(orgs: int) -> dict:
        call_command("seed_scale", orgs=orgs, users_per_org=4, history_events=200, stdout=io.StringIO())
        clients = seeded_clients()
        counts = {(path, auth): len(queries(clients[auth], path)) for path, auth in seeded_paths()}
        return {**counts, **licence_check_queries(clients["api_key"])}

    fewer = seed(FEWER_ORGS)
    assert SeatChange.objects.filter(state=SeatChange.State.AWAITING_APPROVAL).exists()  # a queue to show
    more = seed(MORE_ORGS)

    assert fewer == more
    assert (more["licence check, warm"], more["licence check, cold"]) == (0, 1)
