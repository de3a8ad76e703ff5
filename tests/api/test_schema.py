"""The schema says exactly what the API accepts and answers."""

import re

import pytest

from licensing.models import OrgUser
from tests.api.conftest import API


@pytest.fixture
def schema(client, db):
    return client.get("/api/schema/", {"format": "json"}).json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def codes(schema, response) -> set[str]:
    ref = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    code = schema["components"]["schemas"][ref]["properties"]["code"]
    if "$ref" in code.get("allOf", [{}])[0]:
        code = schema["components"]["schemas"][code["allOf"][0]["$ref"].rsplit("/", 1)[1]]
    return set(code["enum"])


def test_each_path_is_listed_once_without_its_alias(schema):
    assert not any(path.endswith("/users") or path.endswith("check/") for path in schema["paths"])


def test_every_operation_lists_the_shared_error_answers(schema):
    for path, method, operation in operations(schema):
        assert {"401", "405", "406", "414", "429"} <= set(operation["responses"]), (path, method)
        if method in ("post", "patch"):
            assert {"400", "413", "415", "409"} <= set(operation["responses"]), (path, method)
        if method in ("post", "patch", "delete"):
            names = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
            assert "Idempotency-Key" in names, (path, method)
            assert {"idempotency_key_reused", "idempotency_key_in_use"} <= codes(
                schema, operation["responses"]["409"]
            )


def test_every_conflict_code_of_a_route_is_listed(schema):
    create = schema["paths"]["/api/v1/users/"]["post"]["responses"]
    assign = schema["paths"]["/api/v1/subscriptions/{id}/licences/"]["post"]["responses"]

    assert {"email_in_use", "no_licence_available", "seat_change_open", "decrease_scheduled"} <= codes(
        schema, create["409"]
    )
    assert {"no_licence_available", "decrease_scheduled", "already_licensed"} <= codes(schema, assign["409"])
    conflict = schema["components"]["schemas"]["UsersCreateConflictError"]["properties"]
    assert conflict["increase_url"]["format"] == "uri" and "seat_change" in conflict
    assert codes(schema, create["404"]) >= {"unknown_product"}


def test_field_limits_are_in_the_schema(schema):
    create = schema["components"]["schemas"]["OrgUserCreate"]["properties"]
    check = {p["name"]: p for p in schema["paths"]["/api/v1/licences/check"]["get"]["parameters"]}

    assert create["name"]["minLength"] == 1 and create["name"]["maxLength"] == 200
    # The pattern says what the API refuses: blank names and NUL characters.
    assert re.search(create["name"]["pattern"], " Ada Lovelace ")
    assert not re.search(create["name"]["pattern"], "   ")
    assert not re.search(create["name"]["pattern"], "Ada\x00")
    assert create["email"]["maxLength"] == 254
    assert create["products"]["items"]["maxLength"] == 50
    assert check["product"]["required"] and check["product"]["schema"]["pattern"]
    assert check["email"]["schema"]["format"] == "email"
    assert codes(schema, schema["paths"]["/api/v1/licences/check"]["get"]["responses"]["404"]) == {
        "unknown_product"
    }


def test_emails_are_stored_and_answered_normalised_once(api):
    created = api.post(f"{API}/users/", {"name": "Anna", "email": "Anna@Bücher.Example"}, "application/json")
    again = api.post(
        f"{API}/users/", {"name": "Anna", "email": "anna@xn--bcher-kva.example"}, "application/json"
    )

    assert created.status_code == 201
    assert created.json()["email"] == "anna@xn--bcher-kva.example"
    assert OrgUser.objects.get().email == "anna@xn--bcher-kva.example"
    assert again.status_code == 409 and again.json()["code"] == "email_in_use"


def test_urls_in_answers_are_absolute(api, subscription, settings):
    for i in range(3):
        api.post(
            f"{API}/users/",
            {"name": f"U{i}", "email": f"u{i}@x.example", "products": ["documents"]},
            "application/json",
        )

    refused = api.post(
        f"{API}/users/",
        {"name": "Ada", "email": "ada@x.example", "products": ["documents"]},
        "application/json",
    )

    assert refused.json()["increase_url"].startswith(settings.SITE_URL + "/")


def test_a_seat_change_in_progress_answers_409_seat_change_open_with_its_number(db):
    from tests.api.conftest import api_key_for, key_client
    from tests.backoffice.factories import seat_change_open
    from tests.factories import LicenceAssignmentFactory, SubscriptionFactory

    subscription = SubscriptionFactory(quantity=1)
    LicenceAssignmentFactory(subscription=subscription)
    change = seat_change_open(subscription, 3)
    api = key_client(api_key_for(subscription.organization))

    response = api.post(
        f"{API}/users/",
        {"name": "Ada", "email": "ada@x.example", "products": ["documents"], "buy_seat_if_needed": True},
        "application/json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "seat_change_open"
    assert response.json()["seat_change"] == change.number
    assert not OrgUser.objects.filter(email="ada@x.example").exists()
