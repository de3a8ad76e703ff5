"""The pages and API lists that show a whole organization make as many SQL queries
for 1,000 org users as for 10: no query per user, per licence or per subscription.

Counts only, never timings. "Manage licences" lists every user on one page, so its
size still grows with the users; its query count must not.
"""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from licensing.models import LicenceAssignment, OrgUser
from subscriptions.models import ApiKey, hash_secret
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


def queries(client: Client, path: str) -> list[str]:
    """The SQL of one GET, after a first GET (which fills the API-key cache, as in
    production)."""
    assert client.get(path).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


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
