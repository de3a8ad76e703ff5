"""The suite runs on PostgreSQL and Redis, never silently on SQLite.

`./scripts/test` exports DATABASE_URL and REDIS_URL (the machine's own services,
or throwaway ones it starts); running pytest by hand needs both set.
"""

import os

import pytest
import redis
from django.conf import settings


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
def _empty_cache():
    """Each test starts with an empty cache (Redis database of REDIS_URL, which belongs
    to the tests): no cached answer nor rate-limit count survives from another test."""
    from django.core.cache import cache

    from subscriptions import hot_cache

    cache.clear()
    hot_cache.forget()
    yield
