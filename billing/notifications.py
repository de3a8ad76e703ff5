"""Emails billing sends itself (the payment page link is portal's business)."""

from subscriptions.notifications import product_name, send

from . import receipts
from .models import Payment, RenewalInvoice


def receipt(*, payment_id: int) -> None:
    """The receipt, PDF attached, to the subscription's admin and the change's signer."""
    payment = Payment.objects.select_related(
        "seat_change", "subscription__plan__product", "subscription__organization"
    ).get(pk=payment_id)
    pdf = receipts.receipt_pdf(payment)
    seat_change = payment.seat_change
    subscription = payment.subscription
    send(
        to=[subscription.admin_email, seat_change.signer_email],
        subject=f"Receipt {payment.receipt_number}: {product_name(subscription)}, "
        f"{seat_change.old_quantity} → {seat_change.new_quantity} users",
        template="receipt",
        context={
            "payment": payment,
            "seat_change": seat_change,
            "subscription": subscription,
            "product": product_name(subscription),
        },
        attachments=[(receipts.receipt_filename(payment), pdf, "application/pdf")],
    )


def renewal_payment_failed(*, renewal_invoice_id: int) -> None:
    """An invoice of the subscription (a renewal, usually) could not be charged: the
    admin is asked to pay it."""
    _invoice_to_admin(renewal_invoice_id, "Payment overdue", "renewal_payment_failed")


def renewal_payment_action_required(*, renewal_invoice_id: int) -> None:
    """The bank asks the cardholder to confirm an invoice's payment (3-D Secure): the
    admin is sent Stripe's page for the invoice, where they confirm it."""
    _invoice_to_admin(renewal_invoice_id, "Please confirm your payment", "renewal_payment_action_required")


def _invoice_to_admin(renewal_invoice_id: int, headline: str, template: str) -> None:
    invoice = RenewalInvoice.objects.select_related(
        "subscription__plan__product", "subscription__organization"
    ).get(pk=renewal_invoice_id)
    subscription = invoice.subscription
    send(
        to=[subscription.admin_email],
        subject=f"{headline}: {product_name(subscription)}",
        template=template,
        context={"invoice": invoice, "subscription": subscription, "product": product_name(subscription)},
    )
