"""The customer's journey in Chromium, where it tells them about money and about
what happens next: consent before a card on file is charged, a decrease that promises
no credit, the renewal Stripe will really bill, a cancelled subscription that says it
ends (and can be kept), an open change that can be replaced, and messages in words."""

import re

import pytest
from django.core import mail
from django.test import Client
from playwright.sync_api import expect

from agreements.models import Agreement
from backoffice import services as backoffice
from billing.models import Payment
from subscriptions import links
from subscriptions.models import Plan, SeatChange, Subscription
from tests.agreements.pdfs import text as pdf_text
from tests.backoffice.factories import staff_factory
from tests.billing.factories import THREE_D_SECURE, give_card_on_file
from tests.browser.test_payment import enter_card
from tests.factories import LicenceAssignmentFactory, MembershipFactory, SubscriptionFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]


def activated_link(live_server, settings, *, quantity=5, unit_amount=9000, in_use=2, policy="immediate"):
    """A Signature subscription (€90.00 per user) just activated: its emailed change link."""
    settings.SITE_URL = live_server.url
    subscription = SubscriptionFactory(
        quantity=quantity,
        status=Subscription.Status.PENDING,
        admin_email="ada@acme.example",
        organization__name="Acme Field Services",
        plan__unit_amount=unit_amount,
        plan__decrease_policy=policy,
    )
    LicenceAssignmentFactory.create_batch(in_use, subscription=subscription)
    links.subscription_activate(subscription=subscription)
    lines = mail.outbox[-1].body.splitlines()
    subscription.refresh_from_db()
    return subscription, {
        "change": lines[lines.index("Add or remove users (change the number of seats):") + 1],
        "cancel": lines[lines.index("Cancel subscription:") + 1],
    }


def start_change(page, url: str, new_total: int) -> None:
    page.goto(url)
    page.get_by_label("New total number of users").fill(str(new_total))
    # Wait for the agreement page: a request still in flight when the test opens the link
    # again would race the session (opening a link changes the session key).
    with page.expect_navigation():
        page.get_by_role("button", name="Continue to the agreement").click()


def fill_signature(page) -> None:
    page.get_by_label("Full name").fill("Ada Admin")
    page.get_by_label("I agree to sign electronically").check()
    page.get_by_label("I accept the terms").check()
    page.get_by_label("Type", exact=True).check()
    page.get_by_label("Type your name as your signature").fill("Ada Admin")


def test_signing_says_it_will_charge_the_card_on_file_and_the_certificate_records_the_consent(
    page, screenshot, live_server, settings, localstripe
):
    subscription, urls = activated_link(live_server, settings)
    give_card_on_file(localstripe, subscription)
    start_change(page, urls["change"], 6)
    change = SeatChange.objects.get()
    due = f"€{change.amount_due // 100:,}.{change.amount_due % 100:02d}"
    fill_signature(page)

    sign_and_pay = page.get_by_role("button", name=f"Sign and pay {due} with Visa •••• 4242")
    expect(sign_and_pay).to_be_visible()
    expect(page.get_by_text("signing charges it at once")).to_be_visible()
    screenshot("consent")
    # Choosing to pay later changes the button: signing would then charge nothing.
    page.get_by_role("radio", name=re.compile("Pay later, or with another card")).check()
    expect(page.get_by_role("button", name="Sign agreement")).to_be_visible()
    page.get_by_role("radio", name=re.compile(rf"Pay {re.escape(due)} now with Visa •••• 4242")).check()
    sign_and_pay.click()

    expect(page.get_by_test_id("state")).to_have_text(re.compile(r"^(Being applied|Applied)$"))
    screenshot("paid")
    payment = Payment.objects.get()
    assert (payment.status, payment.amount, payment.card_label) == (
        "succeeded",
        change.amount_due,
        "Visa •••• 4242",
    )
    consent = Agreement.objects.get().charge_consent
    assert consent["choice"] == "pay_now" and consent["shown"] == f"Sign and pay {due} with Visa •••• 4242"
    assert (consent["amount"], consent["card_brand"], consent["card_last4"]) == (
        change.amount_due,
        "visa",
        "4242",
    )
    assert consent["at"]
    certificate = pdf_text(bytes(Agreement.objects.get().signed_pdf))
    assert "Consent to charge (UTC)" in certificate and f"Sign and pay {due} with Visa" in certificate


