import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from licensing.connectors import webhook
from subscriptions.models import SeatChange
from tests.backoffice.factories import seat_change_signed, staff_factory
from tests.factories import PASSWORD, LicenceAssignmentFactory, MembershipFactory, SubscriptionFactory
from tests.receivers import WebhookReceiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def customer_with_a_decrease(*, organization_name: str, admin_email: str, am, quantity=5, new_quantity=3):
    membership = MembershipFactory(
        user__email=admin_email,
        user__full_name="Ada Admin",
        organization__name=organization_name,
        organization__account_manager=am,
    )
    subscription = SubscriptionFactory(
        organization=membership.organization, quantity=quantity, admin_email=admin_email
    )
    LicenceAssignmentFactory.create_batch(2, subscription=subscription)
    change = seat_change_signed(
        subscription, new_quantity, with_agreement=True, signer_name="Ada Admin", signer_email=admin_email
    )
    mail.outbox.clear()
    return subscription, change


def test_an_account_manager_approves_a_decrease_and_the_customer_sees_the_new_maximum(
    page, browser, live_server, screenshot
):
    am = staff_factory(
        "account_manager", email="morgan@vendor.example", full_name="Morgan Manager", password=PASSWORD
    )
    _, change = customer_with_a_decrease(
        organization_name="Acme Field Services", admin_email="ada@acme.example", am=am
    )

    page.goto("/backoffice/")
    sign_in(page, "morgan@vendor.example")

    expect(page.get_by_role("heading", name="Decreases waiting for approval")).to_be_visible()
    queue = page.get_by_role("region", name="Decreases waiting for approval")
    row = queue.get_by_role("row").filter(has_text="Acme Field Services")
    expect(row.get_by_test_id("from-to")).to_have_text("5 → 3")
    expect(row).to_contain_text("Ada Admin")
    screenshot("queue")

    with page.expect_response(lambda r: r.url.endswith("/agreement.pdf")) as opened:
        row.get_by_role("link", name=re.compile("Signed agreement")).click()
    assert opened.value.ok and opened.value.headers["content-type"] == "application/pdf"
    assert page.url.endswith(f"/backoffice/changes/{change.number}/agreement.pdf")  # shown in the browser
    page.go_back()

    row.get_by_role("link", name=re.compile("^Review")).click()
    expect(page.get_by_role("heading", name=f"Seat change {change.number}")).to_be_visible()
    expect(page.get_by_test_id("state")).to_have_text("Waiting for approval")
    expect(page.get_by_role("link", name="Open the signed agreement (PDF)")).to_be_visible()
    screenshot("review")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Approve decrease").click()

    expect(page.get_by_role("status").first).to_contain_text("Approved: Acme Field Services now has 3 users.")
    expect(page.get_by_text("Nothing is waiting for approval.")).to_be_visible()
    screenshot("approved")
    change.refresh_from_db()
    assert change.state == SeatChange.State.APPLYING and change.decided_by == am
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Approved"]

    customer = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    ).new_page()
    customer.goto("/")
    sign_in(customer, "ada@acme.example")
    card = customer.get_by_role("region", name="Documents")
    expect(card.get_by_test_id("maximum")).to_have_text("3")
    expect(card.get_by_test_id("active")).to_have_text("2")
    customer.context.close()


def test_an_account_manager_rejects_a_decrease_with_a_reason(page, screenshot):
    am = staff_factory(
        "account_manager", email="morgan@vendor.example", full_name="Morgan Manager", password=PASSWORD
    )
    subscription, change = customer_with_a_decrease(
        organization_name="Globex Legal", admin_email="gus@globex.example", am=am, quantity=4, new_quantity=2
    )

    page.goto(f"/backoffice/changes/{change.number}/")
    sign_in(page, "morgan@vendor.example")
    expect(page.get_by_role("heading", name=f"Seat change {change.number}")).to_be_visible()

    page.get_by_role("button", name="Reject decrease").click()
    reason = page.get_by_label("Reason for the customer")
    expect(page.get_by_role("alert")).to_have_text("Give the customer a reason for rejecting the decrease.")
    expect(reason).to_have_attribute("aria-invalid", "true")
    screenshot("reason-required")

    reason.fill("Your contract has a minimum of 4 users until March.")
    reason.press("Tab")
    page.keyboard.press("Enter")  # the Reject button has the focus

    expect(page.get_by_role("status").first).to_contain_text(f"Rejected: {change.number}.")
    change.refresh_from_db()
    subscription.refresh_from_db()
    assert change.state == SeatChange.State.REJECTED
    assert change.state_reason == "Your contract has a minimum of 4 users until March."
    assert subscription.quantity == 4
    (email,) = mail.outbox
    assert email.to == ["gus@globex.example"]
    assert "Their reason: Your contract has a minimum of 4 users until March." in email.body
    screenshot("rejected")


def test_an_account_manager_connects_a_signed_webhook_and_a_test_push_lands(page, screenshot):
    am = staff_factory(
        "account_manager", email="morgan@vendor.example", full_name="Morgan Manager", password=PASSWORD
    )
    subscription, _ = customer_with_a_decrease(
        organization_name="Acme Field Services", admin_email="ada@acme.example", am=am
    )
    receiver = WebhookReceiver()
    try:
        page.goto(f"/backoffice/accounts/{subscription.organization_id}/")
        sign_in(page, "morgan@vendor.example")
        page.get_by_role("link", name="Edit connector").click()

        expect(page.get_by_role("heading", name="Connected org")).to_be_visible()
        expect(page.get_by_role("group", name="Salesforce License Management App")).to_be_hidden()
        page.get_by_label("Connector").select_option(label="Signed webhook")
        expect(page.get_by_role("group", name="Signed webhook")).to_be_visible()
        expect(page.get_by_role("group", name="Salesforce License Management App")).to_be_hidden()
        page.get_by_label("Webhook URL").fill(receiver.url)
        screenshot("form")
        page.get_by_label("Webhook URL").press("Enter")  # submits, as a keyboard user would

        expect(page.get_by_role("heading", name="Signing secret")).to_be_visible()
        secret = page.get_by_role("textbox", name="Secret").input_value()
        assert secret.startswith("whsec_")
        screenshot("secret")
        page.get_by_role("link", name="Done").click()

        expect(page.get_by_test_id("connector")).to_have_text("Signed webhook")
        page.get_by_role("button", name="Send test push").click()
        expect(page.get_by_role("status").first).to_contain_text("Test push: Delivered — Documents: 5")
        (push,) = receiver.received
        assert webhook.verify(secret=secret, headers=push.headers, body=push.body)
    finally:
        receiver.stop()
