"""The settings the test suite runs on, in pytest and in the processes the tests start
(the Celery worker inherits DJANGO_SETTINGS_MODULE): the app's own (seatmgr.settings),
with what they require set here explicitly, since they refuse to load without it.

DEBUG=1 at load time (pytest-django then turns DEBUG off for every test): static files
come from the finders, and no HTTPS redirect stands between the live server and the
browser. The keys are random per run, and put in the environment so that the Celery
worker and other processes the tests start share them. The mailbox is on, so that its
pages can be tested. DATABASE_URL and REDIS_URL come from outside (tests/conftest.py).
"""

import os
import secrets

from cryptography.fernet import Fernet

os.environ["DEBUG"] = "1"
os.environ["DEV_MAILBOX"] = "1"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())

from seatmgr.settings import *  # noqa: F403

# The tests' connected orgs are real local servers on 127.0.0.1 (tests/receivers.py,
# tests/salesforce_server.py). Tests of the outbound guard turn this off.
CONNECTED_ORG_ALLOW_LOOPBACK = True

# The tests' own process has no Celery worker: emails are sent in it right after
# commit, through the outbox job as everywhere (claimed, marked done, retried by the
# dispatcher); other kinds go to the broker. The worker processes the tests start set
# this empty (tests/celery_worker.py).
OUTBOX_IN_PROCESS_KINDS = env_list("OUTBOX_IN_PROCESS_KINDS", "email")  # noqa: F405
