"""Capability tokens in URLs never reach a log.

The database keeps only their hashes (or allauth its signed keys), but a token travels
in the URL and so in every line that names a path: a unique link (`/l/<token>/…`), an
invitation (`/subscriptions/invitations/<token>/`), allauth's email confirmation
(`/accounts/confirm-email/<key>/`) and password reset
(`/accounts/password/reset/key/<uidb36>-<key>/`) appear in runserver's and gunicorn's
access logs (the request line, and the Referer of whatever a link's page loads),
Django's "Not Found: /l/…" warnings and the tracebacks of errors. `RedactLinkTokens`
is a logging filter that rewrites each record to `/l/<redacted>/…` before any handler
writes it; settings' LOGGING puts it on every handler, `seatmgr.gunicorn_logging` on
gunicorn's logs.
"""

import logging
import re

REDACTED = "<redacted>"

_SLASH = "(?:/|%2F)"
# The path segment after one of these prefixes (or their %2F-encoded form, as in a
# `next=` parameter), whatever follows.
_TOKEN_PREFIXES = ("l", "invitations", "confirm-email", "password/reset/key")
_LINK_TOKEN = re.compile(
    rf"({_SLASH}(?:{'|'.join(p.replace('/', _SLASH) for p in _TOKEN_PREFIXES)}){_SLASH})"
    r"(?:(?!%2F)[^/?#&\s\"'\\])+",
    re.IGNORECASE,
)


def redact_link_tokens(text: str) -> str:
    return _LINK_TOKEN.sub(rf"\g<1>{REDACTED}", text)


class RedactLinkTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_link_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse `exc_text` once it is set: set it, redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_link_tokens(record.exc_text)
        return True