def test_paying_later_signs_without_charging_then_opens_the_payment_page(
    page, screenshot, live_server, settings, localstripe
):
    subscription, urls = activated_link(live_server, settings)
    give_card_on_file(localstripe, subscription)
    start_change(page, urls["change"], 6)
    change = SeatChange.objects.get()
    fill_signature(page)
    page.get_by_role("radio", name=re.compile("Pay later, or with another card")).check()
    page.get_by_role("button", name="Sign agreement").click()

    expect(page.get_by_role("heading", name=f"Pay for seat change {change.number}")).to_be_visible()
    expect(page.get_by_text("Agreement signed: nothing has been charged.")).to_be_visible()
    screenshot("payment-page")
    assert not Payment.objects.exists()
    assert Agreement.objects.get().charge_consent["choice"] == "pay_later"
    signed = [m for m in mail.outbox if m.subject.startswith("Signed:")]
    assert signed and all("Pay here" in m.body and "/pay/" in m.body for m in signed)


def test_a_decrease_promises_no_credit_and_the_renewal_is_the_one_stripe_will_bill(
    page, screenshot, live_server, settings
):
    _subscription, urls = activated_link(live_server, settings, policy=Plan.DecreasePolicy.PERIOD_END)
    start_change(page, urls["change"], 4)

    expect(page.get_by_test_id("due-now")).to_have_text("€0.00 (a decrease is neither charged nor refunded)")
    expect(page.get_by_text("Credited")).to_have_count(0)
    expect(page.get_by_test_id("renewal")).to_contain_text("€360.00 for 4 users")
    screenshot("decrease-signing")
    fill_signature(page)
    page.get_by_role("button", name="Sign agreement").click()
    expect(page.get_by_test_id("state")).to_have_text("Waiting for approval")
    backoffice.seat_change_approve(seat_change=SeatChange.objects.get(), actor=staff_factory("manager"))

    page.goto(urls["change"])
    expect(page.get_by_test_id("next-renewal")).to_contain_text("€360.00")
    page.get_by_role("link", name="Invoices and payments").click()
    expect(page.get_by_test_id("next-renewal")).to_contain_text("€360.00")
    screenshot("invoices")


def test_a_cancelled_subscription_says_when_it_ends_refuses_increases_and_can_be_kept(
    page, screenshot, live_server, settings
):
    subscription, urls = activated_link(live_server, settings)
    end = f"{subscription.current_period_end:%-d %B %Y}"
    page.goto(urls["cancel"])
    page.get_by_role("checkbox", name=re.compile("I want to cancel")).check()
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.get_by_test_id("ends-on")).to_contain_text(f"Ends on {end}")

    page.goto(urls["change"])
    expect(page.get_by_test_id("ending")).to_contain_text(f"Your subscription ends on {end}.")
    expect(page.get_by_test_id("ends-on")).to_contain_text(end)
    page.get_by_label("New total number of users").fill("6")
    expect(page.locator("#new-total-error")).to_contain_text(
        "users can't be added to a subscription that is ending"
    )
    screenshot("ending")
    page.get_by_role("button", name="Continue to the agreement").click()
    expect(page.locator("#new-total-error")).to_contain_text("Keep my subscription")
    assert not SeatChange.objects.exists()

    page.get_by_role("button", name="Keep my subscription").click()
    expect(page.get_by_text(f"Your subscription is no longer cancelled: it renews on {end}.")).to_be_visible()
    expect(page.get_by_test_id("next-renewal")).to_contain_text("€450.00")
    expect(page.get_by_label("New total number of users")).to_have_value("6")
    expect(page.get_by_test_id("amount-due")).to_have_text(re.compile(r"^€\d"))
    screenshot("kept")
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is False
    assert [m.subject for m in mail.outbox][
        -1
    ] == f"Opero Documents will renew on {subscription.current_period_end:%d %B %Y}"


def test_a_decrease_below_the_licences_in_use_keeps_the_servers_message(
    page, screenshot, live_server, settings
):
    _, urls = activated_link(live_server, settings, quantity=3, in_use=2)
    page.goto(urls["change"])
    page.get_by_label("New total number of users").fill("1")
    expect(page.locator("#must-free")).to_have_text("1 user")
    page.get_by_role("button", name="Continue to the agreement").click()

    error = page.locator("#new-total-error")
    expect(error).to_have_text(
        "2 licences are in use, so the new total cannot be 1: free 1 licence first, "
        "or choose the user who loses theirs below."
    )
    # The preview script ran again on the page that came back, and kept the message.
    expect(page.locator("#preview-delta")).to_have_text("\u22122 users (3 → 1)")
    expect(error).to_be_visible()
    expect(page.get_by_text("Choose 1 user:")).to_be_visible()
    expect(page.get_by_text("Choose 1 users")).to_have_count(0)
    screenshot("below-in-use")


