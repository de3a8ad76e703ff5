"""The suite runs on PostgreSQL and Redis, never silently on SQLite.

`./scripts/test` exports DATABASE_URL and REDIS_URL (the machine's own services,
or throwaway ones it starts); running pytest by hand needs both set. The rest of
what the settings require is set by tests/settings.py (DJANGO_SETTINGS_MODULE in
pyproject.toml).
"""

import os

import pytest
import redis
from django.conf import settings

# Stripe for every test that needs it: the strict stand-in in front of a real
# localstripe (billing), and a real Celery worker (licensing).
pytest_plugins = ["tests.stripe_standin.fixtures", "tests.stripe_server"]


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            "The tests need PostgreSQL: set DATABASE_URL (./scripts/test does this for you)."
        )
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("The tests need Redis: set REDIS_URL (./scripts/test does this for you).")
    try:
        redis.Redis.from_url(os.environ["REDIS_URL"]).ping()
    except redis.RedisError as exc:
        raise pytest.UsageError(f"Redis at REDIS_URL is unreachable: {exc}") from exc


@pytest.fixture(autouse=True)
def _emails_through_the_outbox(settings):
    """pytest-django swaps EMAIL_BACKEND for its in-memory one: the outbox's backend
    comes back in front of it, so that every email a test sees went through the
    outbox, as in production, and landed in `django.core.mail.outbox`."""
    settings.EMAIL_BACKEND = "outbox.mail.OutboxEmailBackend"
    settings.OUTBOX_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: no cached answer nor rate-limit count
    survives from another test. Only the cache's keys go (the Celery broker shares
    this Redis database, and a worker may be listening)."""
    from subscriptions import api_throttling, hot_cache

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    hot_cache.forget()
    api_throttling.forget()
    yield
