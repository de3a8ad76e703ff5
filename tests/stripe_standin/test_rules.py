"""Rules Stripe documents that localstripe ignores, and seatmgr's own proration rule."""

import time

import pytest
import stripe

from tests.stripe_standin.fixtures import StripeStandIn

VISA = "pm_card_visa"  # localstripe's test PaymentMethod, as Stripe's


def _intent(standin: StripeStandIn, **params):
    return standin.client().v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "payment_method": VISA, **params}
    )


# --- confirming a PaymentIntent (https://docs.stripe.com/changelog/2023-08-16/automatic-payment-methods)


def test_confirming_at_creation_without_a_return_url_is_refused(stripe_standin):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _intent(stripe_standin, confirm=True)

    assert refused.value.param == "return_url"
    assert "must provide a `return_url`" in refused.value.user_message


@pytest.mark.parametrize(
    "allowance",
    [
        {"return_url": "https://seatmgr.example/paid"},
        {"automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}},
        {"allowed_payment_method_types": ["card"]},
    ],
    ids=["return_url", "no redirects", "payment method types"],
)
def test_confirming_at_creation_passes_with_a_return_url_or_without_redirects(stripe_standin, allowance):
    intent = _intent(stripe_standin, confirm=True, **allowance)

    assert intent.status == "succeeded"
    assert intent.amount == 1000


def test_an_off_session_charge_needs_no_return_url(stripe_standin):
    client = stripe_standin.client()
    customer = client.v1.customers.create(params={"email": "off@example.com"})
    client.v1.payment_methods.attach(VISA, params={"customer": customer.id})

    intent = _intent(stripe_standin, confirm=True, off_session=True, customer=customer.id)

    assert intent.status == "succeeded"


def test_confirming_later_follows_how_the_intent_was_created(stripe_standin):
    client = stripe_standin.client()
    open_intent = _intent(stripe_standin)
    card_only = _intent(stripe_standin, allowed_payment_method_types=["card"])

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.confirm(open_intent.id)
    confirmed = client.v1.payment_intents.confirm(card_only.id)
    with_return_url = client.v1.payment_intents.confirm(
        open_intent.id, params={"return_url": "https://seatmgr.example/paid"}
    )

    assert refused.value.param == "return_url"
    assert confirmed.status == "succeeded"
    assert with_return_url.status == "succeeded"


def test_error_on_requires_action_needs_payment_method_types(stripe_standin):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _intent(stripe_standin, confirm=True, error_on_requires_action=True, return_url="https://x.example/")

    assert refused.value.param == "error_on_requires_action"
    assert (
        _intent(
            stripe_standin, confirm=True, error_on_requires_action=True, allowed_payment_method_types=["card"]
        ).status
        == "succeeded"
    )


# --- amounts by currency (https://docs.stripe.com/currencies)


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        (49, "eur", "Amount must be at least 0.50 eur"),
        (29, "gbp", "Amount must be at least 0.30 gbp"),
        (49, "jpy", "Amount must be at least 50 jpy"),
        (17499, "huf", "Amount must be at least 175.00 huf"),
    ],
)
def test_an_amount_below_stripes_minimum_charge_is_refused(stripe_standin, amount, currency, message):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_standin.client().v1.payment_intents.create(params={"amount": amount, "currency": currency})

    assert (refused.value.code, refused.value.param) == ("amount_too_small", "amount")
    assert refused.value.user_message == message


@pytest.mark.parametrize(("amount", "currency"), [(50, "eur"), (30, "gbp"), (50, "jpy"), (1000, "kwd")])
def test_the_minimum_itself_is_charged(stripe_standin, amount, currency):
    intent = stripe_standin.client().v1.payment_intents.create(
        params={"amount": amount, "currency": currency}
    )

    assert (intent.amount, intent.currency) == (amount, currency)


def test_an_amount_over_eight_digits_is_refused(stripe_standin):
    answer = stripe_standin.call("POST", "/v1/payment_intents", {"amount": "100000000", "currency": "usd"})

    assert answer.body["error"]["code"] == "amount_too_large"


@pytest.mark.parametrize(("amount", "currency"), [(1005, "kwd"), (12345, "bhd"), (150, "isk")])
def test_amounts_finer_than_the_currency_settles_are_refused(stripe_standin, amount, currency):
    answer = stripe_standin.call("POST", "/v1/payment_intents", {"amount": str(amount), "currency": currency})

    assert answer.status == 400
    assert answer.body["error"]["code"] == "invalid_charge_amount"
    assert answer.body["error"]["param"] == "amount"


def test_huf_payouts_are_in_whole_forints_though_charges_need_not_be(stripe_standin):
    payout = stripe_standin.call("POST", "/v1/payouts", {"amount": "17550", "currency": "huf"})
    charge = stripe_standin.client().v1.payment_intents.create(params={"amount": 17550, "currency": "huf"})

    assert payout.body["error"]["code"] == "invalid_charge_amount"
    assert "whole units" in payout.body["error"]["message"]
    assert charge.amount == 17550


# --- seatmgr's own rule: quantity changes state their proration_behavior


@pytest.fixture
def subscription(stripe_standin):
    client = stripe_standin.client()
    customer = client.v1.customers.create(params={"email": "sub@example.com"})
    # Attaching a test PaymentMethod (`pm_card_visa`) makes a new one: that one is the customer's.
    card = client.v1.payment_methods.attach(VISA, params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": card.id}})
    price = client.v1.prices.create(
        params={
            "currency": "eur",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Documents"},
        }
    )
    return client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id, "quantity": 3}]}
    )


def test_a_quantity_change_without_proration_behavior_is_refused(stripe_standin, subscription):
    item = subscription["items"]["data"][0]
    client = stripe_standin.client()

    with pytest.raises(stripe.InvalidRequestError) as on_subscription:
        client.v1.subscriptions.update(subscription.id, params={"items": [{"id": item.id, "quantity": 5}]})
    with pytest.raises(stripe.InvalidRequestError) as on_item:
        client.v1.subscription_items.update(item.id, params={"quantity": 5})

    for refused in (on_subscription, on_item):
        assert refused.value.param == "proration_behavior"
        assert "stripe_standin's strict rule" in refused.value.user_message
    assert client.v1.subscriptions.retrieve(subscription.id)["items"]["data"][0].quantity == 3


def test_a_quantity_change_with_proration_behavior_reaches_localstripe(stripe_standin, subscription):
    item = subscription["items"]["data"][0]
    client = stripe_standin.client()

    client.v1.subscriptions.update(
        subscription.id, params={"items": [{"id": item.id, "quantity": 5}], "proration_behavior": "none"}
    )
    other_change = client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})

    direct = stripe_standin.call(
        "GET", f"/v1/subscriptions/{subscription.id}", base=stripe_standin.localstripe_url
    )
    assert direct.body["items"]["data"][0]["quantity"] == 5
    assert other_change.cancel_at_period_end is True


# --- PaymentMethods belong to their customer (https://docs.stripe.com/api/setup_intents/create,
# https://docs.stripe.com/api/customers/update, https://docs.stripe.com/api/payment_intents/create)


def _card_saved_by_stripe_js(standin: StripeStandIn, customer: str) -> str:
    """A SetupIntent of `customer`, confirmed as Stripe.js's confirmCardSetup does (a
    publishable key, passed through); returns the PaymentMethod it saved."""
    setup = standin.client().v1.setup_intents.create(params={"customer": customer, "usage": "off_session"})
    confirmed = standin.call(
        "POST",
        f"/v1/setup_intents/{setup.id}/confirm",
        {
            "key": "pk_test_seatmgr_standin",
            "client_secret": setup.client_secret,
            "payment_method_data[type]": "card",
            "payment_method_data[card][number]": "4242424242424242",
            "payment_method_data[card][exp_month]": "12",
            "payment_method_data[card][exp_year]": "2031",
            "payment_method_data[card][cvc]": "123",
        },
        api_key=None,
    )
    assert confirmed.body["status"] == "succeeded"
    return confirmed.body["payment_method"]


