"""The pre-hijack of a new account's admin, end to end through the real views: a
customer types someone else's address into their own account; an account manager
later creates a new account with that address as its admin. The customer must get
nothing; the address's real owner gets the account (new address) or an invitation
they accept (an address that already leads to an account)."""

import re
from datetime import date

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client, TestCase

from accounts.models import User
from audit.models import AuditEvent
from backoffice import services
from subscriptions.models import Invitation, Membership, Organization
from tests.factories import PASSWORD, MembershipFactory, PlanFactory, UserFactory

from .factories import staff_factory

pytestmark = pytest.mark.django_db

VICTIM = "ceo@bigcorp.example"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def new_account(am, *, admin_email=VICTIM, name="Bigcorp", slug="bigcorp", capture):
    plan = PlanFactory(code="documents-monthly")
    with capture(execute=True):
        response = signed_in(am).post(
            "/backoffice/accounts/new/",
            {
                "name": name,
                "slug": slug,
                "billing_email": "ap@bigcorp.example",
                "admin_name": "Bea Bigcorp",
                "admin_email": admin_email,
                "plan": str(plan.pk),
                "seats": "4",
                "period_start": "2026-11-01",
                "activate": "on",
            },
            follow=True,
        )
    assert response.status_code == 200, response.content.decode()
    return Organization.objects.get(slug=slug), response


def sign_in_by_code(email: str) -> Client:
    client = Client()
    mail.outbox.clear()
    # The code email leaves through the outbox once the request's work commits.
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post("/accounts/login/code/", {"email": email})
    codes = [m for m in mail.outbox if m.to == [email] and "code" in m.subject.lower()]
    if codes:
        code = re.search(r"^\s*([A-Z0-9-]{6,})\s*$", codes[0].body, re.MULTILINE).group(1)
        client.post("/accounts/login/code/confirm/", {"code": code})
    return client


def link_in(message, path: str) -> str:
    return re.search(rf"https?://\S+?({re.escape(path)}\S+)", message.body).group(1)


@pytest.fixture
def attacker():
    """A customer admin (of Mallory Co) as the back office creates one: no password,
    signs in by code."""
    services.account_create(
        actor=staff_factory("account_manager"),
        name="Mallory Co",
        billing_email="ap@attacker.example",
        admin_name="Mallory",
        admin_email="mallory@attacker.example",
        plan=PlanFactory(),
        seats=3,
        period_start=date(2026, 11, 1),
    )
    return User.objects.get(email="mallory@attacker.example")


@pytest.fixture
def am():
    return staff_factory("account_manager", email="am@vendor.example")


def test_an_address_claimed_unverified_goes_to_a_new_account_of_its_own_not_to_the_claimant(
    attacker, am, django_capture_on_commit_callbacks
):
    mallory = sign_in_by_code(attacker.email)
    mallory.post("/accounts/email/", {"action_add": "", "email": VICTIM})
    mallory.post("/accounts/email/", {"action_primary": "", "email": VICTIM})
    mail.outbox.clear()  # allauth's "confirm this address", to the victim

    organization, _ = new_account(am, capture=django_capture_on_commit_callbacks)

    assert not Membership.objects.filter(user=attacker, organization=organization).exists()
    admin = Membership.objects.get(organization=organization).user
    assert admin != attacker and admin.email == VICTIM
    # The claim never proved anything, and the address now verifiably has an owner.
    assert not EmailAddress.objects.filter(user=attacker, email=VICTIM).exists()
    assert [m.to for m in mail.outbox] == [[VICTIM]]  # "Documents is now active"
    # The real owner signs in by code and lands in their organization, not Mallory's.
    owner = sign_in_by_code(VICTIM)
    assert int(owner.session["_auth_user_id"]) == admin.pk
    page = owner.get("/dashboard/", follow=True).content.decode()
    assert "Bigcorp" in page and "Mallory Co" not in page


