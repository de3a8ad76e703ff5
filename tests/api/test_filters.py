import pytest

from licensing.models import OrgUser
from subscriptions.models import Subscription
from tests.api.conftest import API
from tests.factories import (
    LicenceAssignmentFactory,
    OrgUserFactory,
    PlanFactory,
    ProductFactory,
    SubscriptionFactory,
)


@pytest.fixture
def people(org, subscription):
    signature = SubscriptionFactory(
        organization=org, plan=PlanFactory(product=ProductFactory(code="signature"))
    )
    ada = LicenceAssignmentFactory(
        subscription=subscription,
        org_user__organization=org,
        org_user__name="Ada",
        org_user__email="ada@customer.example",
    ).org_user
    grace = LicenceAssignmentFactory(
        subscription=signature,
        org_user__organization=org,
        org_user__name="Grace",
        org_user__email="grace@customer.example",
    ).org_user
    room = OrgUserFactory(
        organization=org, name="Board room", email="room@customer.example", status=OrgUser.Status.ROOM
    )
    return {"ada": ada, "grace": grace, "room": room, "signature": signature}


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [user["name"] for user in response.json()["results"]]


def test_users_by_email_exactly_whatever_the_case(api, people):
    assert names(api.get(f"{API}/users/", {"email": "ADA@Customer.example"})) == ["Ada"]
    assert names(api.get(f"{API}/users/", {"email": "ad@customer.example"})) == []


def test_users_by_internationalised_email(api, org):
    OrgUserFactory(organization=org, name="Anna", email="anna@xn--bcher-kva.example")

    assert names(api.get(f"{API}/users/", {"email": "anna@bücher.example"})) == ["Anna"]


def test_users_by_status_product_and_licensed(api, people):
    assert names(api.get(f"{API}/users/", {"status": "room"})) == ["Board room"]
    assert names(api.get(f"{API}/users/", {"product": "Signature"})) == ["Grace"]
    assert names(api.get(f"{API}/users/", {"licensed": "true"})) == ["Ada", "Grace"]
    assert names(api.get(f"{API}/users/", {"licensed": "false"})) == ["Board room"]
    assert names(api.get(f"{API}/users/", {"product": "documents", "status": "active"})) == ["Ada"]


def test_users_search_by_part_of_the_name_or_email(api, people):
    assert names(api.get(f"{API}/users/", {"search": "GRA"})) == ["Grace"]
    assert names(api.get(f"{API}/users/", {"search": "customer.example"})) == ["Ada", "Board room", "Grace"]
    assert len(names(api.get(f"{API}/users/", {"search": ""}))) == 3
    assert api.get(f"{API}/users/", {"search": "x" * 101}).status_code == 400
    assert api.get(f"{API}/users/", {"search": "a\x00"}).status_code == 400


def test_users_ordering(api, people):
    assert names(api.get(f"{API}/users/", {"ordering": "-name"})) == ["Grace", "Board room", "Ada"]
    assert names(api.get(f"{API}/users/", {"ordering": "email"})) == ["Ada", "Grace", "Board room"]


@pytest.mark.parametrize(
    "query",
    [
        {"status": "sleeping"},
        {"licensed": "maybe"},
        {"ordering": "password"},
        {"email": "nope"},
        {"product": "doc uments"},
        {"product": "a\x00"},
    ],
)
def test_bad_filters_answer_400(api, people, query):
    response = api.get(f"{API}/users/", query)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_subscriptions_by_product_and_status(api, org, people):
    people["signature"].status = Subscription.Status.CANCELLED
    people["signature"].save()

    def products(query):
        response = api.get(f"{API}/subscriptions/", query)
        assert response.status_code == 200
        return [s["product"]["code"] for s in response.json()["results"]]

    assert products({"product": "SIGNATURE"}) == ["signature"]
    assert products({"status": "active"}) == ["documents"]
    assert products({"ordering": "-product"}) == ["signature", "documents"]
    assert api.get(f"{API}/subscriptions/", {"status": "asleep"}).status_code == 400


def test_filters_are_in_the_schema(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    def parameters(path):
        return {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}

    users = parameters("/api/v1/users/")
    assert {"email", "status", "product", "licensed", "search", "ordering", "limit", "offset"} <= set(users)
    assert users["limit"]["maximum"] == 100 and users["limit"]["minimum"] == 1
    assert "-created_at" in users["ordering"]["enum"]
    assert {"product", "status", "ordering"} <= set(parameters("/api/v1/subscriptions/"))


def test_filters_never_reach_another_organization(api, people):
    other = SubscriptionFactory(plan=PlanFactory(product=ProductFactory(code="signature")))
    LicenceAssignmentFactory(subscription=other, org_user__email="secret@other.example")

    assert names(api.get(f"{API}/users/", {"email": "secret@other.example"})) == []
    assert names(api.get(f"{API}/users/", {"product": "signature"})) == ["Grace"]
    assert len(api.get(f"{API}/subscriptions/", {"product": "signature"}).json()["results"]) == 1
