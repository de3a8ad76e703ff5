"""What passes through unchecked (Stripe.js and localstripe's own endpoints), and what
is translated for localstripe."""

import json
import urllib.request

from tests.stripe_standin.fixtures import PUBLISHABLE_KEY


def _get(url: str) -> tuple[bytes, dict]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return response.read(), dict(response.headers)


def test_the_stripe_js_stand_in_is_served_unchanged(stripe_standin):
    through, headers = _get(stripe_standin.url + "/js.stripe.com/v3/")
    direct, _ = _get(stripe_standin.localstripe_url + "/js.stripe.com/v3/")

    assert through == direct
    assert headers["Content-Type"].startswith("application/javascript")


def test_stripe_js_calls_with_the_publishable_key_pass_through(stripe_standin):
    """Stripe.js sends fields of its own (`key`, `payment_user_agent`) that no server
    call may send: they are not checked."""
    answer = stripe_standin.call(
        "POST",
        "/v1/tokens",
        {
            "key": PUBLISHABLE_KEY,
            "payment_user_agent": "stripe.js/v3",
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": "2031",
            "card[cvc]": "123",
        },
        api_key=None,
    )

    assert answer.status == 200
    assert answer.body["id"].startswith("tok_")
    assert stripe_standin.requests()[0]["checked"] is False


def test_the_webhook_configuration_reaches_localstripe(stripe_standin):
    request = urllib.request.Request(  # noqa: S310 - loopback
        stripe_standin.url + "/_config/webhooks/standin-test",
        data=json.dumps({"url": "http://127.0.0.1:9/hook", "secret": "whsec_x", "events": ["x.y"]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        status = response.status
    refused = stripe_standin.call(
        "POST", "/_config/webhooks/standin-test", '{"url": "not-a-url"}', api_key=None,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip

    assert status == 200
    assert refused.status == 400  # localstripe's own check: it was reached


def test_prices_are_plans_in_localstripe_and_prices_again_in_answers(stripe_standin):
    client = stripe_standin.client()
    price = client.v1.prices.create(
        params={
            "currency": "eur",
            "unit_amount": 2500,
            "recurring": {"interval": "year"},
            "product_data": {"name": "Signatures"},
            "nickname": "yearly",
        }
    )
    customer = client.v1.customers.create(params={"email": "p@example.com"})
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": card.id}})
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id, "quantity": 2}]}
    )

    plan = stripe_standin.call("GET", f"/v1/plans/{price.id}", base=stripe_standin.localstripe_url)
    assert (price.object, price.unit_amount, price.recurring.interval) == ("price", 2500, "year")
    assert (plan.body["amount"], plan.body["interval"], plan.body["nickname"]) == (2500, "year", "yearly")
    assert client.v1.prices.retrieve(price.id).unit_amount == 2500
    item = subscription["items"]["data"][0]
    assert (item.price.id, item.price.unit_amount, item.quantity) == (price.id, 2500, 2)


def test_stripe_js_completes_3d_secure_through_the_stand_in(stripe_standin):
    """The payment page's path: a card that asks for 3-D Secure, charged by the server
    (checked), then authenticated by Stripe.js with the publishable key (passed through)."""
    client = stripe_standin.client()
    token = stripe_standin.call(
        "POST",
        "/v1/tokens",
        {
            "key": PUBLISHABLE_KEY,
            "card[number]": "4000002500003155",
            "card[exp_month]": "12",
            "card[exp_year]": "2031",
            "card[cvc]": "123",
        },
        api_key=None,
    ).body
    customer = client.v1.customers.create(params={"email": "3ds@example.com"})
    card = client.v1.customers.payment_sources.create(customer.id, params={"source": token["id"]})
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1300,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": card.id,
            "confirm": True,
            "return_url": "https://seatmgr.example/pay/done",
        }
    )

    authenticated = stripe_standin.call(
        "POST",
        f"/v1/payment_intents/{intent.id}/_authenticate?success=true",
        json.dumps({"key": PUBLISHABLE_KEY, "client_secret": intent.client_secret}),
        api_key=None,
        headers={"Content-Type": "application/json"},
    )

    assert intent.status == "requires_action"
    assert authenticated.status == 200
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
