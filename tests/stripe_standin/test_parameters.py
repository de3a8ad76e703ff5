"""Parameters are checked against the typed params of the pinned stripe library."""

import base64
import typing

import pytest
import stripe
from typing_extensions import is_typeddict

from stripe_standin import catalogue, formencoding, validation
from stripe_standin.catalogue import API_VERSION
from tests.stripe_standin.fixtures import SECRET_KEY


def test_every_endpoint_of_the_library_has_its_parameters_read():
    """All of the pinned version's /v1 calls and their nested params resolve (a stripe
    upgrade that changes how params are declared fails here, not in the middle of a test)."""
    seen = set()

    def walk(typed):
        if typed in seen:
            return
        seen.add(typed)
        types, required = validation.fields(typed)
        assert required <= set(types)
        for annotation in types.values():
            stack = [annotation]
            while stack:
                inner = stack.pop()
                if is_typeddict(inner):
                    walk(inner)
                stack.extend(typing.get_args(inner))

    endpoints = catalogue.catalogue()
    for endpoint in endpoints:
        walk(endpoint.params)
    assert len(endpoints) > 400
    assert catalogue.endpoint_for("POST", "/v1/payment_intents/pi_1/confirm").template == (
        "/v1/payment_intents/{intent}/confirm"
    )


def test_stripe_form_encoding_decodes_to_nested_parameters():
    decoded = formencoding.decode(
        "items[0][price]=p&items[0][quantity]=2&items[1][id]=si&expand[]=a&expand[]=b&metadata[k]=v&x="
    )

    assert decoded == {
        "items": [{"price": "p", "quantity": "2"}, {"id": "si"}],
        "expand": ["a", "b"],
        "metadata": {"k": "v"},
        "x": "",
    }
    assert formencoding.decode(formencoding.encode(decoded)) == decoded


def test_an_unknown_parameter_is_refused_as_stripe_does(stripe_standin):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_standin.client().v1.customers.create(params={"email": "a@example.com", "emial": "typo"})

    assert refused.value.http_status == 400
    assert refused.value.code == "parameter_unknown"
    assert refused.value.param == "emial"
    assert refused.value.user_message == "Received unknown parameter: emial"
    assert refused.value.request_id.startswith("req_")
    assert refused.value.json_body["error"]["doc_url"].endswith("/parameter-unknown")


