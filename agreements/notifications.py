"""Emails of the agreements app, sent on commit of the change they announce."""

from subscriptions.notifications import product_name, send

from .models import Agreement
from .selectors import agreement_pdf_filename


def agreement_signed(*, agreement_id: int) -> None:
    """The signed PDF, attached, to the signer and to the subscription's admin."""
    agreement = Agreement.objects.select_related(
        "seat_change__subscription__plan__product", "seat_change__subscription__organization"
    ).get(pk=agreement_id)
    seat_change = agreement.seat_change
    subscription = seat_change.subscription
    product = product_name(subscription)
    send(
        to=[agreement.signer_email, subscription.admin_email],
        subject=f"Signed: {product} seat change agreement {seat_change.number}",
        template="agreement_signed",
        context={
            "agreement": agreement,
            "seat_change": seat_change,
            "subscription": subscription,
            "product": product,
        },
        attachments=[
            (
                agreement_pdf_filename(agreement, organization_name=subscription.organization.name),
                bytes(agreement.signed_pdf),
                "application/pdf",
            )
        ],
    )
