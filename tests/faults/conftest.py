"""The fault suite's production shape: a Redis of its own, a real Celery worker and beat on
it and on pytest-django's test database, the strict Stripe stand-in, an SMTP server, and
connected orgs that are real Standard Webhooks receivers (tests/faults/harness.py).

The worker, beat and Redis are started once per module and brought back before each test
(a test may have killed them); the test's own process plays the web process, on the same
Redis. Tests are `transaction=True`: the other processes see only committed rows.
"""

import os

import pytest
from django.db import connection

from licensing.connectors import webhook
from licensing.models import ConnectedOrg as ConnectedOrgRow
from seatmgr.celery import app as celery_app
from tests import stripe_server
from tests.celery_worker import Worker, test_database_url
from tests.factories import SubscriptionFactory

from .harness import (
    BackendTerminator,
    Beat,
    ConnectedOrg,
    RedisServer,
    SmtpServer,
    Supervisor,
    this_process_on,
)


class Stack:
    """What one fault test drives."""

    def __init__(self, *, redis, worker, beat, smtp, localstripe):
        self.redis, self.worker, self.beat, self.smtp = redis, worker, beat, smtp
        self.supervisor = Supervisor(worker, beat)
        self.localstripe = localstripe
        self.orgs: list[ConnectedOrg] = []

    def subscription_with_org(self, *, quantity: int = 3, **kwargs):
        """A subscription whose organization's connected org is a new `ConnectedOrg`
        server (accepting); returns both."""
        subscription = SubscriptionFactory(quantity=quantity, **kwargs)
        secret = webhook.new_secret()
        org = ConnectedOrg(secret)
        self.orgs.append(org)
        ConnectedOrgRow.objects.create(
            organization=subscription.organization,
            kind=ConnectedOrgRow.Kind.WEBHOOK,
            webhook_url=org.url,
            webhook_secret=secret,
        )
        return subscription, org

    def terminate_backends(self, every=(0.5, 2.0)) -> BackendTerminator:
        """A context: the app's PostgreSQL connections terminated every `every` seconds."""
        settings = connection.settings_dict
        dsn = {"host": settings["HOST"], "port": settings["PORT"] or 5432, "user": settings["USER"]}
        if settings["PASSWORD"]:
            dsn["password"] = settings["PASSWORD"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            own = cursor.fetchone()[0]
        return BackendTerminator(dsn, settings["NAME"], own, every)

    def ensure_running(self) -> None:
        if not self.redis.running:
            self.redis.start()
        self.supervisor.ensure_running()


@pytest.fixture(scope="module")
def fault_stack(django_db_setup, django_db_blocker, localstripe, request):
    name = "faults-" + request.module.__name__.rsplit(".", 1)[-1]
    redis_server = RedisServer()
    redis_server.start()
    smtp = SmtpServer()
    with django_db_blocker.unblock():
        database_url = test_database_url()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "STRIPE_SECRET_KEY": stripe_server.SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": stripe_server.PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": stripe_server.WEBHOOK_SECRET,
        "STRIPE_API_BASE": localstripe.url,
        # Emails go through the outbox (EMAIL_BACKEND is outbox.mail's); with EMAIL_HOST
        # set, its real backend (OUTBOX_EMAIL_BACKEND) is SMTP to the suite's server.
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_USE_TLS": "0",
        # Every outbox job of the worker and beat goes through the broker (none runs in
        # the process that queued it), as in production.
        "OUTBOX_IN_PROCESS_KINDS": "",
    }
    worker = Worker(database_url, name=name)
    worker.env = env
    beat = Beat(env, name=name)
    stack = Stack(redis=redis_server, worker=worker, beat=beat, smtp=smtp, localstripe=localstripe)
    try:
        stack.supervisor.start()
        yield stack
    finally:
        stack.supervisor.stop()
        smtp.stop()
        redis_server.stop()


@pytest.fixture
def stack(fault_stack, transactional_db, use_localstripe, settings):
    """The stack running, its queue empty and its mailbox too; this process on its Redis,
    its emails through the outbox to the stack's SMTP server like the worker's (sent in
    this process right after commit, tests/settings.py OUTBOX_IN_PROCESS_KINDS, and
    retried by the worker when that fails)."""
    fault_stack.ensure_running()
    fault_stack.smtp.switch("accept")
    fault_stack.smtp.messages.clear()
    settings.EMAIL_BACKEND = "outbox.mail.OutboxEmailBackend"
    settings.OUTBOX_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", fault_stack.smtp.port
    settings.EMAIL_USE_TLS = False
    with this_process_on(fault_stack.redis):
        celery_app.control.purge()
        yield fault_stack
        for org in fault_stack.orgs:
            org.stop()
        fault_stack.orgs.clear()
        fault_stack.ensure_running()
        celery_app.control.purge()
