"""The dev mailbox (/_dev/mail/) shows every organization's emails: only with DEV_MAILBOX.

The tests run with it on (tests/settings.py); production does not even route it
(tests/test_deployment.py)."""

import pytest
from django.core import mail

from devmail.backends import StoredEmailBackend
from devmail.models import StoredEmail

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_email():
    StoredEmailBackend().send_messages(
        [mail.EmailMessage("Your unique links", "https://seats.example/l/secret/", to=["ada@acme.example"])]
    )
    return StoredEmail.objects.get()


def test_the_mailbox_shows_stored_emails_when_on(client, settings, stored_email):
    settings.DEV_MAILBOX = True

    listing = client.get("/_dev/mail/")
    message = client.get(f"/_dev/mail/{stored_email.pk}/")

    assert listing.status_code == 200
    assert "Your unique links" in listing.content.decode()
    assert "https://seats.example/l/secret/" in message.content.decode()


def test_the_mailbox_is_not_found_when_off(client, settings, stored_email):
    settings.DEV_MAILBOX = False

    assert client.get("/_dev/mail/").status_code == 404
    assert client.get(f"/_dev/mail/{stored_email.pk}/").status_code == 404
