"""The id of the request (or task) being served, so that a web request and every task
it queues log the same id.

Middleware sets it for each web request; a task queued meanwhile carries it (in
its Celery headers, or in the outbox row that queues it) and sets it again while it
runs. Outside any request it is empty.
"""

from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("request_id", default="")


def get() -> str:
    return _request_id.get()


def set(value: str):
    """Make `value` the current id; returns a token for `reset`."""
    return _request_id.set(value or "")


def reset(token) -> None:
    _request_id.reset(token)