def test_an_open_change_offers_to_be_replaced_after_a_confirmation(page, screenshot, live_server, settings):
    _, urls = activated_link(live_server, settings)
    start_change(page, urls["change"], 6)
    first = SeatChange.objects.get()
    page.goto(urls["change"])

    expect(page.get_by_test_id("open-change")).to_contain_text(f"{first.number}, 5 → 6 users")
    page.get_by_role("link", name="Replace the open change").click()
    expect(page.get_by_test_id("replacing")).to_contain_text(f"You are replacing seat change {first.number}")
    screenshot("replacing")
    page.get_by_label("New total number of users").fill("7")
    page.get_by_role("button", name=f"Replace {first.number} and continue").click()

    expect(page.get_by_role("heading", name=re.compile(r"^Seat change SC-"))).not_to_have_text(
        f"Seat change {first.number}"
    )
    first.refresh_from_db()
    (second,) = SeatChange.objects.filter(state="draft")
    assert (first.state, second.new_quantity) == ("cancelled", 7)


def test_the_progress_reads_as_steps_and_one_user_is_singular(page, live_server, settings):
    _subscription, urls = activated_link(live_server, settings, quantity=2, in_use=1)
    start_change(page, urls["change"], 1)
    fill_signature(page)
    page.get_by_role("button", name="Sign agreement").click()
    backoffice.seat_change_approve(seat_change=SeatChange.objects.get(), actor=staff_factory("manager"))
    page.reload()

    expect(page.get_by_test_id("live")).to_have_text("Done: your org now has 1 user.")
    steps = page.locator("ol.progress > li")
    expect(steps).to_have_text(
        [
            re.compile(r"Step 1 of 3, done: Approved\.$"),
            re.compile(r"Step 2 of 3, done: Sent to your org\.$"),
            re.compile(r"Step 3 of 3, done: Live in your org\.$"),
        ]
    )
    assert "org3." not in page.locator("ol.progress").inner_text()
    approved = next(m for m in mail.outbox if m.subject.startswith("Approved:"))
    assert "decrease to 1 user (" in approved.subject


def test_a_failed_bank_check_is_said_in_words_with_the_next_step(page, screenshot, live_server, settings):
    _, urls = activated_link(live_server, settings)
    start_change(page, urls["change"], 6)
    fill_signature(page)
    page.get_by_role("button", name="Sign agreement").click()
    page.goto(page.url + "pay/")
    enter_card(page, THREE_D_SECURE)
    page.get_by_role("button", name=re.compile(r"^Pay €")).click()
    page.get_by_role("button", name="Complete authentication").click()  # saving the card
    expect(page.get_by_test_id("payment-status")).to_have_text("Your bank asks you to confirm this payment.")
    page.get_by_role("button", name="Fail authentication").click()

    status = page.get_by_test_id("payment-status")
    expect(status).to_contain_text("Your bank could not confirm this payment, so nothing was charged.")
    expect(status).not_to_contain_text("PaymentMethod")
    screenshot("failed-check")


def test_paying_in_two_tabs_the_second_sees_it_paid(page, screenshot, live_server, settings, localstripe):
    subscription, urls = activated_link(live_server, settings)
    give_card_on_file(localstripe, subscription)
    start_change(page, urls["change"], 6)
    fill_signature(page)
    page.get_by_role("radio", name=re.compile("Pay later, or with another card")).check()
    page.get_by_role("button", name="Sign agreement").click()
    pay_url = page.url
    second = page.context.new_page()
    second.goto(pay_url)

    page.get_by_role("button", name=re.compile(r"^Pay €.* with Visa •••• 4242$")).click()
    expect(page.get_by_test_id("state")).to_have_text(re.compile(r"^(Being applied|Applied)$"))
    button = second.get_by_role("button", name=re.compile(r"^Pay €.* with Visa •••• 4242$"))
    button.click()

    expect(second.get_by_test_id("state")).to_have_text(re.compile(r"^(Being applied|Applied)$"))
    expect(second.get_by_text("Something went wrong")).to_have_count(0)
    screenshot("first-tab")
    assert Payment.objects.get().status == "succeeded"


def test_a_link_opened_in_another_organization_names_the_links_organization(page, live_server, settings):
    subscription, urls = activated_link(live_server, settings)
    other = MembershipFactory(organization__name="Globex Legal")
    signed_in = Client()
    signed_in.force_login(other.user)  # the same browser, signed in to Globex Legal
    cookie = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    page.goto(urls["change"])

    header = page.locator("header")
    expect(header.get_by_test_id("current-organization")).to_have_text("Acme Field Services")
    expect(header).to_contain_text("you are signed in to Globex Legal")
    expect(page.get_by_test_id("current-total")).to_have_text(str(subscription.quantity))
