"""The receipt PDF: rendered once by `pdfs`, with its own stylesheet."""

import pytest
from django.utils import timezone

import pdfs
from agreements import rendering
from billing import receipts
from billing.models import Payment
from tests.agreements.pdfs import font_names, reader, text
from tests.billing.factories import awaiting_payment

pytestmark = pytest.mark.django_db


def paid(change) -> Payment:
    now = timezone.now()
    payment = Payment.objects.create(
        organization_id=change.organization_id,
        subscription=change.subscription,
        seat_change=change,
        amount=change.amount_due,
        currency=change.currency,
        status=Payment.Status.SUCCEEDED,
        stripe_payment_intent_id="pi_receipt_test",
        card_label="Visa •••• 4242",
        paid_at=now,
    )
    payment.receipt_number = f"R-{now:%Y}-{payment.pk:06d}"
    payment.save()
    return payment


def test_the_receipt_shows_number_amount_customer_change_and_card():
    change = awaiting_payment(organization__name="Acme <Field> & Services")
    payment = paid(change)

    pdf = receipts.receipt_pdf(payment)

    content = text(pdf)
    amount = f"€{payment.amount // 100}.{payment.amount % 100:02d}"
    for expected in [
        f"Receipt {payment.receipt_number}",
        f"Amount paid: {amount}",
        "Customer Acme <Field> & Services",
        f"Seat change agreement {change.number}",
        "Paid with Visa •••• 4242",
        "Payment reference pi_receipt_test",
        "3 → 5 users",
        f"Total paid {amount}",
        "renewals are €75.00 per month for 5 users",
    ]:
        assert expected in content, expected
    assert reader(pdf).metadata.title == f"Receipt {payment.receipt_number}"


def test_a_receipt_is_rendered_once_and_kept():
    payment = paid(awaiting_payment())

    first = receipts.receipt_pdf(payment)
    again = receipts.receipt_pdf(Payment.objects.get(pk=payment.pk))

    assert first == again == bytes(Payment.objects.get().receipt_pdf)


def test_a_payment_that_did_not_succeed_has_no_receipt():
    change = awaiting_payment()
    payment = Payment.objects.create(
        organization_id=change.organization_id,
        subscription=change.subscription,
        seat_change=change,
        amount=change.amount_due,
        currency="eur",
    )

    with pytest.raises(ValueError, match="has no receipt"):
        receipts.receipt_pdf(payment)


def test_each_document_is_rendered_with_its_own_stylesheet():
    html = '<!doctype html><html><body><p class="typed-signature">Ada Lovelace</p></body></html>'

    with_agreement_css = pdfs.html_to_pdf(html, stylesheet_template=rendering.STYLESHEET_TEMPLATE)
    with_receipt_css = pdfs.html_to_pdf(html, stylesheet_template=receipts.STYLESHEET_TEMPLATE)
    agreement_again = pdfs.html_to_pdf(html, stylesheet_template=rendering.STYLESHEET_TEMPLATE)

    # Only the agreement's stylesheet gives typed signatures the Dancing Script font.
    assert any("Dancing-Script" in name for name in font_names(with_agreement_css))
    assert not any("Dancing-Script" in name for name in font_names(with_receipt_css))
    assert font_names(agreement_again) == font_names(with_agreement_css)
