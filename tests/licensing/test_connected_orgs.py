"""Connector settings as staff save them (licensing.connected_orgs)."""

import pytest
from django.db import connection

from audit.models import AuditEvent
from licensing.connected_orgs import ConnectedOrgInput, connected_org_save
from licensing.connectors import webhook
from licensing.models import ConnectedOrg
from subscriptions.errors import InvalidInput
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

SALESFORCE = {
    "kind": "salesforce",
    "salesforce_login_url": "https://login.salesforce.com",
    "salesforce_username": "integration@acme.example",
    "salesforce_password": "pw-and-token",
    "salesforce_client_id": "3MVG9",
    "salesforce_client_secret": "consumer-secret",
    "salesforce_subscriber_org_id": "00D000000000001",
    "salesforce_package_id": "033000000000001AAA",
}


def test_a_new_signing_secret_replaces_the_old_one_only_when_asked():
    organization = OrganizationFactory()
    first = connected_org_save(
        organization=organization,
        data=ConnectedOrgInput(kind="webhook", webhook_url="https://hooks.acme.example/"),
    )
    same = connected_org_save(
        organization=organization,
        data=ConnectedOrgInput(kind="webhook", webhook_url="https://hooks.acme.example/"),
    )
    rotated = connected_org_save(
        organization=organization,
        data=ConnectedOrgInput(
            kind="webhook", webhook_url="https://hooks.acme.example/", new_webhook_secret=True
        ),
    )

    assert first.new_webhook_secret.startswith(webhook.SECRET_PREFIX)
    assert (same.new_webhook_secret, same.changed) == ("", [])
    assert rotated.new_webhook_secret not in ("", first.new_webhook_secret)
    assert ConnectedOrg.objects.get().webhook_secret == rotated.new_webhook_secret
    assert AuditEvent.objects.filter(action="connected_org.updated").count() == 2  # not for "same"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"salesforce_login_url": "http://login.salesforce.com"}, "salesforce_login_url"),
        ({"salesforce_username": "  "}, "salesforce_username"),
        ({"salesforce_password": ""}, "salesforce_password"),
        ({"salesforce_client_secret": ""}, "salesforce_client_secret"),
        ({"salesforce_package_id": "033"}, "salesforce_package_id"),
    ],
)
def test_salesforce_settings_are_checked_before_anything_is_stored(changes, field):
    organization = OrganizationFactory()

    with pytest.raises(InvalidInput) as refused:
        connected_org_save(organization=organization, data=ConnectedOrgInput(**{**SALESFORCE, **changes}))

    assert refused.value.extra["field"] == field
    assert not ConnectedOrg.objects.exists()


def test_credentials_are_stored_encrypted_and_never_written_to_the_audit_log():
    organization = OrganizationFactory()

    connected_org_save(organization=organization, data=ConnectedOrgInput(**SALESFORCE))

    with connection.cursor() as cursor:
        cursor.execute("SELECT salesforce_password, salesforce_client_secret FROM licensing_connectedorg")
        stored = cursor.fetchone()
    assert all(value.startswith("fernet:") for value in stored)
    assert ConnectedOrg.objects.get().salesforce_password == "pw-and-token"
    audit = AuditEvent.objects.get(action="connected_org.updated")
    logged = str(audit.before) + str(audit.after)
    assert "pw-and-token" not in logged and "consumer-secret" not in logged
    assert audit.after["salesforce_password"] == "new secret"


def test_the_django_admin_shows_connectors_without_their_secrets_and_cannot_edit_them(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    organization = OrganizationFactory()
    saved = connected_org_save(organization=organization, data=ConnectedOrgInput(**SALESFORCE))

    page = client.get(f"/admin/licensing/connectedorg/{saved.connected_org.pk}/change/")
    edit = client.post(
        f"/admin/licensing/connectedorg/{saved.connected_org.pk}/change/",
        {"organization": organization.pk, "kind": "webhook", "webhook_url": "https://evil.example/"},
    )

    body = page.content.decode()
    assert page.status_code == 200 and "integration@acme.example" in body
    assert "pw-and-token" not in body and "consumer-secret" not in body and "fernet:" not in body
    assert edit.status_code == 403
    assert ConnectedOrg.objects.get().kind == "salesforce"
    assert client.get("/admin/licensing/connectedorg/add/").status_code == 403


@pytest.mark.parametrize(
    "changes",
    [
        {"salesforce_login_url": "https://acme.my.salesforce.com"},
        {"salesforce_username": "someone@else.example"},
    ],
)
def test_the_stored_secrets_are_not_kept_for_a_new_login_url_or_user(changes):
    organization = OrganizationFactory()
    connected_org_save(organization=organization, data=ConnectedOrgInput(**SALESFORCE))
    blanks = {"salesforce_password": "", "salesforce_client_secret": ""}

    with pytest.raises(InvalidInput) as refused:
        connected_org_save(
            organization=organization, data=ConnectedOrgInput(**{**SALESFORCE, **blanks, **changes})
        )

    assert refused.value.extra["field"] == "salesforce_password"
    stored = ConnectedOrg.objects.get()
    assert (stored.salesforce_login_url, stored.salesforce_password) == (
        "https://login.salesforce.com",
        "pw-and-token",
    )
