"""Billing reads. Customer-facing ones take the subscription the request resolved
(through a membership or a unique link) and never look further than it."""

from django.conf import settings
from django.db.models import QuerySet

from subscriptions.models import SeatChange, Subscription
from subscriptions.money_story import Renewal, subscription_renewal

from .errors import PaymentRefused
from .gateways import Card, stripe_gateway
from .models import Payment, RenewalInvoice


def next_renewal(subscription: Subscription) -> Renewal | None:
    """What the next renewal will bill, or when the subscription ends
    (`subscriptions.money_story`, the one place that says)."""
    return subscription_renewal(subscription)


def payment_for_seat_change(seat_change: SeatChange) -> Payment | None:
    return Payment.objects.filter(seat_change_id=seat_change.pk).first()


def payments_for_subscription(subscription: Subscription) -> QuerySet[Payment]:
    return (
        Payment.objects.filter(organization_id=subscription.organization_id, subscription=subscription)
        .select_related("seat_change")
        .defer("receipt_pdf")
        .order_by("-created_at")
    )


def renewal_invoices_for_subscription(subscription: Subscription) -> QuerySet[RenewalInvoice]:
    return RenewalInvoice.objects.filter(
        organization_id=subscription.organization_id, subscription=subscription
    ).order_by("-created_at")


def unpaid_invoice(subscription: Subscription) -> RenewalInvoice | None:
    """The latest invoice of this subscription left unpaid (its payment failed, or waits
    for the cardholder's confirmation): what makes it past due."""
    return (
        renewal_invoices_for_subscription(subscription)
        .filter(status__in=RenewalInvoice.UNPAID_STATUSES)
        .first()
    )


def receipt_payment(subscription: Subscription, receipt_number: str) -> Payment | None:
    """A paid (or refunded) payment of this subscription, by its receipt number."""
    return (
        payments_for_subscription(subscription)
        .filter(receipt_number=receipt_number)
        .exclude(receipt_number=None)
        .first()
    )


def card_on_file(subscription: Subscription) -> Card | None:
    """The customer's default card, asked from Stripe; None without a Stripe customer
    (then nothing is asked), and None when Stripe refuses to say (the customer is not in
    this account, say; the gateway logs it): the payment page then offers a new card,
    and paying with it fails as refused, which alerts the account manager. Raises
    PaymentProcessorUnavailable when Stripe can't answer."""
    if not subscription.stripe_customer_id:
        return None
    try:
        return stripe_gateway().customer_default_card(subscription.stripe_customer_id)
    except PaymentRefused:
        return None


def stripe_js() -> dict[str, str]:
    """What a payment page needs to load Stripe.js: its URL and the publishable key."""
    return {"url": settings.STRIPE_JS_URL, "publishable_key": settings.STRIPE_PUBLISHABLE_KEY}
