"""Paying for an increase from the emailed link: the change page, the payment page,
invoices and receipts. Against a real localstripe."""

import html
import io
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from pypdf import PdfReader

from billing.models import Payment
from subscriptions.models import SeatChange, Subscription
from tests.agreements.pdfs import text as pdf_text
from tests.billing.factories import (
    DECLINED,
    THREE_D_SECURE,
    VISA,
    awaiting_payment,
    confirm_card_setup,
    give_card_on_file,
)
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("use_localstripe")]

JSON = {"HTTP_ACCEPT": "application/json"}


def sign_increase(client, activated, new_total="5", *, pay_now=True) -> SeatChange:
    """Start and sign an increase; with a card on file, consenting to pay with it
    (`pay_now`, the choice the signing page offers) or choosing to pay later."""
    client.post(f"{activated.base}change/", {"new_total": new_total})
    change = SeatChange.objects.get()
    page = html.unescape(client.get(f"{activated.base}changes/{change.number}/").content.decode())
    offered = re.search(r'name="payment" value="(card:[^"]+)"', page)
    client.post(
        f"{activated.base}changes/{change.number}/sign/",
        {
            "signer_name": "Ada Admin",
            "consent": "yes",
            "accept_terms": "yes",
            "signature_kind": "typed",
            "signature_text": "Ada Admin",
            **({"payment": offered.group(1) if pay_now else "later"} if offered else {}),
        },
    )
    change.refresh_from_db()
    return change


def urls(activated, change) -> dict[str, str]:
    base = f"{activated.base}changes/{change.number}"
    return {
        "change": f"{base}/",
        "pay": f"{base}/pay/",
        "card": f"{base}/pay/card/",
        "confirm": f"{base}/pay/confirm/",
        "status": f"{base}/pay/status/",
    }


def typed_card(client, url, localstripe, number: str = VISA) -> dict:
    """What the payment page's script posts after a card is typed in: the page asks
    for a SetupIntent, Stripe.js confirms it with the card, the page names it."""
    answer = client.post(url["card"], **JSON)
    assert answer.status_code == 200, answer.content
    return {"setup_intent": confirm_card_setup(localstripe, answer.json()["client_secret"], number)}


def test_without_a_card_on_file_the_change_page_leads_to_the_payment_page(client, activated, localstripe):
    change = sign_increase(client, activated)
    url = urls(activated, change)

    page = client.get(url["change"]).content.decode()
    pay_page = client.get(url["pay"]).content.decode()

    assert change.state == "awaiting_payment" and not Payment.objects.exists()
    assert f'href="{url["pay"]}"' in page and "now</a>" in page
    assert f'<script src="{localstripe.url}/js.stripe.com/v3/" defer></script>' in pay_page
    assert 'id="card-element"' in pay_page and "/static/js/payment.js" in pay_page
    assert f'data-pay-url="{url["pay"]}"' in pay_page
    assert "Card on file" not in pay_page
    # Stripe.js is the only script not served from /static/.
    scripts = re.findall(r'<script src="([^"]+)"', pay_page)
    assert [s for s in scripts if not s.startswith("/static/")] == [f"{localstripe.url}/js.stripe.com/v3/"]


def test_a_card_entered_on_the_payment_page_pays_and_the_change_applies(client, activated, localstripe):
    change = sign_increase(client, activated)
    url = urls(activated, change)

    answer = client.post(url["pay"], typed_card(client, url, localstripe), **JSON).json()

    assert answer == {
        "status": "succeeded",
        "message": "Paid — your new seat count is being applied.",
        "client_secret": "",
        "redirect": url["change"],
    }
    change.refresh_from_db()
    payment = Payment.objects.get()
    assert change.state == "applying"
    assert Subscription.objects.get().quantity == 5
    page = client.get(url["change"]).content.decode()
    assert "Paid — your new seat count is being applied." in page
    assert 'data-testid="state">Being applied<' in page
    assert f"Receipt {payment.receipt_number} (PDF)" in page
    assert client.get(url["pay"]).status_code == 302  # nothing left to pay


def test_a_declined_card_shows_the_reason_and_another_card_can_be_tried(client, activated, localstripe):
    change = sign_increase(client, activated)
    url = urls(activated, change)

    declined = client.post(url["pay"], typed_card(client, url, localstripe, DECLINED), **JSON)

    assert (declined.status_code, declined.json()["status"]) == (200, "failed")
    assert declined.json()["message"] == "Your card was declined."
    change.refresh_from_db()
    assert change.state == "awaiting_payment" and Subscription.objects.get().quantity == 3
    assert "Your card was declined." in client.get(url["change"]).content.decode()
    pay_page = client.get(url["pay"]).content.decode()
    assert "Your card was declined." in pay_page
    # The declined card is not the card on file: the page does not offer it again.
    assert "•••• 0341" not in pay_page and "Card on file" not in pay_page

    retried = client.post(url["pay"], typed_card(client, url, localstripe), **JSON).json()

    assert retried["status"] == "succeeded"
    assert Payment.objects.get().attempts == 2