def test_a_card_saved_through_a_setup_intent_is_attached_to_its_customer(stripe_standin):
    client = stripe_standin.client()
    customer = client.v1.customers.create(params={"email": "saved@example.com"})

    method = _card_saved_by_stripe_js(stripe_standin, customer.id)

    assert client.v1.payment_methods.retrieve(method).customer == customer.id
    updated = client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": method}}
    )
    assert updated.invoice_settings.default_payment_method == method


@pytest.mark.parametrize("whose", ["another customer's", "nobody's", "unknown"])
def test_a_default_payment_method_not_attached_to_the_customer_is_refused(stripe_standin, whose):
    client = stripe_standin.client()
    customer = client.v1.customers.create(params={"email": "mine@example.com"})
    other = client.v1.customers.create(params={"email": "theirs@example.com"})
    method = {
        "another customer's": lambda: _card_saved_by_stripe_js(stripe_standin, other.id),
        "nobody's": lambda: client.v1.payment_methods.retrieve(VISA).id,
        "unknown": lambda: "pm_not_in_this_account",
    }[whose]()

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": method}}
        )

    assert refused.value.param == "invoice_settings[default_payment_method]"
    assert method in refused.value.user_message
    assert not stripe_standin.sent("POST", "/v1/customers/{customer}")[-1]["forwarded"]


def test_a_payment_method_of_another_customer_cannot_pay_for_this_one(stripe_standin):
    client = stripe_standin.client()
    customer = client.v1.customers.create(params={"email": "payer@example.com"})
    other = client.v1.customers.create(params={"email": "owner@example.com"})
    theirs = _card_saved_by_stripe_js(stripe_standin, other.id)

    with pytest.raises(stripe.InvalidRequestError) as refused:
        _intent(stripe_standin, payment_method=theirs, customer=customer.id, confirm=True, off_session=True)
    paid = _intent(stripe_standin, payment_method=theirs, customer=other.id, confirm=True, off_session=True)

    assert refused.value.param == "payment_method"
    assert paid.status == "succeeded"


# --- a subscription's billing cycle anchor (https://docs.stripe.com/billing/subscriptions/billing-cycle)


@pytest.fixture
def monthly_price(stripe_standin):
    client = stripe_standin.client()
    customer = client.v1.customers.create(params={"email": "anchor@example.com"})
    price = client.v1.prices.create(
        params={
            "currency": "eur",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Documents"},
        }
    )
    return customer.id, price.id


@pytest.mark.parametrize(
    ("days", "message"),
    [(-1, "cannot be in the past"), (40, "cannot be later than next natural billing date")],
)
def test_an_anchor_in_the_past_or_beyond_the_next_billing_date_is_refused(
    stripe_standin, monthly_price, days, message
):
    customer, price = monthly_price

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_standin.client().v1.subscriptions.create(
            params={
                "customer": customer,
                "items": [{"price": price, "quantity": 2}],
                "billing_cycle_anchor": int(time.time()) + days * 86400,
                "proration_behavior": "none",
            }
        )

    assert refused.value.param == "billing_cycle_anchor"
    assert message in refused.value.user_message
    assert stripe_standin.client().v1.subscriptions.list(params={"customer": customer}).data == []


def test_an_anchor_within_the_period_bills_nothing_until_then(stripe_standin, monthly_price):
    customer, price = monthly_price
    anchor = int(time.time()) + 20 * 86400

    created = stripe_standin.client().v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price, "quantity": 2}],
            "billing_cycle_anchor": anchor,
            "proration_behavior": "none",
        }
    )

    # The customer has no card: had localstripe billed the period, it would have refused.
    item = created["items"]["data"][0]
    assert (item.quantity, item.current_period_end, created.billing_cycle_anchor) == (2, anchor, anchor)
    assert "current_period_end" not in created.to_dict()  # on the item, as the pinned version has it
