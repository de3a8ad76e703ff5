"""Emails of the seat change workflow that need a link into the portal."""

from django.conf import settings
from django.urls import reverse

from billing.models import Payment
from subscriptions import links
from subscriptions.models import CapabilityLink
from subscriptions.notifications import product_name, send


def payment_needed(*, payment_id: int) -> None:
    """The payment of a seat change needs the customer (card missing or declined, or
    the bank asks them to confirm): each of the subscription's admin and the change's
    signer gets a link of their own to the payment page. The link reaches that one
    seat change and nothing else, and stops working with it."""
    payment = Payment.objects.select_related(
        "seat_change", "subscription__plan__product", "subscription__organization"
    ).get(pk=payment_id)
    seat_change = payment.seat_change
    subscription = payment.subscription
    if not payment.is_open and payment.status != Payment.Status.FAILED:
        return
    product = product_name(subscription)
    subject = (
        f"Please confirm the payment for {product} seat change {seat_change.number}"
        if payment.status == Payment.Status.REQUIRES_ACTION
        else f"Payment needed for {product} seat change {seat_change.number}"
    )
    for email in dict.fromkeys(e.lower() for e in (subscription.admin_email, seat_change.signer_email) if e):
        _, raw = links.link_issue(
            subscription=subscription,
            action=CapabilityLink.Action.SIGN,
            email=email,
            seat_change=seat_change,
            actor_label=f"payment of seat change {seat_change.number}",
        )
        # Opening it lands on the payment page, with the token left behind (portal.access).
        url = settings.SITE_URL + reverse("portal:link_to", args=[raw, f"changes/{seat_change.number}/pay/"])
        send(
            to=[email],
            subject=subject,
            template="payment_needed",
            context={
                "payment": payment,
                "seat_change": seat_change,
                "subscription": subscription,
                "product": product,
                "url": url,
            },
        )
