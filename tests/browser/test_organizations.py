import re
from datetime import date

import pytest
from django.core import mail
from playwright.sync_api import expect

from backoffice import services
from tests.backoffice.factories import staff_factory
from tests.factories import PASSWORD, MembershipFactory, OrgUserFactory, PlanFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_person_in_two_organizations_switches_between_them_from_the_header(page, screenshot):
    ada = UserFactory(email="ada@example.com")
    acme = MembershipFactory(user=ada, organization__name="Acme").organization
    zenith = MembershipFactory(user=ada, organization__name="Zenith").organization
    OrgUserFactory(organization=acme, name="Ann Acme-only")
    OrgUserFactory(organization=zenith, name="Zed Zenith-only")

    page.goto("/licences/")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    switcher = page.get_by_label("Organization", exact=True)
    expect(switcher).to_have_value(str(acme.pk))
    expect(page.get_by_role("rowheader", name="Ann Acme-only")).to_be_visible()
    screenshot("acme")

    switcher.select_option(label="Zenith")
    page.get_by_role("button", name="Switch").click()

    expect(page.get_by_role("status")).to_contain_text("You are now working in Zenith.")
    page.get_by_role("link", name="Manage licences", exact=True).first.click()
    expect(page.get_by_role("rowheader", name="Zed Zenith-only")).to_be_visible()
    expect(page.get_by_role("rowheader", name="Ann Acme-only")).to_have_count(0)
    expect(page.get_by_label("Organization", exact=True)).to_have_value(str(zenith.pk))
    screenshot("zenith")


def test_an_existing_customer_signs_in_by_code_from_the_invitation_and_accepts_it(page, screenshot):
    MembershipFactory(user__email="bea@bigcorp.example", user__password=None, organization__name="Bigcorp UK")
    services.account_create(
        actor=staff_factory("account_manager"),
        name="Bigcorp Europe",
        billing_email="ap@bigcorp.example",
        admin_name="Bea",
        admin_email="bea@bigcorp.example",
        plan=PlanFactory(),
        seats=3,
        period_start=date(2026, 11, 1),
    )
    (invitation,) = mail.outbox
    url = re.search(r"https?://\S+(/subscriptions/invitations/\S+/)", invitation.body).group(1)
    mail.outbox.clear()

    page.goto(url)
    page.get_by_role("link", name="Email me a sign-in code").click()
    page.get_by_label("Email").fill("bea@bigcorp.example")
    page.get_by_role("button", name="Request Code").click()
    (message,) = mail.outbox
    code = re.search(r"^\s*([A-Z0-9-]{6,})\s*$", message.body, re.MULTILINE).group(1)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Join Bigcorp Europe")).to_be_visible()
    screenshot("invitation")
    page.get_by_role("button", name="Accept the invitation").click()

    expect(page.get_by_role("status")).to_contain_text("You have joined Bigcorp Europe as admin.")
    selected = page.locator("#organization-switcher option:checked")
    expect(selected).to_have_text("Bigcorp Europe")
    screenshot("accepted")
