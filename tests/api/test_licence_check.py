import pytest

from tests.api.conftest import API
from tests.factories import LicenceAssignmentFactory, OrgUserFactory, ProductFactory

CHECK = f"{API}/licences/check"


@pytest.fixture
def licensed(subscription):
    return LicenceAssignmentFactory(
        subscription=subscription, org_user__email="ada@customer.example"
    ).org_user


def test_an_unknown_product_answers_404_unknown_product_not_licensed_false(api, licensed):
    response = api.get(CHECK, {"product": "documnets", "email": "ada@customer.example"})

    assert response.status_code == 404
    assert response.json()["code"] == "unknown_product"
    assert response.json()["field"] == "product"
    assert "documnets" in response.json()["detail"]


def test_a_product_created_later_is_known_at_once(transactional_db, api, licensed):
    assert api.get(CHECK, {"product": "signature", "email": "ada@customer.example"}).status_code == 404

    ProductFactory(code="signature")

    response = api.get(CHECK, {"product": "signature", "email": "ada@customer.example"})
    assert response.json() == {"licensed": False}


@pytest.mark.parametrize("product", ["documents", "Documents", "DOCUMENTS"])
def test_product_codes_are_compared_case_insensitively(api, licensed, product):
    response = api.get(CHECK, {"product": product, "email": "ADA@customer.example"})

    assert response.status_code == 200
    assert response.json() == {"licensed": True}


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "ada@", "@customer.example", "ada@customer.example\x00", "a" * 250 + "@x.example"],
)
def test_an_invalid_email_answers_400(api, licensed, email):
    response = api.get(CHECK, {"product": "documents", "email": email})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["field"] == "email"


@pytest.mark.parametrize("product", ["doc\x00uments", "docs uments", "d" * 51, "ü"])
def test_a_product_that_is_no_product_code_answers_400(api, licensed, product):
    response = api.get(CHECK, {"product": product, "email": "ada@customer.example"})

    assert response.status_code == 400
    assert response.json()["field"] == "product"


def test_an_internationalised_domain_matches_its_punycode_form(api, org, subscription):
    LicenceAssignmentFactory(
        subscription=subscription,
        org_user=OrgUserFactory(organization=org, email="anna@xn--bcher-kva.example"),
    )

    response = api.get(CHECK, {"product": "documents", "email": "Anna@Bücher.example"})

    assert response.json() == {"licensed": True}


def test_the_answer_carries_a_request_id_and_the_rate_limit(api, licensed):
    response = api.get(CHECK, {"product": "documents", "email": "ada@customer.example"})

    assert len(response["X-Request-Id"]) == 32
    assert int(response["RateLimit-Limit"]) == 60000
    assert int(response["RateLimit-Remaining"]) == 59999
    assert 1 <= int(response["RateLimit-Reset"]) <= 60


def test_over_its_limit_the_check_answers_429_with_retry_after(api, licensed, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "1200/min", "licence_check": "3/min"},
    }
    query = {"product": "documents", "email": "ada@customer.example"}

    answers = [api.get(CHECK, query) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Remaining"] == "0"


def test_parameters_too_long_to_be_valid_are_refused_and_not_cached(api, licensed):
    from subscriptions import hot_cache

    response = api.get(CHECK, {"product": "documents", "email": "a" * 3000 + "@customer.example"})

    assert response.status_code == 400
    assert not any(len(str(key)) > 1000 for key in hot_cache._state.entries)