def test_a_parameter_the_pinned_version_removed_is_refused(stripe_standin):
    """`payment_method_types` is `allowed_payment_method_types` in the pinned version."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_standin.client().v1.payment_intents.create(
            params={"amount": 1000, "currency": "eur", "payment_method_types": ["card"]}  # type: ignore
        )

    assert (refused.value.code, refused.value.param) == ("parameter_unknown", "payment_method_types")


def test_an_unknown_nested_parameter_is_named_with_its_path(stripe_standin):
    answer = stripe_standin.call(
        "POST",
        "/v1/subscriptions/sub_x",
        {
            "items[0][id]": "si_x",
            "items[0][quantity]": "2",
            "items[0][quantiy]": "3",
            "proration_behavior": "none",
        },
    )

    assert answer.status == 400
    assert answer.body["error"]["param"] == "items[0][quantiy]"
    assert answer.body["error"]["code"] == "parameter_unknown"
    assert answer.headers["Request-Id"].startswith("req_")


def test_a_missing_required_parameter_is_refused(stripe_standin):
    answer = stripe_standin.call("POST", "/v1/payment_intents", {"currency": "eur"})

    assert answer.status == 400
    assert answer.body["error"] == {
        "type": "invalid_request_error",
        "code": "parameter_missing",
        "param": "amount",
        "message": "Missing required param: amount.",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-missing",
    }


def test_a_missing_required_nested_parameter_is_refused(stripe_standin):
    answer = stripe_standin.call(
        "POST",
        "/v1/payment_intents",
        {"amount": "1000", "currency": "eur", "automatic_payment_methods[allow_redirects]": "never"},
    )

    assert answer.body["error"]["param"] == "automatic_payment_methods[enabled]"
    assert answer.body["error"]["code"] == "parameter_missing"


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"amount": "10.50", "currency": "eur"}, "amount", "Invalid integer: 10.50"),
        ({"amount": "1000", "currency": "eur", "confirm": "yes"}, "confirm", "Invalid boolean: yes"),
        (
            {"amount": "1000", "currency": "eur", "capture_method": "later"},
            "capture_method",
            "Invalid capture_method: must be one of `automatic`, `automatic_async`, `manual`",
        ),
        ({"amount": "1000", "currency": "eur", "metadata": "x"}, "metadata", "Invalid object"),
        ({"amount": "1000", "currency": "eur", "expand": "customer"}, "expand", "Invalid array"),
        ({"amount": "1000", "currency": "eur", "description[x]": "y"}, "description", None),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(stripe_standin, params, param, message):
    answer = stripe_standin.call("POST", "/v1/payment_intents", params)

    assert answer.status == 400
    assert answer.body["error"]["param"] == param
    if message:
        assert answer.body["error"]["message"] == message


def test_an_integer_that_is_not_one_says_parameter_invalid_integer(stripe_standin):
    answer = stripe_standin.call("POST", "/v1/payment_intents", {"amount": "ten", "currency": "eur"})

    assert answer.body["error"]["code"] == "parameter_invalid_integer"


def test_an_empty_string_unsets_only_what_can_be_unset(stripe_standin):
    customer = stripe_standin.client().v1.customers.create(params={"email": "a@example.com"})

    refused = stripe_standin.call(
        "POST", f"/v1/customers/{customer.id}", {"email": "a@example.com", "name[x]": ""}
    )
    cleared = stripe_standin.call("POST", f"/v1/customers/{customer.id}", {"metadata": ""})
    empty_id = stripe_standin.call("POST", "/v1/refunds", {"payment_intent": ""})

    assert refused.body["error"]["param"] == "name"
    assert cleared.status == 200
    assert empty_id.body["error"]["code"] == "parameter_invalid_empty"


def test_query_parameters_of_reads_are_checked_too(stripe_standin):
    answer = stripe_standin.call("GET", "/v1/customers", {"limit": "many"})

    assert answer.body["error"]["param"] == "limit"


def test_an_unknown_url_is_a_404_like_stripes(stripe_standin):
    answer = stripe_standin.call("POST", "/v1/payment_intent", {"amount": "1000"})

    assert answer.status == 404
    assert answer.body["error"]["message"].startswith("Unrecognized request URL (POST: /v1/payment_intent)")


def test_a_json_body_is_refused(stripe_standin):
    answer = stripe_standin.call(
        "POST", "/v1/customers", '{"email": "a@example.com"}', headers={"Content-Type": "application/json"}
    )

    assert answer.status == 400
    assert "application/x-www-form-urlencoded" in answer.body["error"]["message"]


def test_another_api_version_than_the_pinned_one_is_refused(stripe_standin):
    answer = stripe_standin.call(
        "POST", "/v1/customers", {"email": "a@example.com"}, headers={"Stripe-Version": "2020-08-27"}
    )
    pinned = stripe_standin.call(
        "POST", "/v1/customers", {"email": "a@example.com"}, headers={"Stripe-Version": API_VERSION}
    )

    assert answer.status == 400
    assert API_VERSION in answer.body["error"]["message"]
    assert pinned.status == 200
    assert pinned.headers["Stripe-Version"] == API_VERSION


def test_a_correct_request_reaches_localstripe_and_returns_its_answer(stripe_standin):
    client = stripe_standin.client()

    customer = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"org": "7"}, "expand": ["sources"]}
    )
    direct = stripe_standin.call("GET", f"/v1/customers/{customer.id}", base=stripe_standin.localstripe_url)

    assert customer.id.startswith("cus_")
    assert direct.status == 200
    assert (direct.body["email"], direct.body["name"], direct.body["metadata"]) == (
        "ada@example.com",
        "Ada",
        {"org": "7"},
    )
    assert client.v1.customers.retrieve(customer.id).email == "ada@example.com"


def test_a_refused_request_does_not_reach_localstripe(stripe_standin):
    before = stripe_standin.call(
        "GET", "/v1/customers", {"limit": "100"}, base=stripe_standin.localstripe_url
    )

    stripe_standin.call("POST", "/v1/customers", {"email": "b@example.com", "colour": "red"})

    after = stripe_standin.call("GET", "/v1/customers", {"limit": "100"}, base=stripe_standin.localstripe_url)
    assert [c["email"] for c in after.body["data"]].count("b@example.com") == (
        [c["email"] for c in before.body["data"]].count("b@example.com")
    )


def test_recorded_requests_show_what_was_sent_and_never_the_secret_key(stripe_standin):
    stripe_standin.client().v1.customers.create(
        params={"email": "c@example.com"}, options={"idempotency_key": "customer-c"}
    )

    (recorded,) = stripe_standin.requests()
    assert recorded["method"] == "POST"
    assert recorded["path"] == "/v1/customers"
    assert recorded["params"] == {"email": "c@example.com"}
    assert recorded["idempotency_key"] == "customer-c"
    assert recorded["stripe_version"] == API_VERSION
    assert recorded["status"] == 200
    assert SECRET_KEY not in str(stripe_standin.requests())


def test_a_secret_key_given_as_curl_u_is_checked_like_a_bearer_one(stripe_standin):
    basic = base64.b64encode(f"{SECRET_KEY}:".encode()).decode()

    answer = stripe_standin.call(
        "POST", "/v1/customers", {"emial": "x"}, api_key=None, headers={"Authorization": f"Basic {basic}"}
    )

    assert answer.body["error"]["code"] == "parameter_unknown"


def test_conflicting_form_keys_are_an_invalid_hash(stripe_standin):
    answer = stripe_standin.call("POST", "/v1/customers", "metadata=x&metadata[a]=b")

    assert (answer.status, answer.body["error"]["message"]) == (400, "Invalid hash")
