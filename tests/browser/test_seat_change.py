import io

import pytest
from django.core import mail
from playwright.sync_api import expect
from pypdf import PdfReader

from agreements.models import Agreement
from audit.models import AuditEvent
from subscriptions import links
from subscriptions.models import SeatChange, Subscription
from tests.factories import LicenceAssignmentFactory, SubscriptionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def emailed_change_link(live_server, settings) -> str:
    settings.SITE_URL = live_server.url
    subscription = SubscriptionFactory(
        quantity=1,
        status=Subscription.Status.PENDING,
        admin_email="ada@acme.example",
        organization__name="Acme <Field> & Services",
    )
    LicenceAssignmentFactory(subscription=subscription)
    links.subscription_activate(subscription=subscription)
    (activation,) = mail.outbox
    assert activation.subject == "Opero Documents is now active"
    lines = activation.body.splitlines()
    return lines[lines.index("Add or remove users (change the number of seats):") + 1]


def draw_signature(page) -> None:
    canvas = page.get_by_role("img", name="Signature drawing area")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
    page.mouse.down()
    for step in range(1, 30):
        x = box["x"] + 20 + step * (box["width"] - 40) / 30
        y = box["y"] + box["height"] * (0.5 + 0.3 * ((-1) ** step) * 0.5)
        page.mouse.move(x, y, steps=2)
    page.mouse.up()


def test_admin_opens_the_emailed_link_changes_to_four_users_and_signs_by_drawing(
    page, screenshot, live_server, settings
):
    url = emailed_change_link(live_server, settings)

    page.goto(url)
    expect(page.get_by_role("heading", name="Add or remove users")).to_be_visible()
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert "/link/" in page.url and token not in page.url  # the token stays behind
    expect(page.get_by_test_id("current-total")).to_have_text("1")
    page.get_by_label("New total number of users").fill("4")
    expect(page.get_by_test_id("delta")).to_have_text("+3 users (1 → 4)")
    expect(page.get_by_test_id("renewal")).to_have_text("€60.00")
    expect(page.get_by_test_id("amount-due")).to_contain_text("€")
    screenshot("preview")

    page.get_by_role("button", name="Continue to the agreement").click()
    change = SeatChange.objects.get()
    expect(page.get_by_role("heading", name=f"Seat change {change.number}")).to_be_visible()
    expect(page.locator("iframe[title^='Change agreement']")).to_be_visible()

    assert token not in page.url
    page.get_by_label("Full name").fill("Ada Admin")
    expect(page.get_by_test_id("signer-email")).to_have_text("ada@acme.example")  # shown, not typed
    page.get_by_label("I agree to sign electronically").check()
    page.get_by_label("I accept the terms").check()
    draw_signature(page)
    screenshot("signing")
    # The button is disabled as the form goes, so that a second click sends nothing:
    # what it was when the form was sent is kept across the navigation.
    page.evaluate(
        """() => document.querySelector("form[data-signature]").addEventListener("submit", () => {
            const button = document.querySelector("[data-signature-submit]");
            sessionStorage.setItem("sign-button", `${button.disabled} ${button.textContent}`);
        })"""
    )
    page.get_by_role("button", name="Sign agreement").click()

    expect(page.get_by_test_id("state")).to_have_text("Waiting for payment")
    expect(page.get_by_text("Agreement signed.")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('sign-button')") == "true Signing…"
    screenshot("signed")

    change.refresh_from_db()
    agreement = Agreement.objects.get(seat_change=change)
    assert change.state == SeatChange.State.AWAITING_PAYMENT
    assert agreement.signature_kind == "drawn"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(bytes(agreement.signed_pdf))).pages)
    assert "Ada Admin" in text and "Acme <Field> & Services" in text
    assert "By a link emailed to ada@acme.example" in text
    assert AuditEvent.objects.filter(action="agreement.signed").count() == 1
    signed_mail = [m for m in mail.outbox if m.attachments]
    assert sorted(m.to[0] for m in signed_mail) == ["ada@acme.example"]


def test_a_keyboard_user_signs_with_a_typed_signature_and_sees_mistakes_explained(
    page, live_server, settings
):
    url = emailed_change_link(live_server, settings)
    page.goto(url)
    page.get_by_label("New total number of users").fill("2")
    page.keyboard.press("Enter")

    page.get_by_label("Full name").fill("Ada Admin")
    page.get_by_label("Type", exact=True).check()
    page.get_by_label("Type your name as your signature").fill("Ada Admin")
    page.get_by_role("button", name="Sign agreement").click()  # boxes left unticked

    consent = page.get_by_label("I agree to sign electronically")
    assert consent.evaluate("box => box.validity.valueMissing") is True  # the browser says why
    assert SeatChange.objects.get().state == SeatChange.State.DRAFT

    page.get_by_label("I agree to sign electronically").check()
    page.get_by_label("I accept the terms").check()
    page.get_by_role("button", name="Sign agreement").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("state")).to_have_text("Waiting for payment")


def test_the_admin_names_someone_else_who_signs_with_their_own_link(page, browser, live_server, settings):
    url = emailed_change_link(live_server, settings)
    page.goto(url)
    page.get_by_label("New total number of users").fill("4")
    page.get_by_label("Someone else signs (for example, finance)").check()
    page.get_by_role("button", name="Continue to the agreement").click()  # name and email left empty

    expect(page.get_by_text("Enter the full name of the person who will sign")).to_be_visible()
    assert not SeatChange.objects.exists()
    page.get_by_label("Signer's full name").fill("Fin Ance")
    page.get_by_label("Signer's email").fill("fin@acme.example")
    page.get_by_role("button", name="Continue to the agreement").click()
    expect(page.get_by_text("Waiting for Fin Ance (fin@acme.example) to sign")).to_be_visible()
    expect(page.get_by_role("button", name="Sign agreement")).to_have_count(0)

    (request,) = [m for m in mail.outbox if m.to == ["fin@acme.example"]]
    signing_url = next(line for line in request.body.splitlines() if "/l/" in line)
    signer = browser.new_context(base_url=live_server.url).new_page()
    signer.goto(signing_url)
    assert "/link/" in signer.url and signing_url.rstrip("/").rsplit("/", 1)[1] not in signer.url
    expect(signer.get_by_test_id("signer-email")).to_have_text("fin@acme.example")
    signer.get_by_label("Full name").fill("Fin Ance")
    signer.get_by_label("I agree to sign electronically").check()
    signer.get_by_label("I accept the terms").check()
    signer.get_by_label("Type", exact=True).check()
    signer.get_by_label("Type your name as your signature").fill("Fin Ance")
    signer.get_by_role("button", name="Sign agreement").click()
    expect(signer.get_by_test_id("state")).to_have_text("Waiting for payment")
    signer.context.close()

    agreement = Agreement.objects.get()
    assert (agreement.signer_email, agreement.signer_identified_by) == ("fin@acme.example", "emailed_link")
    page.reload()
    expect(page.get_by_test_id("state")).to_have_text("Waiting for payment")
