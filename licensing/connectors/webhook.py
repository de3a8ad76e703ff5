"""Signed webhooks, per the Standard Webhooks specification (standardwebhooks.com):

    webhook-id:        the delivery id (stable across retries)
    webhook-timestamp: Unix seconds
    webhook-signature: "v1," + base64(HMAC-SHA256(secret, f"{id}.{timestamp}.{body}"))

The secret is `whsec_` + base64 of random bytes; the HMAC key is those bytes.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time

import requests

from . import outbound
from .base import Push, PushFailed

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(*, secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does (used by our tests and documented for customers)."""
    webhook_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not webhook_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = sign(secret=secret, webhook_id=webhook_id, timestamp=int(timestamp), body=body)
    offered = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


def body_for(push: Push) -> bytes:
    return json.dumps(
        {
            "organization": push.organization,
            "product": push.product,
            "seats": push.seats,
            "seat_change": push.seat_change,
            "version": push.version,
            "occurred_at": push.occurred_at.isoformat(),
        },
        separators=(",", ":"),
    ).encode()


class WebhookConnector:
    def __init__(self, connected_org):
        self.url = connected_org.webhook_url
        self.secret = connected_org.webhook_secret

    def push(self, push: Push) -> None:
        if not self.url or not self.secret:
            raise PushFailed("The webhook URL or secret is not set.")
        body = body_for(push)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "seatmgr-webhooks/1",
            "webhook-id": push.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                secret=self.secret, webhook_id=push.delivery_id, timestamp=timestamp, body=body
            ),
        }
        try:
            with outbound.session() as session:
                response = session.post(self.url, data=body, headers=headers)
        except outbound.Redirected as redirect:
            raise PushFailed(
                f"Your org answered HTTP {redirect.status}: redirects are not followed."
            ) from None
        except outbound.Refused as refused:
            raise PushFailed(f"Not sent: {refused.message}.") from None
        except requests.RequestException:
            # One answer for refused, timed out, TLS failure or no DNS: which of
            # these it was would tell what listens where.
            raise PushFailed("Your org could not be reached.") from None
        if not 200 <= response.status_code < 300:
            raise PushFailed(f"Your org answered HTTP {response.status_code}.")
