import pytest
from django.test import Client

from subscriptions.models import ApiKey, hash_secret
from tests.factories import SubscriptionFactory

API = "/api/v1"


def api_key_for(organization) -> str:
    raw = ApiKey.generate_raw()
    ApiKey.objects.create(organization=organization, name="CRM", prefix=raw[:8], key_hash=hash_secret(raw))
    return raw


def key_client(raw_key: str, **headers) -> Client:
    return Client(headers={"Authorization": f"Api-Key {raw_key}", **headers})


@pytest.fixture
def subscription(db):
    """A live Documents subscription of 3 seats."""
    return SubscriptionFactory(quantity=3, plan__product__code="documents")


@pytest.fixture
def org(subscription):
    return subscription.organization


@pytest.fixture
def raw_key(org):
    return api_key_for(org)


@pytest.fixture
def api(raw_key):
    return key_client(raw_key)
