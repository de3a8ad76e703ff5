"""gunicorn's logger, as settings' LOGGING has the app's: unique links' tokens redacted
from its access log (request line and Referer) and error log, the request id on every
line (gunicorn logs a request's access line before Django forgets its id), and with
`LOG_FORMAT=json` one JSON object per line: `gunicorn --logger-class
seatmgr.gunicorn_logging.RedactingLogger` (docker-compose.yml, README).

In text, the access line stays the combined format that log tools read, with the
request id after it; error lines name it in brackets as the app's lines do.
"""

import os

from gunicorn.glogging import Logger

from observability.logging import JsonFormatter, RequestIdFilter
from seatmgr.log_redaction import RedactLinkTokens


class RedactingLogger(Logger):
    error_fmt = r"%(asctime)s [%(process)d] [%(levelname)s] [%(request_id)s] %(message)s"
    access_fmt = "%(message)s %(request_id)s"

    def setup(self, cfg) -> None:
        super().setup(cfg)  # runs again when gunicorn reloads: add the filters once
        as_json = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"
        for log in (self.access_log, self.error_log):
            # Redaction first: the request id and the formatter then see what is left.
            if not any(isinstance(existing, RedactLinkTokens) for existing in log.filters):
                log.addFilter(RedactLinkTokens())
                log.addFilter(RequestIdFilter())
            if as_json:
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())
