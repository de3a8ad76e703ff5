"""Unique links' tokens never reach a log.

The database keeps only their hashes, but a token travels in the URL (`/l/<token>/…`)
and so in every line that names a path: runserver's and gunicorn's access logs (the
request line, and the Referer of whatever a link's page loads), Django's "Not Found:
/l/…" warnings and the tracebacks of errors. `RedactLinkTokens` is a logging filter
that rewrites each record to `/l/<redacted>/…` before any handler writes it; settings'
LOGGING puts it on every handler, `seatmgr.gunicorn_logging` on gunicorn's logs.
"""

import logging
import re

REDACTED = "<redacted>"

# The path segment after /l/ (or %2Fl%2F, as in a `next=` parameter), whatever follows.
_LINK_TOKEN = re.compile(r"((?:/|%2F)l(?:/|%2F))(?:(?!%2F)[^/?#&\s\"'\\])+", re.IGNORECASE)


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
