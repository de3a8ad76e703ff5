"""Receipt PDFs, rendered once by `pdfs` from the payment and its seat change's stored
quote, and kept on the payment (a receipt never changes once issued)."""

from django.conf import settings
from django.template.loader import render_to_string

import pdfs
from pdfs import downloads

from .models import Payment

RECEIPT_TEMPLATE = "billing/pdf/receipt.html"
STYLESHEET_TEMPLATE = "billing/pdf/receipt.css"


def receipt_html(payment: Payment) -> str:
    seat_change = payment.seat_change
    subscription = payment.subscription
    plan = subscription.plan
    return render_to_string(
        RECEIPT_TEMPLATE,
        {
            "vendor_name": settings.VENDOR_NAME,
            "payment": payment,
            "seat_change": seat_change,
            "subscription": subscription,
            "customer_name": subscription.organization.name,
            "product_name": f"{settings.VENDOR_NAME} {plan.product.name}",
            "plan_name": plan.name,
            "interval": plan.interval,
        },
    )


def receipt_pdf(payment: Payment) -> bytes:
    """The payment's receipt PDF, rendered on first use and stored. Only for a payment
    that has a receipt number (it succeeded)."""
    if payment.receipt_pdf:
        return bytes(payment.receipt_pdf)
    if not payment.receipt_number:
        raise ValueError(f"Payment {payment.pk} has no receipt: it has not succeeded.")
    payment = Payment.objects.select_related(
        "seat_change", "subscription__plan__product", "subscription__organization"
    ).get(pk=payment.pk)
    pdf = pdfs.html_to_pdf(receipt_html(payment), stylesheet_template=STYLESHEET_TEMPLATE)
    Payment.objects.filter(pk=payment.pk, receipt_pdf__isnull=True).update(receipt_pdf=pdf)
    return bytes(Payment.objects.values_list("receipt_pdf", flat=True).get(pk=payment.pk))


def receipt_filename(payment: Payment) -> str:
    """What the receipt PDF is saved as: `receipt-<org>-<receipt number>-<date paid>.pdf`."""
    return downloads.pdf_filename(
        "receipt", payment.subscription.organization.name, payment.receipt_number, on=payment.paid_at
    )