def test_3d_secure_is_handed_to_stripe_js_then_confirmed_by_the_server(client, activated, localstripe):
    change = sign_increase(client, activated)
    url = urls(activated, change)

    answer = client.post(url["pay"], typed_card(client, url, localstripe, THREE_D_SECURE), **JSON).json()

    assert answer["status"] == "requires_action"
    assert answer["message"] == "Your bank asks you to confirm this payment."
    payment = Payment.objects.get()
    assert answer["client_secret"].startswith(payment.stripe_payment_intent_id)
    localstripe.authenticate(payment.stripe_payment_intent_id, answer["client_secret"])

    confirmed = client.post(url["confirm"], **JSON).json()

    assert confirmed["status"] == "succeeded"
    answer = client.get(url["status"]).json()
    assert answer.pop("push")  # where the new count stands in the connected org
    assert answer == {
        "status": "succeeded",
        "message": "Paid — your new seat count is being applied.",
        "state": "applying",
    }


def test_signing_with_a_card_on_file_pays_at_once(client, activated, localstripe, celery_eager):
    give_card_on_file(localstripe, activated.subscription)

    change = sign_increase(client, activated)

    payment = Payment.objects.get()
    assert (payment.status, payment.customer_present) == ("succeeded", False)
    assert change.state in ("applying", "applied")  # applied: the built-in org took it at once
    page = client.get(urls(activated, change)["change"]).content.decode()
    assert f"Receipt {payment.receipt_number} (PDF)" in page


def test_while_the_card_on_file_is_charged_the_change_page_says_paying(client, activated):
    change = sign_increase(client, activated)
    Payment.objects.create(  # what signing leaves while the worker charges the card
        organization_id=change.organization_id,
        subscription=change.subscription,
        seat_change=change,
        amount=change.amount_due,
        currency="eur",
        attempts=1,
        attempt_started_at=timezone.now(),
    )
    url = urls(activated, change)

    page = html.unescape(client.get(url["change"]).content.decode())

    assert "Paying… waiting for the card processor's answer." in page
    assert f'data-status-url="{url["status"]}"' in page and "/static/js/payment.js" in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert client.get(url["status"]).json()["status"] == "pending"
    # A second click meanwhile sends nothing.
    assert client.post(url["pay"], **JSON).json()["status"] == "pending"
    assert Payment.objects.get().attempts == 1


def test_without_javascript_the_card_on_file_button_tries_again_and_comes_back(
    client, activated, localstripe, celery_eager
):
    give_card_on_file(localstripe, activated.subscription, DECLINED)
    change = sign_increase(client, activated)
    url = urls(activated, change)

    assert "with Visa •••• 0341</button>" in client.get(url["pay"]).content.decode()
    response = client.post(url["pay"], follow=True)

    assert response.redirect_chain[-1][0] == url["pay"]
    assert "Your card was declined." in response.content.decode()
    assert Payment.objects.get().attempts == 2


