"""Paying for an increase in Chromium: Stripe.js's card element (localstripe's Stripe.js,
loaded through the test session's strict Stripe stand-in), a card saved through a
SetupIntent (confirmCardSetup) and then charged, a declined card, 3-D Secure."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from billing import selectors
from billing.models import Payment
from subscriptions.models import SeatChange, Subscription
from tests.billing.factories import DECLINED, THREE_D_SECURE, VISA
from tests.browser.test_seat_change import emailed_change_link

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]


def sign_an_increase_to_four(page, live_server, settings) -> SeatChange:
    page.goto(emailed_change_link(live_server, settings))
    page.get_by_label("New total number of users").fill("4")
    page.get_by_role("button", name="Continue to the agreement").click()
    page.get_by_label("Full name").fill("Ada Admin")
    page.get_by_label("I agree to sign electronically").check()
    page.get_by_label("I accept the terms").check()
    page.get_by_label("Type", exact=True).check()
    page.get_by_label("Type your name as your signature").fill("Ada Admin")
    page.get_by_role("button", name="Sign agreement").click()
    expect(page.get_by_test_id("state")).to_have_text("Waiting for payment")
    return SeatChange.objects.get()


def enter_card(page, number: str) -> None:
    """Type a card into the card element (localstripe's stand-in has one input each)."""
    element = page.locator("#card-element")
    element.get_by_placeholder("number").fill(number)
    element.get_by_placeholder("exp_month").fill("12")
    element.get_by_placeholder("exp_year").fill("31")
    element.get_by_placeholder("cvc").fill("123")
    element.get_by_placeholder("postal_code").fill("75001")


def card_on_file():
    return selectors.card_on_file(Subscription.objects.get())


def test_a_customer_without_a_card_pays_on_the_payment_page_and_the_change_applies(
    page, screenshot, live_server, settings
):
    change = sign_an_increase_to_four(page, live_server, settings)
    amount = page.get_by_role("link", name=re.compile(r"^Pay €[\d.,]+ now$"))
    amount.click()

    expect(page.get_by_role("heading", name=f"Pay for seat change {change.number}")).to_be_visible()
    expect(page.locator("#card-element input")).to_have_count(5)
    assert "/link/" in page.url and "/l/" not in page.url  # Stripe.js runs on a page without the token
    enter_card(page, VISA)
    screenshot("card")
    page.get_by_role("button", name=re.compile(r"^Pay €")).click()

    expect(page.get_by_test_id("payment")).to_contain_text("Paid")
    expect(page.get_by_test_id("state")).to_have_text(re.compile(r"^(Being applied|Applied)$"))
    screenshot("paid")
    payment = Payment.objects.get()
    assert (payment.status, payment.card_label) == ("succeeded", "Visa •••• 4242")
    assert Subscription.objects.get().quantity == 4
    assert [m.to for m in mail.outbox if m.subject.startswith("Receipt")] == [["ada@acme.example"]]
    assert card_on_file().label == "Visa •••• 4242"  # the card that paid is kept for next time


def test_a_declined_card_shows_why_is_not_offered_again_and_another_card_pays(
    page, screenshot, live_server, settings
):
    change = sign_an_increase_to_four(page, live_server, settings)
    page.goto(page.url + "pay/")

    enter_card(page, DECLINED)
    page.get_by_role("button", name=re.compile(r"^Pay €")).click()

    expect(page.get_by_test_id("payment-status")).to_have_text("Your card was declined.")
    screenshot("declined")
    change.refresh_from_db()
    assert change.state == "awaiting_payment" and Subscription.objects.get().quantity == 1
    assert card_on_file() is None

    # Coming back to the page: the declined card is not offered as the card on file.
    page.reload()
    expect(page.get_by_role("heading", name="Pay by card")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("0341"))).to_have_count(0)
    expect(page.get_by_role("heading", name="Card on file")).to_have_count(0)
    enter_card(page, VISA)
    page.get_by_role("button", name=re.compile(r"^Pay €")).click()

    expect(page.get_by_test_id("payment")).to_contain_text("Paid")
    assert Payment.objects.get().attempts == 2
    assert card_on_file().label == "Visa •••• 4242"


def test_the_bank_asks_for_3d_secure_and_the_customer_confirms(page, screenshot, live_server, settings):
    sign_an_increase_to_four(page, live_server, settings)
    page.goto(page.url + "pay/")

    enter_card(page, THREE_D_SECURE)
    page.get_by_role("button", name=re.compile(r"^Pay €")).click()

    # The bank confirms the card as it is saved for later (confirmCardSetup), then the
    # payment itself (confirmCardPayment): Stripe's own test card asks for both.
    page.get_by_role("button", name="Complete authentication").click()  # the stand-in bank's page
    expect(page.get_by_test_id("payment-status")).to_have_text("Your bank asks you to confirm this payment.")
    screenshot("3d-secure")
    page.get_by_role("button", name="Complete authentication").click()

    expect(page.get_by_test_id("payment")).to_contain_text("Paid")
    payment = Payment.objects.get()
    assert (payment.status, payment.card_label) == ("succeeded", "Visa •••• 3155")
    assert card_on_file().label == "Visa •••• 3155"
