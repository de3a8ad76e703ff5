"""gunicorn's logger with unique links' tokens redacted from its access log (request
line and Referer) and error log: `gunicorn --logger-class
seatmgr.gunicorn_logging.RedactingLogger` (docker-compose.yml, README)."""

from gunicorn.glogging import Logger

from seatmgr.log_redaction import RedactLinkTokens


class RedactingLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)  # runs again when gunicorn reloads: add the filter once
        for log in (self.access_log, self.error_log):
            if not any(isinstance(existing, RedactLinkTokens) for existing in log.filters):
                log.addFilter(RedactLinkTokens())
