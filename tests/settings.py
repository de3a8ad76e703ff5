"""The settings the test suite runs on: the app's own (seatmgr.settings), with what
they require set here explicitly, since they refuse to load without it.

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
