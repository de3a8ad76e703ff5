"""Stripe for the test session (a pytest plugin: tests/conftest.py lists it in
`pytest_plugins`): the strict Stripe stand-in (`stripe_standin/`) in front of a real
localstripe, so that every request the app sends is held against Stripe's rules for
the pinned API version before localstripe plays it.

`localstripe` is the session's stand-in (one server, started by
`tests/stripe_standin/fixtures.py` on a free port, with a localstripe of its own behind
it: loopback only, nothing written to disk). `use_localstripe` points the settings at
it for one test and forgets its faults, recorded requests and idempotency keys first.
`localstripe_webhooks` makes localstripe deliver its webhooks to the live server for
one test, and stops it afterwards (localstripe keeps its endpoints in memory and has
no way to delete one, so it is re-registered for an event type that never happens).

Answers localstripe never gives (a 402 with a decline code, refusals, 5xx, 429, a
dropped connection) are armed with `.fault(...)`; `.sent(method, path)` is what
reached the stand-in (headers that matter included).

`celery_eager` runs the tasks a test queues at once, in the test's process.

`signed_webhook()` builds the body and `Stripe-Signature` header Stripe would send,
for events localstripe never sends (`invoice.paid`, ...): HMAC-SHA256 of
"<timestamp>.<body>" with the endpoint's secret, as `t=<timestamp>,v1=<hex>`.
"""

import hashlib
import hmac
import json
import time
import urllib.request
from dataclasses import dataclass

import pytest

from stripe_standin import formencoding
from tests.stripe_standin.fixtures import StripeStandIn

SECRET_KEY = "sk_test_seatmgr_localstripe"
PUBLISHABLE_KEY = "pk_test_seatmgr_localstripe"
WEBHOOK_SECRET = "whsec_seatmgr_tests"
WEBHOOK_ID = "seatmgr-tests"
NO_EVENTS = ["seatmgr.never"]


@dataclass
class LocalStripe:
    """The stand-in, and localstripe behind it, as tests use them."""

    standin: StripeStandIn

    @property
    def url(self) -> str:
        return self.standin.url

    def _call(self, method: str, path: str, data: dict | None = None, *, secret: bool = True) -> dict:
        # Stripe's /v1 takes form-encoded bodies only (the stand-in refuses JSON there);
        # localstripe's /_config/ endpoints take JSON.
        if path.startswith("/_config/"):
            headers, body = {"Content-Type": "application/json"}, json.dumps(data).encode()
        else:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            body = formencoding.encode(data).encode() if data is not None else None
        if secret:
            headers["Authorization"] = f"Bearer {SECRET_KEY}"
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our loopback server
            answer = response.read()
        return json.loads(answer) if answer.strip() else {}

    def post(self, path: str, data: dict | None = None) -> dict:
        return self._call("POST", path, data or {})

    def get(self, path: str) -> dict:
        return self._call("GET", path)

    def register_webhook(self, url: str, events: list[str] | None = None) -> None:
        data = {"url": url, "secret": WEBHOOK_SECRET}
        if events is not None:
            data["events"] = events
        self.post(f"/_config/webhooks/{WEBHOOK_ID}", data)

    def list_all(self, resource: str) -> list[dict]:
        """Every object of a kind (`events`, `payment_intents`...), oldest first."""
        objects, after = [], ""
        while True:
            page = self.get(f"/v1/{resource}?limit=100" + (f"&starting_after={after}" if after else ""))
            objects += page["data"]
            if not page["has_more"] or not page["data"]:
                return objects
            after = page["data"][-1]["id"]

    def events(self, *, type: str | None = None) -> list[dict]:
        """Every event localstripe has created so far (of one type), oldest first."""
        return [event for event in self.list_all("events") if type is None or event["type"] == type]

    def payment_intents(self, *, customer: str) -> list[dict]:
        return [intent for intent in self.list_all("payment_intents") if intent["customer"] == customer]

    def authenticate(self, payment_intent_id: str, client_secret: str, *, success: bool = True) -> dict:
        """What Stripe.js's confirmCardPayment does in localstripe: the cardholder
        completes (or fails) 3-D Secure."""
        return self._call(
            "POST",
            f"/v1/payment_intents/{payment_intent_id}/_authenticate?success={str(success).lower()}",
            {"key": PUBLISHABLE_KEY, "client_secret": client_secret},
            secret=False,
        )

    def fault(self, path: str, **fault) -> None:
        """Make the stand-in answer `path` as a failing Stripe would (see
        `StripeStandIn.fault`)."""
        self.standin.fault(path, **fault)

    def clear_faults(self) -> None:
        self.standin.clear_faults()

    def sent(self, method: str, path: str) -> list[dict]:
        return self.standin.sent(method, path)


@pytest.fixture(scope="session")
def localstripe(stripe_standin_server):
    return LocalStripe(stripe_standin_server)


@pytest.fixture
def use_localstripe(localstripe, settings):
    """Settings pointing at the session's stand-in, its faults, recorded requests and
    idempotency keys forgotten."""
    localstripe.standin.reset()
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = localstripe.url
    settings.STRIPE_JS_URL = f"{localstripe.url}/js.stripe.com/v3/"
    return localstripe


@pytest.fixture
def localstripe_webhooks(use_localstripe, live_server):
    """localstripe delivers every event it creates during the test to the live server."""
    use_localstripe.register_webhook(live_server.url + "/billing/stripe/webhook/")
    yield use_localstripe
    use_localstripe.register_webhook(live_server.url + "/billing/stripe/webhook/", events=NO_EVENTS)


def signed_webhook(
    event: dict, *, timestamp: int | None = None, secret: str = WEBHOOK_SECRET
) -> tuple[bytes, str]:
    """The body and `Stripe-Signature` header of a delivery of `event`."""
    body = json.dumps(event).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={digest}"


@pytest.fixture
def celery_eager():
    """Tasks queued during the test run at once, in this process (with REDIS_URL set
    they go to the broker otherwise, where no worker listens during these tests)."""
    from seatmgr.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous
