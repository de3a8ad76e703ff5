"""Emails this app sends. Each function takes ids, reloads what it needs and sends
one message per recipient; they are outbox jobs (`outbox.enqueue`, in the transaction
of the change they announce), so nobody is told about a change that was rolled back,
and an email that could not be sent is retried."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .models import Invitation, Membership, SeatChange, Subscription
from .money_story import subscription_renewal


def send(*, to: list[str], subject: str, template: str, context: dict, attachments=()) -> None:
    """Render `templates/emails/<template>.txt` and send it, with attachments given
    as (filename, bytes, mimetype)."""
    context = {"VENDOR_NAME": settings.VENDOR_NAME, "SITE_URL": settings.SITE_URL, **context}
    body = render_to_string(f"emails/{template}.txt", context)
    for address in dict.fromkeys(a.strip().lower() for a in to if a and a.strip()):
        message = EmailMultiAlternatives(subject=subject, body=body, to=[address])
        for attachment in attachments:
            message.attach(*attachment)
        message.send()


def product_name(subscription: Subscription) -> str:
    return f"{settings.VENDOR_NAME} {subscription.plan.product.name}"


def subscription_links(*, subscription_id: int, links: dict[str, str], subject: str) -> None:
    """The unique links of a subscription (activation email or retrieval), and, when the
    admin has an account in the organization, where to sign in to give out licences."""
    subscription = Subscription.objects.select_related("plan__product", "organization").get(
        pk=subscription_id
    )
    signs_in = Membership.objects.filter(
        organization_id=subscription.organization_id,
        user__email__iexact=subscription.admin_email,
        role=Membership.Role.ADMIN,
    ).exists()
    send(
        to=[subscription.admin_email],
        subject=subject,
        template="subscription_links",
        context={
            "subscription": subscription,
            "product": product_name(subscription),
            "links": links,
            "signs_in": signs_in,
        },
    )


def sign_request(*, seat_change_id: int, url: str) -> None:
    """The signing link, to the person named to sign the seat change."""
    seat_change = SeatChange.objects.select_related(
        "subscription__plan__product", "subscription__organization"
    ).get(pk=seat_change_id)
    subscription = seat_change.subscription
    product = product_name(subscription)
    send(
        to=[seat_change.signer_email],
        subject=f"Please sign the {product} seat change agreement {seat_change.number}",
        template="sign_request",
        context={
            "seat_change": seat_change,
            "subscription": subscription,
            "signer_name": seat_change.signer_name,
            "product": product,
            "url": url,
        },
    )


def subscription_cancelled(*, subscription_id: int) -> None:
    subscription = Subscription.objects.select_related("plan__product", "organization").get(
        pk=subscription_id
    )
    send(
        to=[subscription.admin_email],
        subject=(
            f"{product_name(subscription)} will be cancelled on {subscription.current_period_end:%d %B %Y}"
        ),
        template="subscription_cancelled",
        context={"subscription": subscription, "product": product_name(subscription)},
    )


def subscription_kept(*, subscription_id: int) -> None:
    """The admin withdrew the cancellation: it renews again at the period end."""
    subscription = Subscription.objects.select_related("plan__product", "organization").get(
        pk=subscription_id
    )
    send(
        to=[subscription.admin_email],
        subject=f"{product_name(subscription)} will renew on {subscription.current_period_end:%d %B %Y}",
        template="subscription_kept",
        context={
            "subscription": subscription,
            "product": product_name(subscription),
            "renewal": subscription_renewal(subscription),
        },
    )


def subscription_ended(*, subscription_id: int, reason: str = "", requested: bool = True) -> None:
    """The subscription has ended: as its admin asked, or (`requested=False`) because
    `reason` (its payments could not be collected)."""
    subscription = Subscription.objects.select_related("plan__product", "organization").get(
        pk=subscription_id
    )
    send(
        to=[subscription.admin_email],
        subject=f"{product_name(subscription)} has ended",
        template="subscription_ended",
        context={
            "subscription": subscription,
            "product": product_name(subscription),
            "requested": requested,
            "reason": reason,
        },
    )


def invitation_sent(*, invitation_id: int, url: str) -> None:
    """The invitation to become a member (admin) of an organization, with its link."""
    invitation = Invitation.objects.select_related("organization").get(pk=invitation_id)
    send(
        to=[invitation.email],
        subject=f"You are invited to manage {invitation.organization.name} on {settings.VENDOR_NAME}",
        template="invitation",
        context={"invitation": invitation, "url": url},
    )
