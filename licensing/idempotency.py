"""`Idempotency-Key` on the API's POST, PATCH and DELETE, as Stripe does it.

- A key belongs to its caller (an API key, or a signed-in person) and is kept 24 hours.
- The same key with the same write (method, path and JSON body) replays the first
  answer, status and body, with `Idempotent-Replayed: true`, and runs nothing.
- The same key with another write answers 409 `idempotency_key_reused`.
- While a request with a key runs, another with the same key answers 409
  `idempotency_key_in_use` (retry it a moment later: it then replays).

How: the key's row is inserted (and committed) first, then locked `FOR UPDATE NOWAIT`
in the transaction that runs the view and stores its answer. The write and its
stored answer commit together, so a crash in between leaves neither, and the next
retry runs the write. A server error or a 429 is not stored: nothing was written.
"""

import hashlib
import json
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.response import Response

from subscriptions.api_http import IDEMPOTENCY_HEADER as HEADER
from subscriptions.api_http import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY_LENGTH, request_id
from subscriptions.api_throttling import who_is
from subscriptions.errors import Conflict

from .models import IdempotencyKey

KEPT_FOR = timedelta(hours=24)


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"

    def __init__(self):
        super().__init__(
            "This Idempotency-Key was already used for another request (another method, path or "
            "body) in the last 24 hours: use a new key for a new request."
        )


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"

    def __init__(self):
        super().__init__(
            "A request with this Idempotency-Key is still running: retry in a moment to get its answer."
        )


def key_of(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise exceptions.ValidationError(
            {
                HEADER: [
                    f"Give an {HEADER} of 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters, "
                    "no spaces."
                ]
            }
        )
    return key


def fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"))
    write = f"{request.method} {request.path.rstrip('/')}\n{body}"
    return hashlib.sha256(write.encode()).hexdigest()


def replay(request, row: IdempotencyKey) -> Response:
    body = json.loads(row.response_body)
    if isinstance(body, dict) and "request_id" in body:  # an error names the request answering it
        body["request_id"] = request_id(request)
    return Response(body, status=row.response_status, headers={"Idempotent-Replayed": "true"})


def run(request, respond) -> Response:
    """Answer `request` with `respond()` (which must return a DRF Response, never raise)
    at most once per key and caller."""
    key, scope = key_of(request), who_is(request.user)
    if key is None or scope is None:
        return respond()
    write = fingerprint(request)
    now = timezone.now()
    row, created = IdempotencyKey.objects.get_or_create(
        scope=scope, key=key, defaults={"fingerprint": write, "created_at": now}
    )
    if created:
        IdempotencyKey.objects.filter(scope=scope, created_at__lt=now - KEPT_FOR).delete()
    with transaction.atomic():
        try:
            row = IdempotencyKey.objects.select_for_update(nowait=True).get(pk=row.pk)
        except (DatabaseError, IdempotencyKey.DoesNotExist):
            raise IdempotencyKeyInUse() from None
        if row.created_at < now - KEPT_FOR:  # an expired key is a new one
            row.fingerprint, row.created_at, row.response_status, row.response_body = write, now, None, ""
        if row.fingerprint != write:
            raise IdempotencyKeyReused()
        if row.response_status is not None:
            return replay(request, row)
        response = respond()
        if response.status_code >= 500 or response.status_code == 429:
            transaction.set_rollback(True)
            return response
        row.response_status, row.response_body = response.status_code, json.dumps(response.data)
        row.save(update_fields=["fingerprint", "created_at", "response_status", "response_body"])
    return response
