"""The Stripe gateway against a real localstripe: our dataclasses out, our errors out."""

import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from billing.errors import CardDeclined, PaymentProcessorUnavailable, WebhookRejected
from billing.gateways import StripeGateway, stripe_gateway
from tests.billing.factories import DECLINED, THREE_D_SECURE, VISA, confirm_card_setup
from tests.stripe_server import signed_webhook


@pytest.fixture
def gateway(use_localstripe):
    return stripe_gateway()


@pytest.fixture
def customer(gateway):
    return gateway.customer_create(
        email="billing@acme.example", name="Acme", metadata={"seatmgr_subscription": "1"}, idempotency_key="k"
    )


def saved_card(gateway, customer, localstripe, number=VISA):
    """A card typed into Stripe.js and saved for `customer` through a SetupIntent."""
    setup = gateway.card_setup_create(
        customer_id=customer, metadata={}, idempotency_key=f"setup-{time.monotonic_ns()}"
    )
    return gateway.card_setup_card(
        confirm_card_setup(localstripe, setup.client_secret, number), customer_id=customer
    )


def charge(gateway, customer, card, *, off_session=False, amount=1300):
    return gateway.payment_intent_charge(
        customer_id=customer,
        payment_method_id=card.id,
        amount=amount,
        currency="eur",
        off_session=off_session,
        metadata={"seatmgr_payment": "7", "attempt": "1"},
        idempotency_key=f"test-{time.monotonic_ns()}",
    )


def test_a_card_saved_through_a_setup_intent_is_a_payment_method_and_default_only_when_made_so(
    gateway, customer, localstripe
):
    assert gateway.customer_default_card(customer) is None

    card = saved_card(gateway, customer, localstripe)

    assert card.id.startswith("pm_")
    assert (card.last4, card.label) == ("4242", "Visa •••• 4242")
    assert gateway.customer_default_card(customer) is None  # saved is not yet the card on file
    [setup] = localstripe.sent("POST", "/v1/setup_intents")
    assert (setup["params"]["usage"], setup["params"]["customer"]) == ("off_session", customer)

    gateway.customer_default_card_set(customer_id=customer, payment_method_id=card.id, idempotency_key="d")

    assert gateway.customer_default_card(customer) == card
    [update] = localstripe.sent("POST", "/v1/customers/{customer}")
    assert update["params"] == {"invoice_settings": {"default_payment_method": card.id}}


def test_a_card_on_3d_secure_is_saved_once_the_bank_confirmed_it(gateway, customer, localstripe):
    card = saved_card(gateway, customer, localstripe, THREE_D_SECURE)

    assert card.last4 == "3155"


@pytest.mark.parametrize("whose", ["another customer's", "unconfirmed", "unknown", "not a setup intent"])
def test_a_setup_intent_that_did_not_save_a_card_for_this_customer_is_refused(
    gateway, customer, localstripe, whose
):
    other = gateway.customer_create(email="o@other.example", name="Other", metadata={}, idempotency_key="o")
    if whose == "another customer's":
        setup = gateway.card_setup_create(customer_id=other, metadata={}, idempotency_key="s1")
        setup_intent = confirm_card_setup(localstripe, setup.client_secret)
    elif whose == "unconfirmed":
        setup_intent = gateway.card_setup_create(customer_id=customer, metadata={}, idempotency_key="s2").id
    elif whose == "unknown":
        setup_intent = "seti_not_in_this_account"
    else:
        setup_intent = "pm_card_visa"

    with pytest.raises(CardDeclined, match="could not be saved"):
        gateway.card_setup_card(setup_intent, customer_id=customer)


def test_a_payment_method_set_as_the_invoice_default_is_the_card_on_file(gateway, customer, localstripe):
    method = localstripe.post("/v1/payment_methods/pm_card_visa/attach", {"customer": customer})
    localstripe.post(
        f"/v1/customers/{customer}", {"invoice_settings": {"default_payment_method": method["id"]}}
    )

    card = gateway.customer_default_card(customer)

    assert (card.id, card.last4) == (method["id"], "4242")


def test_a_good_card_is_charged_off_session(gateway, customer, localstripe):
    card = saved_card(gateway, customer, localstripe)

    result = charge(gateway, customer, card, off_session=True)

    [sent] = localstripe.sent("POST", "/v1/payment_intents")
    assert sent["params"]["off_session"] == "true" and "automatic_payment_methods" not in sent["params"]
    assert result.succeeded and not result.failed and not result.requires_action
    assert (result.amount, result.currency, result.failure_message) == (1300, "eur", "")
    assert result.metadata == {"seatmgr_payment": "7", "attempt": "1"}
    assert gateway.payment_intent_retrieve(result.id).status == "succeeded"


def test_a_declined_card_raises_card_declined_with_the_payment_intent(gateway, customer, localstripe):
    card = saved_card(gateway, customer, localstripe, DECLINED)

    with pytest.raises(CardDeclined) as declined:
        charge(gateway, customer, card)

    assert declined.value.message == "Your card was declined."
    # localstripe gives no issuer's reason (`decline_code`); Stripe's own is kept too
    # (test_errors_by_cause.py).
    assert (declined.value.stripe_code, declined.value.decline_code) == ("card_declined", "")
    intent = gateway.payment_intent_retrieve(declined.value.payment_intent_id)
    assert intent.failed and intent.failure_message == "Your card was declined."


def test_a_card_needing_3d_secure_reaches_requires_action(gateway, customer, localstripe):
    card = saved_card(gateway, customer, localstripe, THREE_D_SECURE)

    result = charge(gateway, customer, card)

    # On-session: cards only, so 3-D Secure stays in the page (no return_url).
    [sent] = localstripe.sent("POST", "/v1/payment_intents")
    assert sent["params"]["automatic_payment_methods"] == {"enabled": "true", "allow_redirects": "never"}
    assert "off_session" not in sent["params"] and "return_url" not in sent["params"]
    assert result.status == "requires_action" and result.requires_action
    assert not result.failed and result.client_secret.startswith(result.id)
    localstripe.authenticate(result.id, result.client_secret)
    assert gateway.payment_intent_retrieve(result.id).succeeded


def test_cancelling_makes_a_payment_intent_unchargeable_and_reports_one_that_succeeded(
    gateway, customer, localstripe
):
    needs_auth = saved_card(gateway, customer, localstripe, THREE_D_SECURE)
    good = saved_card(gateway, customer, localstripe)
    pending = charge(gateway, customer, needs_auth)
    paid = charge(gateway, customer, good)

    cancelled = gateway.payment_intent_cancel(pending.id, idempotency_key="x1")
    again = gateway.payment_intent_cancel(pending.id, idempotency_key="x2")
    not_cancelled = gateway.payment_intent_cancel(paid.id, idempotency_key="x3")

    assert (cancelled.status, cancelled.failed) == ("canceled", True)
    assert again.status == "canceled"
    assert not_cancelled.succeeded


def test_a_refund_is_issued_for_a_succeeded_payment(gateway, customer, localstripe):
    card = saved_card(gateway, customer, localstripe)
    paid = charge(gateway, customer, card)

    refund_id = gateway.refund_create(payment_intent_id=paid.id, idempotency_key="r")

    assert refund_id.startswith("re_")
    assert localstripe.get(f"/v1/refunds/{refund_id}")["amount"] == 1300


def test_an_unreachable_stripe_is_our_problem_not_the_customers(settings, use_localstripe):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens

    with pytest.raises(PaymentProcessorUnavailable) as unavailable:
        stripe_gateway().customer_default_card("cus_x")

    assert "never be charged twice" in unavailable.value.message


def test_the_gateway_refuses_to_start_without_a_secret_key():
    with pytest.raises(ImproperlyConfigured, match="STRIPE_SECRET_KEY"):
        StripeGateway(secret_key="")


EVENT = {
    "id": "evt_test_1",
    "object": "event",
    "type": "invoice.paid",
    "created": 1_700_000_000,
    "data": {"object": {"id": "in_1", "object": "invoice"}},
}


def test_a_correctly_signed_webhook_becomes_an_event(gateway):
    body, signature = signed_webhook(EVENT)

    event = gateway.webhook_event(payload=body, signature=signature)

    assert (event.id, event.type, event.object) == ("evt_test_1", "invoice.paid", EVENT["data"]["object"])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, sig: (body.replace(b"in_1", b"in_2"), sig),
        lambda body, sig: (body, sig.replace("v1=", "v1=0")),
        lambda body, sig: (body, ""),
        lambda body, sig: (body, signed_webhook(EVENT, secret="whsec_other")[1]),
        lambda body, sig: (b"not json", signed_webhook(EVENT)[1]),
        lambda body, sig: signed_webhook({"id": "evt_1", "type": "invoice.paid"}),
        lambda body, sig: signed_webhook([EVENT]),
    ],
    ids=["changed body", "bad signature", "no signature", "other secret", "not json", "no data", "a list"],
)
def test_a_webhook_that_does_not_check_out_is_rejected(gateway, tamper):
    body, signature = tamper(*signed_webhook(EVENT))

    with pytest.raises(WebhookRejected):
        gateway.webhook_event(payload=body, signature=signature)


def test_a_webhook_signed_more_than_five_minutes_ago_is_rejected(gateway):
    body, signature = signed_webhook(EVENT, timestamp=int(time.time()) - 301)

    with pytest.raises(WebhookRejected, match="tolerance"):
        gateway.webhook_event(payload=body, signature=signature)
