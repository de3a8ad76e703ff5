"""Adding an Active user when no licence is left, in Chromium: the offer to buy the
seat, the agreement signed with a typed signature, the card paid on the payment page
(localstripe's stand-in card element) and the user licensed once the change applies."""

import re

import pytest
from playwright.sync_api import expect

from licensing.models import LicenceAssignment, PendingLicence
from subscriptions.models import SeatChange, Subscription
from tests.agreements.factories import verified
from tests.billing.factories import VISA
from tests.browser.test_payment import enter_card
from tests.factories import PASSWORD, LicenceAssignmentFactory, MembershipFactory, SubscriptionFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]


def test_adding_an_active_user_with_no_licence_left_buys_the_seat_and_licenses_them(
    page, screenshot, live_server, settings
):
    settings.SITE_URL = live_server.url
    membership = MembershipFactory(user__email="ada@acme.example", user__full_name="Ada Admin")
    verified(membership.user)  # signing in, she signs as this address
    subscription = SubscriptionFactory(
        organization=membership.organization, quantity=1, admin_email="ada@acme.example"
    )
    LicenceAssignmentFactory(subscription=subscription, org_user__name="Bea Busy")

    page.goto("/licences/")
    page.get_by_label("Email").fill("ada@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Manage licences")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("Nia New")
    page.get_by_label("Email", exact=True).fill("nia@acme.example")
    page.get_by_label("Status", exact=True).select_option("active")
    page.get_by_label("Documents (none available: saving offers to increase your licences by 1)").check()
    page.get_by_role("button", name="Add user").click()

    expect(page.get_by_role("heading", name="No licences available")).to_be_visible()
    expect(page.get_by_test_id("amount-due")).to_have_text(re.compile(r"^€[\d.,]+$"))
    expect(page.get_by_test_id("renewal")).to_have_text("€30.00")
    screenshot("offer")
    page.get_by_label("I accept the terms of the increase").check()
    page.get_by_role("button", name="Add the user and increase my licences by 1").click()

    change = SeatChange.objects.get()
    expect(page).to_have_url(re.compile(rf"/subscriptions/{subscription.pk}/changes/{change.number}/$"))
    assert PendingLicence.objects.get().org_user.email == "nia@acme.example"
    page.get_by_label("Full name").fill("Ada Admin")
    expect(page.get_by_test_id("signer-email")).to_have_text("ada@acme.example")  # signed in as
    page.get_by_label("I agree to sign electronically").check()
    page.get_by_label("I accept the terms").check()
    page.get_by_label("Type", exact=True).check()
    page.get_by_label("Type your name as your signature").fill("Ada Admin")
    page.get_by_role("button", name="Sign agreement").click()
    expect(page.get_by_test_id("state")).to_have_text("Waiting for payment")

    page.get_by_role("link", name=re.compile(r"^Pay €[\d.,]+ now$")).click()
    enter_card(page, VISA)
    page.get_by_role("button", name=re.compile(r"^Pay €")).click()
    expect(page.get_by_test_id("payment")).to_contain_text("Paid")
    expect(page.get_by_test_id("state")).to_have_text(re.compile(r"^(Being applied|Applied)$"))

    page.goto("/licences/")
    row = page.locator("tr", has=page.get_by_role("rowheader", name="Nia New"))
    expect(row.get_by_text("Licensed")).to_be_visible()
    screenshot("licensed")
    assert Subscription.objects.get().quantity == 2
    assert LicenceAssignment.objects.filter(org_user__email="nia@acme.example").count() == 1
    assert not PendingLicence.objects.exists()
