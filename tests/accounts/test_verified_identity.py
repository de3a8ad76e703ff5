"""Only a verified address signs anyone in, and an address typed into one's own account
(unverified) never becomes its login address, receives its codes, or attaches it to
someone else's organization. Everything goes through allauth's real views."""

import re
from datetime import date

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from accounts.models import User
from backoffice import services
from tests.factories import PASSWORD, MembershipFactory, PlanFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

VICTIM = "victim@bigcorp.example"


def signed_in_by_code(email: str) -> Client:
    client = Client()
    client.post("/accounts/login/code/", {"email": email})
    (message,) = mail.outbox
    client.post("/accounts/login/code/confirm/", {"code": code_in(message)})
    assert "_auth_user_id" in client.session
    mail.outbox.clear()
    return client


def add_address(client: Client, email: str):
    return client.post("/accounts/email/", {"action_add": "", "email": email}, follow=True)


def code_in(message) -> str:
    return re.search(r"^\s*([A-Z0-9-]{6,})\s*$", message.body, re.MULTILINE).group(1)


@pytest.fixture
def attacker():
    """A customer admin as the back office creates one: no password, signs in by code."""
    services.account_create(
        actor=UserFactory(is_staff=True, staff_role="account_manager"),
        name="Mallory Co",
        billing_email="ap@attacker.example",
        admin_name="Mallory",
        admin_email="mallory@attacker.example",
        plan=PlanFactory(),
        seats=3,
        period_start=date(2026, 11, 1),
    )
    return User.objects.get(email="mallory@attacker.example")


def test_an_address_added_at_accounts_email_stays_unverified_and_is_sent_a_confirmation(attacker):
    client = signed_in_by_code(attacker.email)

    add_address(client, VICTIM)

    added = EmailAddress.objects.get(user=attacker, email=VICTIM)
    assert (added.verified, added.primary) == (False, False)
    (confirmation,) = mail.outbox
    assert confirmation.to == [VICTIM]
    attacker.refresh_from_db()
    assert attacker.email == "mallory@attacker.example"


def test_an_unverified_address_cannot_be_made_primary(attacker):
    client = signed_in_by_code(attacker.email)
    add_address(client, VICTIM)

    response = client.post("/accounts/email/", {"action_primary": "", "email": VICTIM}, follow=True)

    attacker.refresh_from_db()
    assert attacker.email == "mallory@attacker.example"
    assert EmailAddress.objects.get(user=attacker, primary=True).email == "mallory@attacker.example"
    assert not EmailAddress.objects.get(email=VICTIM).primary
    assert "must be verified" in response.content.decode()


def test_the_verified_address_cannot_be_removed_to_make_way_for_an_unverified_one(attacker):
    client = signed_in_by_code(attacker.email)
    add_address(client, VICTIM)

    client.post("/accounts/email/", {"action_remove": "", "email": "mallory@attacker.example"})
    client.post("/accounts/email/", {"action_primary": "", "email": VICTIM})

    kept = EmailAddress.objects.get(user=attacker, email="mallory@attacker.example")
    assert kept.verified and kept.primary
    attacker.refresh_from_db()
    assert attacker.email == "mallory@attacker.example"


def test_a_sign_in_code_is_never_sent_to_an_unverified_address(attacker):
    add_address(signed_in_by_code(attacker.email), VICTIM)
    mail.outbox.clear()
    stranger = Client()

    response = stranger.post("/accounts/login/code/", {"email": VICTIM}, follow=True)
    # Whatever code is tried, nobody is signed in.
    stranger.post("/accounts/login/code/confirm/", {"code": "ABCDEF"}, follow=True)

    # The same answer as for a known address (no enumeration), but nothing is sent.
    assert response.redirect_chain[-1][0] == "/accounts/login/code/confirm/"
    assert mail.outbox == []
    assert "_auth_user_id" not in stranger.session
    assert not EmailAddress.objects.get(email=VICTIM).verified


def test_a_code_for_an_address_reaches_only_the_account_that_verified_it(attacker):
    owner = MembershipFactory(user__email=VICTIM, organization__name="Bigcorp").user
    EmailAddress.objects.create(user=attacker, email="owner-too@bigcorp.example", verified=False)
    client = Client()

    client.post("/accounts/login/code/", {"email": VICTIM})
    (message,) = mail.outbox
    response = client.post("/accounts/login/code/confirm/", {"code": code_in(message)}, follow=True)

    assert message.to == [VICTIM]
    assert int(client.session["_auth_user_id"]) == owner.pk
    assert "Bigcorp" in response.content.decode()


def test_a_password_sign_in_with_an_unverified_address_stops_at_verification():
    MembershipFactory(user__email="legacy@customer.example", user__verified=False)
    client = Client()

    response = client.post("/accounts/login/", {"login": "legacy@customer.example", "password": PASSWORD})

    assert "_auth_user_id" not in client.session
    assert response["Location"] == "/accounts/confirm-email/"
    (confirmation,) = mail.outbox
    assert confirmation.to == ["legacy@customer.example"]
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")


def test_a_password_reset_is_never_sent_to_an_unverified_address(attacker):
    add_address(signed_in_by_code(attacker.email), VICTIM)
    mail.outbox.clear()

    response = Client().post("/accounts/password/reset/", {"email": VICTIM}, follow=True)

    assert response.status_code == 200
    assert mail.outbox == []


def test_confirming_the_emailed_link_verifies_a_legacy_address_and_then_it_signs_in():
    UserFactory(email="legacy@customer.example", verified=False)
    client = Client()
    client.post("/accounts/login/", {"login": "legacy@customer.example", "password": PASSWORD})
    (confirmation,) = mail.outbox
    confirm_url = re.search(r"http://\S+/accounts/confirm-email/\S+/", confirmation.body).group(0)

    client.post(confirm_url.split("testserver", 1)[-1])
    client.post("/accounts/login/", {"login": "legacy@customer.example", "password": PASSWORD})

    assert EmailAddress.objects.get(email="legacy@customer.example").verified
    assert "_auth_user_id" in client.session


def test_nobody_can_sign_up_on_their_own_even_with_an_address_someone_claimed(attacker):
    add_address(signed_in_by_code(attacker.email), VICTIM)

    password = "a-long-password-1"
    response = Client().post(
        "/accounts/signup/", {"email": VICTIM, "password1": password, "password2": password}
    )

    assert response.status_code in (200, 403)
    assert not User.objects.filter(email=VICTIM).exists()


def test_the_migration_verifies_only_login_addresses_nobody_has_touched():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("accounts.migrations.0002_verify_vendor_given_login_addresses")
    untouched = UserFactory(email="Given@Vendor.example", verified=False)
    changed = UserFactory(email=VICTIM, verified=False)
    EmailAddress.objects.create(user=changed, email=VICTIM, verified=False, primary=True)
    owner = UserFactory(email="owner@bigcorp.example")
    EmailAddress.objects.create(user=owner, email="shared@bigcorp.example", verified=True)
    duplicate = UserFactory(email="Shared@bigcorp.example", verified=False)

    migration.verify_untouched_login_addresses(apps, None)

    assert EmailAddress.objects.get(user=untouched).email == "given@vendor.example"
    assert EmailAddress.objects.get(user=untouched).verified
    assert not EmailAddress.objects.get(user=changed).verified
    assert EmailAddress.objects.filter(user=owner, verified=True).count() == 2
    assert not EmailAddress.objects.filter(user=duplicate).exists()
