"""Tests can make the stand-in answer as a failing Stripe would, and read what was sent."""

import tempfile
import urllib.error

import pytest
import stripe

from stripe_standin.__main__ import free_port
from tests.stripe_standin.fixtures import start_standin, stop


def _intent(client, **options):
    return client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "allowed_payment_method_types": ["card"]},
        options=options,
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, stripe.APIError), (402, stripe.CardError), (429, stripe.RateLimitError)],
)
def test_an_armed_fault_answers_once_then_stripe_works_again(stripe_standin, status, error):
    stripe_standin.fault("/v1/payment_intents", status=status)
    client = stripe_standin.client()

    with pytest.raises(error) as failed:
        _intent(client)
    intent = _intent(client)

    assert failed.value.http_status == status
    assert intent.id.startswith("pi_")
    assert [r["status"] for r in stripe_standin.requests()] == [status, 200]


def test_a_declined_card_fault_looks_like_stripes_decline(stripe_standin):
    stripe_standin.fault("/v1/payment_intents/{intent}/confirm", status=402)
    client = stripe_standin.client()
    intent = _intent(client)

    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})

    assert declined.value.code == "card_declined"
    assert declined.value.json_body["error"]["decline_code"] == "generic_decline"


def test_a_fault_answers_only_its_method_and_path(stripe_standin):
    stripe_standin.fault("/v1/payment_intents", status=500, times=2)
    client = stripe_standin.client()

    customer = client.v1.customers.create(params={"email": "ok@example.com"})
    listed = client.v1.payment_intents.list()

    assert customer.id.startswith("cus_")
    assert listed.object == "list"
    assert len(stripe_standin.control("GET", "/_standin/faults")["data"]) == 1


def test_a_delayed_answer_times_the_client_out_but_the_request_ran(stripe_standin):
    """A lost response: the retry with the same idempotency key gets the same intent."""
    stripe_standin.fault("/v1/payment_intents", delay=3)
    impatient = stripe_standin.client(timeout=0.5)

    with pytest.raises(stripe.APIConnectionError):
        _intent(impatient, idempotency_key="slow-1")
    retried = _intent(stripe_standin.client(), idempotency_key="slow-1")

    first, retry = stripe_standin.requests()
    assert first["status"] == 200
    assert first["forwarded"]["path"] == "/v1/payment_intents"
    assert retry["replayed"] is True
    assert retried.id.startswith("pi_")


def test_a_fault_can_answer_with_the_body_a_test_gives(stripe_standin):
    decline = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}
    stripe_standin.fault("/v1/payment_intents", status=402, body={"error": decline})
    stripe_standin.fault("/v1/customers", status=200, body={"id": "cus_made_up", "object": "customer"})
    client = stripe_standin.client()

    with pytest.raises(stripe.CardError) as declined:
        _intent(client)
    customer = client.v1.customers.create(params={"email": "z@example.com"})

    assert declined.value.json_body["error"]["decline_code"] == "insufficient_funds"
    assert customer.id == "cus_made_up"


def test_a_dropped_connection_is_a_network_error_and_nothing_reaches_localstripe(stripe_standin):
    stripe_standin.fault("/v1/customers", drop=True)

    with pytest.raises(stripe.APIConnectionError):
        stripe_standin.client().v1.customers.create(params={"email": "dropped@example.com"})

    [dropped] = stripe_standin.sent("POST", "/v1/customers")
    assert dropped["forwarded"] is None and dropped["error"]["message"].startswith("connection closed")


def test_a_fault_can_be_delayed_and_failed(stripe_standin):
    stripe_standin.fault("/v1/customers", status=500, delay=0.3)

    with pytest.raises(stripe.APIError):
        stripe_standin.client().v1.customers.create(params={"email": "x@example.com"})


def test_faults_can_be_disarmed(stripe_standin):
    stripe_standin.fault("/v1/customers", status=500, times=5)
    stripe_standin.control("DELETE", "/_standin/faults")

    assert stripe_standin.client().v1.customers.create(params={"email": "y@example.com"}).id


def test_a_malformed_fault_is_refused(stripe_standin):
    with pytest.raises(urllib.error.HTTPError) as refused:
        stripe_standin.fault("/v1/customers")  # neither a status, a delay nor a drop

    assert refused.value.code == 400


def test_an_unreachable_localstripe_is_a_stripe_api_error():
    with tempfile.TemporaryDirectory(prefix="seatmgr-standin-down-") as directory:
        process, standin = start_standin(directory, "--upstream", f"http://127.0.0.1:{free_port()}")
        try:
            with pytest.raises(stripe.APIError) as failed:
                standin.client().v1.customers.create(params={"email": "down@example.com"})
            refused = standin.call("POST", "/v1/customers", {"emial": "x"})
        finally:
            stop(process)

    assert failed.value.http_status == 502
    assert refused.body["error"]["code"] == "parameter_unknown"  # the checks need no localstripe