def test_an_address_some_account_signs_in_with_unverified_gets_an_invitation_the_claimant_cannot_accept(
    am, django_capture_on_commit_callbacks
):
    # What the old bug left behind: Mallory's login address is the victim's, never verified.
    hijacker = MembershipFactory(
        user__email=VICTIM, user__verified=False, organization__name="Mallory Co"
    ).user

    organization, response = new_account(am, capture=django_capture_on_commit_callbacks)

    assert not Membership.objects.filter(organization=organization).exists()
    invitation = Invitation.objects.get(organization=organization)
    assert (invitation.email, invitation.accepted_at) == (VICTIM, None)
    assert "already has a sign-in account, so it was sent an invitation" in response.content.decode()
    invite = next(m for m in mail.outbox if m.subject.startswith("You are invited"))
    url = link_in(invite, "/subscriptions/invitations/")
    # Mallory cannot sign in with that address: no code is sent, a password stops at
    # "verify your email" (the confirmation goes to the victim's mailbox).
    assert "_auth_user_id" not in sign_in_by_code(VICTIM).session
    by_password = Client()
    by_password.post("/accounts/login/", {"login": VICTIM, "password": PASSWORD})
    assert "_auth_user_id" not in by_password.session
    # Even a session of hers from before, holding the link, cannot accept.
    refused = signed_in(hijacker).post(url)
    assert refused.status_code == 403
    assert "Sign in with that address" in refused.content.decode()
    assert not Membership.objects.filter(organization=organization).exists()
    assert Invitation.objects.get(pk=invitation.pk).accepted_at is None


def test_an_existing_customer_accepts_the_invitation_signed_in_with_their_verified_address(
    attacker, am, django_capture_on_commit_callbacks
):
    owner = MembershipFactory(user__email=VICTIM, organization__name="Bigcorp UK").user
    # Mallory claims the address too, and will hold the link if it leaks.
    EmailAddress.objects.create(user=attacker, email=VICTIM, verified=False)

    organization, _ = new_account(
        am, name="Bigcorp Europe", slug="bigcorp-eu", capture=django_capture_on_commit_callbacks
    )

    assert not Membership.objects.filter(organization=organization).exists()
    invite = next(m for m in mail.outbox if m.subject.startswith("You are invited"))
    assert invite.to == [VICTIM]
    url = link_in(invite, "/subscriptions/invitations/")
    assert signed_in(attacker).post(url).status_code == 403
    # Signed out, the link asks to sign in first, and comes back after.
    assert Client().get(url)["Location"].startswith("/accounts/login/?next=/subscriptions/invitations/")
    client = sign_in_by_code(VICTIM)
    assert int(client.session["_auth_user_id"]) == owner.pk
    assert "Accept the invitation" in client.get(url).content.decode()

    response = client.post(url, follow=True)

    assert Membership.objects.get(organization=organization).user == owner
    assert not Membership.objects.filter(user=attacker, organization=organization).exists()
    page = response.content.decode()
    assert "You have joined Bigcorp Europe as admin." in page
    # Now working in it (its setup guide), and the switcher says so.
    assert response.redirect_chain[-1][0] == "/welcome/subscriptions/"
    assert re.search(r'<option value="\d+" selected>Bigcorp Europe</option>', page)
    accepted = AuditEvent.objects.get(action="invitation.accepted")
    assert (accepted.actor, accepted.organization) == (owner, organization)
    # The link works once.
    assert client.get(url).status_code == 404


def test_a_new_admins_account_is_created_verified_and_signs_in_by_code(
    am, django_capture_on_commit_callbacks
):
    organization, _ = new_account(am, capture=django_capture_on_commit_callbacks)

    admin = User.objects.get(email=VICTIM)
    assert admin.emailaddress_set.get().verified
    assert not admin.has_usable_password()
    client = sign_in_by_code(VICTIM)
    assert int(client.session["_auth_user_id"]) == admin.pk
    assert Membership.objects.get(user=admin).organization == organization


def test_vendor_staff_addresses_are_still_refused_as_a_customers_admin(am):
    UserFactory(email="sales@vendor.example", is_staff=True, staff_role="manager")
    plan = PlanFactory(code="documents-monthly")

    response = signed_in(am).post(
        "/backoffice/accounts/new/",
        {
            "name": "Bigcorp",
            "billing_email": "ap@bigcorp.example",
            "admin_name": "Bea",
            "admin_email": "sales@vendor.example",
            "plan": str(plan.pk),
            "seats": "4",
            "period_start": "2026-11-01",
        },
    )

    assert response.status_code == 400
    assert "belongs to vendor staff" in response.content.decode()
    assert not Organization.objects.exists() and not Invitation.objects.exists()
