"""What the renewal tests share: settings pointing at the strict Stripe stand-in
(`tests/stripe_standin/fixtures.py`), subscriptions linked to it the way activation
links them, and webhook events in the pinned API version's shapes, signed."""

import time
from datetime import datetime

import pytest

from billing import services
from billing.gateways import STRIPE_API_VERSION
from subscriptions.models import Subscription
from tests.stripe_server import WEBHOOK_SECRET, signed_webhook
from tests.stripe_standin.fixtures import PUBLISHABLE_KEY, SECRET_KEY

WEBHOOK_URL = "/billing/stripe/webhook/"


@pytest.fixture(name="on_standin")
def on_standin_fixture(stripe_standin, settings):
    """The app's Stripe settings point at the stand-in for one test."""
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_standin.url
    settings.STRIPE_JS_URL = f"{stripe_standin.url}/js.stripe.com/v3/"
    return stripe_standin


def linked(subscription: Subscription) -> Subscription:
    """`subscription` with its Stripe customer and subscription, made as activation
    makes them."""
    services.stripe_subscription_set_up(subscription_id=subscription.pk)
    subscription.refresh_from_db()
    assert subscription.stripe_subscription_id.startswith("sub_")
    return subscription


def sent(standin, method: str, path: str) -> list[dict]:
    """The server calls the stand-in received for `method` `path` ({id} matches any id)."""
    prefix, _, suffix = path.partition("{id}")

    def matches(request_path: str) -> bool:
        if not _:
            return request_path == path
        return (
            request_path.startswith(prefix)
            and request_path.endswith(suffix)
            and "/" not in request_path[len(prefix) : len(request_path) - len(suffix)]
        )

    return [r for r in standin.requests() if r["method"] == method and matches(r["path"])]


def timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


def event(type: str, obj: dict, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_test_{time.monotonic_ns()}",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "type": type,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def deliver(client, type: str, obj: dict, event_id: str | None = None):
    body, signature = signed_webhook(event(type, obj, event_id))
    response = client.post(
        WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 200, response.content
    return response


def stripe_subscription_object(
    subscription: Subscription, *, status: str, start: datetime, end: datetime, quantity: int | None = None
) -> dict:
    """A Subscription as the pinned version renders it: the period on its item."""
    return {
        "id": subscription.stripe_subscription_id,
        "object": "subscription",
        "customer": subscription.stripe_customer_id,
        "status": status,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "billing_cycle_anchor": timestamp(start),
        "metadata": {"seatmgr_subscription": str(subscription.pk)},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_test",
                    "object": "subscription_item",
                    "quantity": quantity or subscription.quantity,
                    "current_period_start": timestamp(start),
                    "current_period_end": timestamp(end),
                    "price": {"id": "price_test", "object": "price"},
                }
            ],
        },
    }


def renewal_invoice(
    subscription: Subscription,
    invoice_id: str,
    *,
    start: datetime,
    end: datetime,
    amount: int,
    paid: bool,
    status: str | None = None,
) -> dict:
    """A renewal (`subscription_cycle`) invoice as the pinned version renders it: the
    subscription under `parent.subscription_details`, the period paid for on its line
    (the invoice's own period_start/end is the period that ended)."""
    return {
        "id": invoice_id,
        "object": "invoice",
        "billing_reason": "subscription_cycle",
        "status": status or ("paid" if paid else "open"),
        "customer": subscription.stripe_customer_id,
        "currency": subscription.plan.currency,
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "number": f"INV-{invoice_id[-4:].upper()}",
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
        "period_start": timestamp(subscription.current_period_start),
        "period_end": timestamp(subscription.current_period_end),
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription.stripe_subscription_id, "metadata": {}},
        },
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": f"il_{invoice_id}",
                    "object": "line_item",
                    "amount": amount,
                    "quantity": subscription.quantity,
                    "period": {"start": timestamp(start), "end": timestamp(end)},
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {
                            "subscription": subscription.stripe_subscription_id,
                            "subscription_item": "si_test",
                            "proration": False,
                        },
                    },
                }
            ],
        },
    }
