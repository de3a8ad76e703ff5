"""Error tracking with Sentry, switched on by SENTRY_DSN alone (settings call
`sentry_init` only then; without it the SDK is never even imported, so nothing is sent).

Errors of web requests (Django) and tasks (Celery) are reported, with their request
id as a tag (observability.request_id), without personal data (`send_default_pii`
off: no cookies, no user, no client IP, no request bodies), and with capability
tokens redacted from every string of the event (its URL, headers, messages and
breadcrumbs), as the logs redact them (seatmgr/log_redaction.py). Frames are sent
without their local variables, which may hold a token under any name.
"""

from observability import request_id
from seatmgr.log_redaction import redact_link_tokens


def _redacted(value):
    if isinstance(value, str):
        return redact_link_tokens(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def before_send(event: dict, hint: dict) -> dict:
    rid = request_id.get()
    if rid:
        event.setdefault("tags", {})["request_id"] = rid
    return _redacted(event)


def sentry_init(*, dsn: str, environment: str = "") -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        # A frame's local variables may hold a raw token or key under any name (a
        # view's `token` argument, a service's `raw`): tracebacks go without them.
        include_local_variables=False,
        before_send=before_send,
        before_breadcrumb=lambda crumb, hint: _redacted(crumb),
        # Errors only: no performance traces.
        traces_sample_rate=0,
    )
