import pytest

from seatmgr.celery import app

from .smtp_server import SMTPServer


@pytest.fixture
def smtp(settings):
    """Emails go to a real SMTP server on this machine (through the outbox)."""
    server = SMTPServer()
    settings.OUTBOX_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.stop()


def _reset_connections() -> None:
    app.amqp._producer_pool = None
    app._pool = None


@pytest.fixture
def broker_down():
    """The broker is unreachable (nothing listens on port 9): every publish fails, as
    with Redis down. Yields a function that brings it back."""
    url = app.conf.broker_url

    def back() -> None:
        app.conf.broker_url = url
        _reset_connections()

    app.conf.broker_url = "redis://127.0.0.1:9/0"
    _reset_connections()
    yield back
    back()
