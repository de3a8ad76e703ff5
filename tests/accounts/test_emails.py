"""allauth's emails (sign-in code, password reset, confirmations…) carry the vendor's
name in their subject and body, never the Site row's "[host:port]" prefix."""

import re
from pathlib import Path

import allauth
import pytest
from allauth.account.adapter import get_adapter
from django.core import mail

from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

ALLAUTH_EMAILS = sorted(
    path.name.removesuffix("_subject.txt")
    for path in (Path(allauth.__file__).parent / "templates/account/email").glob("*_subject.txt")
)


@pytest.fixture(autouse=True)
def vendor(settings):
    settings.VENDOR_NAME = "Acme Software"
    settings.SITE_URL = "https://seats.acme-software.example"


def test_the_sign_in_code_email_is_branded_and_has_no_site_prefix(client):
    MembershipFactory(user__email="ada@acme.example")

    client.post("/accounts/login/code/", {"email": "ada@acme.example"})

    (message,) = mail.outbox
    assert message.subject == "Your Acme Software sign-in code"
    assert message.body.startswith("Hello from Acme Software,")
    assert "https://seats.acme-software.example" in message.body
    assert re.search(r"^\s*([A-Z0-9-]{6,})\s*$", message.body, re.MULTILINE)
    assert "example.com" not in message.body and "[" not in message.subject


def test_a_password_reset_email_is_branded_and_links_to_the_reset(client):
    MembershipFactory(user__email="ada@acme.example")

    client.post("/accounts/password/reset/", {"email": "ada@acme.example"})

    (message,) = mail.outbox
    assert message.subject == "Reset your Acme Software password"
    assert "/accounts/password/reset/key/" in message.body
    assert "username" not in message.body


def test_an_unknown_address_is_sent_nothing_and_told_the_same_as_a_known_one(client):
    MembershipFactory(user__email="ada@acme.example")

    unknown = client.post("/accounts/password/reset/", {"email": "nobody@acme.example"}, follow=True)
    assert mail.outbox == []
    known = client.post("/accounts/password/reset/", {"email": "ada@acme.example"}, follow=True)

    assert [message.to for message in mail.outbox] == [["ada@acme.example"]]
    assert unknown.redirect_chain == known.redirect_chain


@pytest.mark.parametrize("template", ALLAUTH_EMAILS)
def test_every_allauth_email_is_overridden_with_the_vendors_name(template, rf):
    assert (Path(__file__).resolve().parents[2] / f"templates/account/email/{template}_subject.txt").exists()

    message = get_adapter(rf.get("/")).render_mail(
        f"account/email/{template}",
        "ada@acme.example",
        {"email": "ada@acme.example", "code": "ABC-123", "ip": "192.0.2.1", "user_agent": "Firefox"},
    )

    assert "Acme Software" in message.subject and not message.subject.startswith("[")
    assert "Acme Software" in message.body
