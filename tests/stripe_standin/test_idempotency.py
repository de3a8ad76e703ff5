"""Idempotency keys as Stripe keeps them (https://docs.stripe.com/api/idempotent_requests)."""

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe

from tests.stripe_standin.fixtures import start_standin, stop


def _customers(standin, email: str) -> list[dict]:
    """Every customer of `email` in localstripe, all pages (the stand-in is the session's,
    so other tests' customers are there too)."""
    found, params = [], {"limit": "100"}
    while True:
        listed = standin.call("GET", "/v1/customers", params, base=standin.localstripe_url).body
        found += [customer for customer in listed["data"] if customer["email"] == email]
        if not listed.get("has_more") or not listed["data"]:
            return found
        params = {"limit": "100", "starting_after": listed["data"][-1]["id"]}


def test_a_retry_with_the_same_key_and_parameters_replays_the_first_answer(stripe_standin):
    params = {"email": "once@example.com", "metadata[try]": "1"}

    first = stripe_standin.call("POST", "/v1/customers", params, headers={"Idempotency-Key": "k-once"})
    retry = stripe_standin.call("POST", "/v1/customers", params, headers={"Idempotency-Key": "k-once"})

    assert retry.status == first.status == 200
    assert retry.body == first.body
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Original-Request"] == first.headers["Request-Id"]
    assert "Idempotent-Replayed" not in first.headers
    assert len(_customers(stripe_standin, "once@example.com")) == 1


def test_the_stripe_library_gets_the_same_object_back(stripe_standin):
    client = stripe_standin.client()
    options = {"idempotency_key": "pi-1"}
    params = {"amount": 1000, "currency": "eur", "allowed_payment_method_types": ["card"]}

    first = client.v1.payment_intents.create(params=params, options=options)
    again = client.v1.payment_intents.create(params=params, options=options)

    assert again.id == first.id


def test_a_key_reused_with_other_parameters_is_refused(stripe_standin):
    client = stripe_standin.client()
    client.v1.customers.create(params={"email": "a@example.com"}, options={"idempotency_key": "k-reuse"})

    with pytest.raises(stripe.IdempotencyError) as refused:
        client.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": "k-reuse"})

    assert refused.value.http_status == 400
    assert refused.value.json_body["error"]["type"] == "idempotency_error"
    assert "k-reuse" in refused.value.user_message
    assert _customers(stripe_standin, "b@example.com") == []


def test_a_key_reused_on_another_endpoint_is_refused(stripe_standin):
    stripe_standin.call(
        "POST", "/v1/customers", {"email": "e@example.com"}, headers={"Idempotency-Key": "k-e"}
    )

    answer = stripe_standin.call("POST", "/v1/products", {"name": "x"}, headers={"Idempotency-Key": "k-e"})

    assert answer.body["error"]["type"] == "idempotency_error"


def test_keys_belong_to_one_account(stripe_standin):
    params = {"email": "two-accounts@example.com"}
    headers = {"Idempotency-Key": "k-shared"}

    mine = stripe_standin.call("POST", "/v1/customers", params, headers=headers)
    theirs = stripe_standin.call("POST", "/v1/customers", params, headers=headers, api_key="sk_test_other")

    assert mine.body["id"] != theirs.body["id"]
    assert "Idempotent-Replayed" not in theirs.headers


def test_a_request_refused_by_the_checks_saves_nothing_under_its_key(stripe_standin):
    headers = {"Idempotency-Key": "k-fixed"}

    refused = stripe_standin.call("POST", "/v1/customers", {"emial": "f@example.com"}, headers=headers)
    fixed = stripe_standin.call("POST", "/v1/customers", {"email": "f@example.com"}, headers=headers)

    assert refused.status == 400
    assert fixed.status == 200
    assert fixed.body["email"] == "f@example.com"


def test_an_error_from_a_request_that_ran_is_replayed_too(stripe_standin):
    headers = {"Idempotency-Key": "k-missing"}
    params = {"payment_intent": "pi_doesnotexist"}

    first = stripe_standin.call("POST", "/v1/refunds", params, headers=headers)
    retry = stripe_standin.call("POST", "/v1/refunds", params, headers=headers)

    assert first.status == 404
    assert (retry.status, retry.body) == (first.status, first.body)
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_keys_expire():
    """Kept 24 hours by default; a stand-in told to keep them 1 s forgets them then."""
    with tempfile.TemporaryDirectory(prefix="seatmgr-standin-ttl-") as directory:
        process, standin = start_standin(directory, "--idempotency-ttl", "1")
        try:
            headers = {"Idempotency-Key": "k-ttl"}
            first = standin.call("POST", "/v1/customers", {"email": "t@example.com"}, headers=headers)
            time.sleep(1.2)
            later = standin.call("POST", "/v1/customers", {"email": "u@example.com"}, headers=headers)
        finally:
            stop(process)

    assert first.status == later.status == 200
    assert later.body["email"] == "u@example.com"


def test_a_retry_while_the_first_request_still_runs_is_a_409(stripe_standin):
    """A stand-in in front of the session's one, which holds its answers for 2 s: the
    outer one still waits for the first request when the second comes."""
    stripe_standin.fault("/v1/customers", delay=2)
    headers = {"Idempotency-Key": "k-busy"}
    params = {"email": "busy@example.com"}
    with tempfile.TemporaryDirectory(prefix="seatmgr-standin-outer-") as directory:
        process, outer = start_standin(directory, "--upstream", stripe_standin.url)
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                first = pool.submit(outer.call, "POST", "/v1/customers", params, headers=headers)
                time.sleep(0.5)
                second = outer.call("POST", "/v1/customers", params, headers=headers)
                first = first.result()
            third = outer.call("POST", "/v1/customers", params, headers=headers)
        finally:
            stop(process)

    assert first.status == 200
    assert (second.status, second.body["error"]["code"]) == (409, "idempotency_key_in_use")
    assert third.headers["Idempotent-Replayed"] == "true"
    assert len(_customers(stripe_standin, "busy@example.com")) == 1