def test_an_expired_quote_cannot_be_paid(client, activated, localstripe):
    change = sign_increase(client, activated)
    SeatChange.objects.filter(pk=change.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    url = urls(activated, change)

    page = client.get(url["pay"]).content.decode()
    no_card = client.post(url["card"], **JSON)
    refused = client.post(url["pay"], {"setup_intent": "seti_typed_before_it_expired"}, **JSON)

    assert "it can no longer be paid" in page and 'id="card-element"' not in page
    assert no_card.status_code == 409 and "expired" in no_card.json()["message"]
    assert localstripe.sent("POST", "/v1/setup_intents") == []
    assert refused.status_code == 409 and refused.json()["status"] == "error"
    assert "expired" in refused.json()["message"]
    change.refresh_from_db()
    assert change.state == "expired" and not Payment.objects.exists()


def test_invoices_and_payments_list_the_payment_with_its_receipt(client, activated, localstripe):
    change = sign_increase(client, activated)
    url = urls(activated, change)
    client.post(url["pay"], typed_card(client, url, localstripe), **JSON)
    payment = Payment.objects.get()
    base = activated.base

    page = client.get(f"{base}payments/").content.decode()
    receipt = client.get(f"{base}payments/{payment.receipt_number}/receipt.pdf")

    assert "Invoices and payments" in page and change.number in page
    assert f"{base}payments/{payment.receipt_number}/receipt.pdf" in page
    assert 'data-testid="next-renewal">€75.00<' in page
    assert receipt["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(receipt.getvalue())).pages)
    assert payment.receipt_number in text
    assert "Invoices and payments" in client.get(f"{base}change/").content.decode()


def test_a_signed_in_admin_sees_the_same_and_nobody_sees_another_organizations_receipts(
    client, activated, localstripe
):
    change = sign_increase(client, activated)
    url = urls(activated, change)
    client.post(url["pay"], typed_card(client, url, localstripe), **JSON)
    payment = Payment.objects.get()
    subscription = activated.subscription
    admin = MembershipFactory(organization=subscription.organization)
    outsider = MembershipFactory()
    client.force_login(admin.user)

    own = client.get(f"/subscriptions/{subscription.pk}/payments/{payment.receipt_number}/receipt.pdf")
    client.force_login(outsider.user)
    foreign = client.get(f"/subscriptions/{subscription.pk}/payments/{payment.receipt_number}/receipt.pdf")
    listing = client.get(f"/subscriptions/{subscription.pk}/payments/")

    assert own.status_code == 200
    assert (foreign.status_code, listing.status_code) == (404, 404)


def test_the_emailed_payment_link_opens_the_payment_page(
    client, activated, localstripe, celery_eager, settings
):
    settings.SITE_URL = "http://testserver"
    give_card_on_file(localstripe, activated.subscription, DECLINED)
    mail.outbox.clear()
    change = sign_increase(client, activated)

    (email,) = [m for m in mail.outbox if m.subject.startswith("Payment needed")]
    link = next(line for line in email.body.splitlines() if "/pay/" in line).split("testserver", 1)[1]
    client.logout()
    response = client.get(link, follow=True)
    page = response.content.decode()

    assert link.startswith("/l/")
    ((landing, status),) = response.redirect_chain
    assert (
        status == 303 and landing.startswith("/link/") and landing.endswith(f"/changes/{change.number}/pay/")
    )
    assert f"Pay for seat change {change.number}" in page
    assert "Your card was declined." in page
    other_page = client.get(link.replace(f"changes/{change.number}/pay/", "change/"), follow=True)
    assert other_page.status_code == 404


def test_an_increase_worth_less_than_the_smallest_card_payment_is_not_charged(client, activated):
    # One more user at €15.00 a month, an hour before the period ends: about 2 cents.
    Subscription.objects.filter(pk=activated.subscription.pk).update(
        current_period_end=timezone.now() + timedelta(hours=1)
    )
    base = activated.base
    client.post(f"{base}change/", {"new_total": "4"})
    change = SeatChange.objects.get()
    assert 0 < change.amount_due < 50

    agreement = client.get(f"{base}changes/{change.number}/").content.decode()
    assert "not charged: less than the smallest card payment, €0.50" in html.unescape(agreement)
    signed = sign_increase(client, activated, new_total="4")

    assert signed.state in ("applying", "applied")  # straight after signing
    assert not Payment.objects.exists()
    pdf = client.get(f"{base}changes/{change.number}/agreement.pdf")
    terms = " ".join(pdf_text(b"".join(pdf.streaming_content) if pdf.streaming else pdf.content).split())
    assert "Nothing is charged for the rest of the current period: the amount due is less than" in terms
    (signed_email,) = [m for m in mail.outbox if m.subject.startswith("Signed")]
    assert "nothing is charged" in signed_email.body and "pay €" not in signed_email.body
    assert Subscription.objects.get(pk=activated.subscription.pk).quantity == 4


def test_the_payment_page_confirms_a_change_with_nothing_to_charge(client, activated):
    Subscription.objects.filter(pk=activated.subscription.pk).update(
        current_period_end=timezone.now() + timedelta(hours=1)
    )
    change = awaiting_payment(Subscription.objects.get(pk=activated.subscription.pk), new_quantity=4)
    url = urls(activated, change)

    page = html.unescape(client.get(url["pay"]).content.decode())

    assert "Nothing to charge" in page and "is less than the smallest card payment (€0.50)" in page
    assert "Pay by card" not in page
    confirmed = client.post(url["pay"], follow=True)

    assert "Nothing to pay: your new seat count is being applied." in confirmed.content.decode()
    change.refresh_from_db()
    assert change.state in ("applying", "applied") and not Payment.objects.exists()
