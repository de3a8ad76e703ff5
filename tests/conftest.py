"""The suite runs on PostgreSQL and Redis, never silently on SQLite.

`./scripts/test` exports DATABASE_URL and REDIS_URL (the machine's own services,
or throwaway ones it starts); running pytest by hand needs both set.
"""

import os

import pytest
import redis
from django.conf import settings

from tests.factories import (
    LicenceAssignmentFactory,
    MembershipFactory,
    OrganizationFactory,
    OrgUserFactory,
    PlanFactory,
    SubscriptionFactory,
    UserFactory,
)


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            "The tests need PostgreSQL: set DATABASE_URL (./scripts/test does this for you)."
        )
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError(
            "The tests need Redis: set REDIS_URL (./scripts/test does this for you)."
        )
    try:
        redis.Redis.from_url(os.environ["REDIS_URL"]).ping()
    except redis.RedisError as exc:
        raise pytest.UsageError(f"Redis at REDIS_URL is unreachable: {exc}") from exc


@pytest.fixture(autouse=True)
def _fresh_hot_cache():
    """Each test starts with a new cache generation: no answer survives from another test."""
    from subscriptions import hot_cache

    hot_cache.invalidate()
    yield


@pytest.fixture
def org_admin(db):
    """An organization with a live Documents subscription of 3 seats, and its admin."""
    membership = MembershipFactory()
    return membership


@pytest.fixture
def make_subscription(db):
    return SubscriptionFactory


__all__ = [
    "LicenceAssignmentFactory",
    "OrgUserFactory",
    "OrganizationFactory",
    "PlanFactory",
    "UserFactory",
]
