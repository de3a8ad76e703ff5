"""Emails billing sends itself (the payment page link is portal's business)."""

from subscriptions import words
from subscriptions.money_story import seat_change_money
from subscriptions.notifications import product_name, send

from . import receipts
from .models import Payment, RenewalInvoice, StrayCharge


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
        f"{seat_change.old_quantity} → {words.users(seat_change.new_quantity)}",
        template="receipt",
        context={
            "money": seat_change_money(seat_change),
            "payment": payment,
            "seat_change": seat_change,
            "subscription": subscription,
            "product": product_name(subscription),
        },
        attachments=[(receipts.receipt_filename(payment), pdf, "application/pdf")],
    )


def stray_charge_refunded(*, stray_charge_id: int) -> None:
    """A second charge for a seat change already paid was refunded in full: the admin
    and the change's signer are told, once (`duplicate_charge_refund` calls this once)."""
    stray = StrayCharge.objects.select_related(
        "payment__seat_change", "payment__subscription__plan__product", "payment__subscription__organization"
    ).get(pk=stray_charge_id)
    payment = stray.payment
    subscription = payment.subscription
    send(
        to=[subscription.admin_email, payment.seat_change.signer_email],
        subject=f"Refunded: a second charge for seat change {payment.seat_change.number}",
        template="stray_charge_refunded",
        context={
            "stray": stray,
            "payment": payment,
            "seat_change": payment.seat_change,
            "subscription": subscription,
            "product": product_name(subscription),
        },
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
