"""Emails of the agreements app, sent on commit of the change they announce."""

from django.conf import settings
from django.urls import reverse

from subscriptions import links
from subscriptions.models import CapabilityLink, SeatChange
from subscriptions.money_story import seat_change_money
from subscriptions.notifications import product_name, send

from .models import Agreement
from .selectors import agreement_pdf_filename


def _pay_url(seat_change: SeatChange, email: str) -> str:
    """A link of `email`'s own to the change's payment page (it reaches that one change
    and nothing else, and stops working with it)."""
    _, raw = links.link_issue(
        subscription=seat_change.subscription,
        action=CapabilityLink.Action.SIGN,
        email=email,
        seat_change=seat_change,
        actor_label=f"payment of seat change {seat_change.number}",
    )
    return settings.SITE_URL + reverse("portal:link_to", args=[raw, f"changes/{seat_change.number}/pay/"])


def agreement_signed(*, agreement_id: int) -> None:
    """The signed PDF, attached, to the signer and to the subscription's admin. When the
    change waits for a payment the signer did not consent to take from the card on file,
    each gets a link of their own to the payment page."""
    agreement = Agreement.objects.select_related(
        "seat_change__subscription__plan__product", "seat_change__subscription__organization"
    ).get(pk=agreement_id)
    seat_change = agreement.seat_change
    subscription = seat_change.subscription
    product = product_name(subscription)
    consent = agreement.charge_consent or {}
    paying_now = consent.get("choice") == "pay_now"
    payment_due = (
        seat_change.state == SeatChange.State.AWAITING_PAYMENT
        and seat_change.amount_due > 0
        and not paying_now
    )
    for email in dict.fromkeys(e.lower() for e in (agreement.signer_email, subscription.admin_email) if e):
        send(
            to=[email],
            subject=f"Signed: {product} seat change agreement {seat_change.number}",
            template="agreement_signed",
            context={
                "agreement": agreement,
                "seat_change": seat_change,
                "subscription": subscription,
                "product": product,
                "money": seat_change_money(seat_change),
                "consent": consent,
                "paying_now": paying_now,
                "pay_url": _pay_url(seat_change, email) if payment_due else "",
            },
            attachments=[
                (
                    agreement_pdf_filename(agreement, organization_name=subscription.organization.name),
                    bytes(agreement.signed_pdf),
                    "application/pdf",
                )
            ],
        )
