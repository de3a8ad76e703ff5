"""The id of the request (or task) being served, so that a web request and every task
it queues log the same id.

Middleware (`observability.middleware.RequestIdMiddleware`) sets it for each web
request: the caller's own `X-Request-Id` when it is a sane token (so a proxy's or a
client's id carries through), else a new one, echoed in the answer's header. A task
queued meanwhile carries it in its Celery headers and sets it again while it runs
(seatmgr/celery.py); a task nobody's request queued (beat's) runs under its own task
id. Outside any request or task it is empty.
"""

import itertools
import os
import re
import secrets
from contextvars import ContextVar

HEADER = "X-Request-Id"
# What a caller may name its own request: short, and nothing a log line or a header
# would have to escape.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_request_id: ContextVar[str] = ContextVar("request_id", default="")

# A new id is this process's random prefix and a counter: unique without costing a
# random number per request (on the licence check that is a measurable share). A forked
# process (a gunicorn worker of a preloaded app) draws its own prefix.
_ids = {}


def _new_prefix() -> None:
    _ids.update(prefix=secrets.token_hex(8), counter=itertools.count(1))


_new_prefix()
os.register_at_fork(after_in_child=_new_prefix)


def new() -> str:
    """A new id: 32 hex digits."""
    return f"{_ids['prefix']}{next(_ids['counter']):016x}"


def from_caller(given: str | None) -> str:
    """The caller's id when it is a sane token, else a new one."""
    return given if given and _SANE.fullmatch(given) else new()


def get() -> str:
    return _request_id.get()


def set(value: str):
    """Make `value` the current id; returns a token for `reset`."""
    return _request_id.set(value or "")


def reset(token) -> None:
    _request_id.reset(token)
