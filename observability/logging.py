"""What every log line carries: the request id (`RequestIdFilter`, on every handler),
and, with `LOG_FORMAT=json`, one JSON object per line (`JsonFormatter`) for a log
collector; the default text format is `TEXT_FORMAT`.

Filters run in the order a handler lists them: settings' LOGGING puts the token
redaction (seatmgr.log_redaction) before these, so what a formatter writes, the
exception's traceback included, is already redacted.
"""

import json
import logging
from datetime import UTC, datetime

from . import request_id

TEXT_FORMAT = "{asctime} {levelname} {name} [{request_id}] {message}"


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the request's or task's, or "-" outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id.get() or "-"
        return True


def _request_id_of(record: logging.LogRecord) -> str | None:
    rid = getattr(record, "request_id", "") or request_id.get()
    return rid if rid and rid != "-" else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message,
    request_id, and exception (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id_of(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
