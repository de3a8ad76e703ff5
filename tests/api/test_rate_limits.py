import pytest
from django.test import Client

from subscriptions import api_throttling
from tests.api.conftest import API, api_key_for, key_client
from tests.factories import MembershipFactory


@pytest.fixture
def low_limits(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "3/min", "licence_check": "5/min"},
    }


def test_every_answer_carries_the_rate_limit_headers(api):
    response = api.get(f"{API}/users/")

    assert response["RateLimit-Limit"] == "1200"
    assert response["RateLimit-Remaining"] == "1199"
    assert 1 <= int(response["RateLimit-Reset"]) <= 60


def test_over_the_limit_an_api_key_gets_429_with_retry_after(api, low_limits):
    answers = [api.get(f"{API}/users/") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    refused = answers[-1]
    assert refused.json()["code"] == "throttled"
    assert refused.json()["request_id"] == refused["X-Request-Id"]
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_writes_count_too_and_a_refused_write_changes_nothing(api, low_limits):
    from licensing.models import OrgUser

    answers = [
        api.post(f"{API}/users/", {"name": f"U{i}", "email": f"u{i}@x.example"}, "application/json")
        for i in range(4)
    ]

    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert OrgUser.objects.count() == 3


def test_each_api_key_has_its_own_limit(org, low_limits):
    first, second = key_client(api_key_for(org)), key_client(api_key_for(org))

    for _ in range(3):
        first.get(f"{API}/users/")

    assert first.get(f"{API}/users/").status_code == 429
    assert second.get(f"{API}/users/").status_code == 200


def test_the_count_is_shared_by_every_process(api, raw_key, low_limits):
    """Another process is another set of local counters: the count lives in Redis."""
    api.get(f"{API}/users/")
    api.get(f"{API}/users/")
    api_throttling.forget()  # as if the next request reached another worker

    assert api.get(f"{API}/users/").status_code == 200
    assert api.get(f"{API}/users/").status_code == 429


def test_the_licence_check_has_a_limit_of_its_own(api, low_limits):
    for _ in range(3):
        api.get(f"{API}/users/")

    response = api.get(f"{API}/licences/check", {"product": "documents", "email": "a@b.example"})

    assert response.status_code == 200
    assert response["RateLimit-Limit"] == "5"


def test_a_signed_in_admin_is_limited_per_person(org, low_limits):
    client = Client()
    client.force_login(MembershipFactory(organization=org, role="admin").user)

    assert [client.get(f"{API}/users/").status_code for _ in range(4)] == [200, 200, 200, 429]
