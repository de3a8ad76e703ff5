"""Connector secrets are stored encrypted with FIELD_ENCRYPTION_KEY, never in the clear."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from licensing import fields
from licensing.models import ConnectedOrg
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def field_key(settings):
    """Sets FIELD_ENCRYPTION_KEY for the test (the keys are read once per process)."""

    def use(key: str) -> None:
        settings.FIELD_ENCRYPTION_KEY = key
        fields._fernet.cache_clear()

    yield use
    fields._fernet.cache_clear()


def stored_secret(connected_org: ConnectedOrg) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secret FROM licensing_connectedorg WHERE id = %s", [connected_org.pk])
        return cursor.fetchone()[0]


def test_a_secret_is_stored_encrypted_and_read_back_after_a_key_rotation(field_key):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    field_key(old_key)
    connected_org = ConnectedOrg.objects.create(
        organization=OrganizationFactory(), webhook_secret="whsec_the-real-secret"
    )

    stored = stored_secret(connected_org)
    assert stored.startswith("fernet:")
    assert "the-real-secret" not in stored
    assert Fernet(old_key).decrypt(stored.removeprefix("fernet:").encode()) == b"whsec_the-real-secret"

    field_key(f"{new_key},{old_key}")  # rotation: the new key first, the old one still reads
    assert ConnectedOrg.objects.get(pk=connected_org.pk).webhook_secret == "whsec_the-real-secret"

    field_key(new_key)  # the old key dropped too early
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        ConnectedOrg.objects.get(pk=connected_org.pk)


def test_no_key_stores_nothing(field_key):
    organization = OrganizationFactory()
    field_key("")

    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEY is empty"), transaction.atomic():
        ConnectedOrg.objects.create(organization=organization, webhook_secret="whsec_x")
    assert not ConnectedOrg.objects.exists()
