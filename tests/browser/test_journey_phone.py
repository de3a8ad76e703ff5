"""The customer's whole journey on a phone (390 px): the emailed link, a total no seat
count can be, the new total, the agreement (its terms in words beside the PDF's
download), a typed signature, payment, "live in your org", the licences. Every step fits
the screen and is screenshotted. And the words around it: a refused page that says where
to go, counts that say "1 user"."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from licensing.models import OrgUser
from subscriptions.models import SeatChange, Subscription
from tests.backoffice.factories import staff_factory
from tests.billing.factories import VISA
from tests.browser.test_payment import enter_card
from tests.browser.test_seat_change import emailed_change_link
from tests.factories import PASSWORD, MembershipFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]

PHONE = {"width": 390, "height": 844}


def fits(page) -> None:
    """Nothing sticks out sideways: the page is no wider than the phone."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def test_the_whole_journey_from_the_emailed_link_to_live_at_phone_width(
    page, screenshot, live_server, settings
):
    page.set_viewport_size(PHONE)
    url = emailed_change_link(live_server, settings)
    subscription = Subscription.objects.get()
    # Ada, the admin the link was emailed to, also signs in (for Manage licences).
    MembershipFactory(
        user__email="ada@acme.example", user__full_name="Ada Admin", organization=subscription.organization
    )

    page.goto(url)
    expect(page.get_by_role("heading", name="Add or remove users")).to_be_visible()
    fits(page)
    screenshot("1-change")

    # A total no seat count can be: the page says what to do, its live quote answers
    # with the rule (the number field drops a value it cannot hold; the server bounds it
    # too), nothing is started.
    page.get_by_label("New total number of users").fill("9" * 4301)
    page.get_by_role("button", name="Continue to the agreement").click()
    expect(page.locator("#new-total-error")).to_have_text(re.compile(r"\w"))
    quote = page.request.get(page.url + "quote/?new_total=" + "9" * 4301)
    assert quote.status == 400
    assert re.match(r"The Documents monthly plan allows at most 500 users", quote.json()["error"])
    assert not SeatChange.objects.exists()
    fits(page)
    screenshot("2-too-many")

    page.get_by_label("New total number of users").fill("4")
    expect(page.get_by_test_id("delta")).to_have_text("+3 users (1 → 4)")
    page.get_by_role("button", name="Continue to the agreement").click()
    change = SeatChange.objects.get()
    expect(page.get_by_role("heading", name=f"Seat change {change.number}")).to_be_visible()

    # On a phone: the terms in words and the PDF as a download, not an unreadable frame.
    expect(page.get_by_test_id("agreement-phone-summary")).to_be_visible()
    expect(page.get_by_test_id("agreement-phone-summary")).to_contain_text("goes from 1 to 4 users")
    expect(page.locator("iframe[title^='Change agreement']")).to_be_hidden()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the agreement (PDF)").click()
    filename = download.value.suggested_filename
    assert re.fullmatch(
        rf"change-agreement-acme-field-services-{change.number}-\d{{4}}-\d\d-\d\d\.pdf", filename
    )
    fits(page)
    screenshot("3-agreement")

    page.get_by_label("Full name").fill("Ada Admin")
    page.get_by_label("I agree to sign electronically").check()
    page.get_by_label("I accept the terms").check()
    page.get_by_label("Type", exact=True).check()
    page.get_by_label("Type your name as your signature").fill("Ada Admin")
    page.get_by_role("button", name=re.compile("^Sign")).click()
    expect(page.get_by_test_id("state")).to_have_text("Waiting for payment")
    fits(page)
    screenshot("4-signed")

    page.get_by_role("link", name=re.compile(r"^Pay €[\d.,]+ now$")).click()
    expect(page.get_by_role("heading", name=f"Pay for seat change {change.number}")).to_be_visible()
    fits(page)
    enter_card(page, VISA)
    screenshot("5-pay")
    page.get_by_role("button", name=re.compile(r"^Pay €")).click()
    expect(page.get_by_test_id("payment")).to_contain_text("Paid")
    expect(page.get_by_test_id("state")).to_have_text("Applied")
    fits(page)
    screenshot("6-live")

    # "Live in your org", by email, with the way to Manage licences.
    (live,) = [m for m in mail.outbox if m.subject.startswith("Your new seat count is live")] or [
        m for m in mail.outbox if "is live" in m.body
    ]
    assert "3 of your 4 licences are free" in live.body
    manage = next(line for line in live.body.splitlines() if line.endswith("/licences/"))
    receipt = next(m for m in mail.outbox if m.subject.startswith("Receipt"))
    assert receipt.attachments[0][0].startswith("receipt-acme-field-services-")

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("ada@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(manage.split(live_server.url, 1)[-1])
    card = page.get_by_role("region", name="Documents")
    expect(card.get_by_test_id("maximum")).to_have_text("4")
    expect(card.get_by_test_id("available")).to_have_text("3")
    fits(page)
    screenshot("7-manage-licences")
    assert OrgUser.objects.filter(organization=subscription.organization).count() == 1


def test_staff_opening_my_subscriptions_are_shown_the_way_to_the_back_office(page, screenshot):
    staff_factory("manager", email="boss@vendor.example", full_name="Mo Manager", password=PASSWORD)

    page.goto("/dashboard/")
    page.get_by_label("Email").fill("boss@vendor.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="This page isn't for you")).to_be_visible()
    screenshot("refused")
    page.get_by_role("link", name="Back office: approvals and your accounts").click()
    expect(page.get_by_role("heading", name="Decreases waiting for approval")).to_be_visible()
