"""Seat changes waiting for payment, and Stripe customers with cards, in localstripe."""

import secrets

from django.db import transaction
from django.utils import timezone

from billing.gateways import stripe_gateway
from billing.proration import quote_seat_change, renewal_amount
from subscriptions import seat_changes
from subscriptions.models import SeatChange, Subscription
from tests.factories import SubscriptionFactory
from tests.stripe_server import PUBLISHABLE_KEY

VISA = "4242424242424242"
DECLINED = "4000000000000341"  # attaches, then declines at charge time
THREE_D_SECURE = "4000002500003155"


def awaiting_payment(
    subscription: Subscription | None = None, *, new_quantity: int = 5, **kwargs
) -> SeatChange:
    """An increase, signed, waiting for payment (3 → 5 seats at €15.00 by default)."""
    subscription = subscription or SubscriptionFactory(quantity=3, **kwargs)
    quote = quote_seat_change(
        unit_amount=subscription.plan.unit_amount,
        currency=subscription.plan.currency,
        old_quantity=subscription.quantity,
        new_quantity=new_quantity,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        at=timezone.now(),
    )
    change = seat_changes.seat_change_create(
        subscription=subscription,
        new_quantity=new_quantity,
        quote=quote,
        renewal_amount=renewal_amount(unit_amount=subscription.plan.unit_amount, quantity=new_quantity),
        licences_in_use=0,
    )
    with transaction.atomic():
        seat_changes.seat_change_mark_signed(
            seat_change=change, signer_name="Ada Admin", signer_email="ada@customer.example"
        )
    return SeatChange.objects.select_related("subscription__plan__product", "subscription__organization").get(
        pk=change.pk
    )


def confirm_card_setup(localstripe, client_secret: str, number: str = VISA) -> str:
    """What Stripe.js's confirmCardSetup does (in localstripe's Stripe.js) with a card
    typed into the card element: the SetupIntent of `client_secret` is confirmed with
    the card and, when the bank asks the cardholder to confirm (3-D Secure), confirmed
    again once they have. Returns the SetupIntent's id."""
    setup_intent = client_secret.split("_secret_")[0]
    path = f"/v1/setup_intents/{setup_intent}/confirm"
    browser = {"key": PUBLISHABLE_KEY, "client_secret": client_secret, "use_stripe_sdk": "true"}
    card = {"number": number, "exp_month": "12", "exp_year": "2031", "cvc": "123"}
    answer = localstripe._call(
        "POST", path, {**browser, "payment_method_data": {"type": "card", "card": card}}, secret=False
    )
    if answer["status"] == "requires_action":
        answer = localstripe._call("POST", path, browser, secret=False)
    assert answer["status"] == "succeeded", answer
    return answer["id"]


def new_card(localstripe, change: SeatChange, number: str = VISA) -> str:
    """A card typed into the payment page of `change`: the SetupIntent the page asks
    for, confirmed by Stripe.js with the card. Returns the SetupIntent's id."""
    from billing import services

    return confirm_card_setup(localstripe, services.payment_card_setup(seat_change=change), number)


def give_card_on_file(localstripe, subscription: Subscription, number: str = VISA) -> str:
    """A Stripe customer for the subscription, with `number` as their card on file
    (saved through a SetupIntent, then made the default: a card that once paid)."""
    gateway = stripe_gateway()
    customer_id = subscription.stripe_customer_id or gateway.customer_create(
        email=subscription.admin_email,
        name=subscription.organization.name,
        metadata={},
        idempotency_key=f"test-customer-{subscription.pk}",
    )
    setup = gateway.card_setup_create(
        customer_id=customer_id, metadata={}, idempotency_key=f"test-card-{secrets.token_hex(8)}"
    )
    card = gateway.card_setup_card(
        confirm_card_setup(localstripe, setup.client_secret, number), customer_id=customer_id
    )
    gateway.customer_default_card_set(
        customer_id=customer_id, payment_method_id=card.id, idempotency_key=f"test-default-{card.id}"
    )
    Subscription.objects.filter(pk=subscription.pk).update(stripe_customer_id=customer_id)
    subscription.stripe_customer_id = customer_id
    return customer_id


def stripe_subscription(localstripe, subscription: Subscription) -> str:
    """A Stripe subscription at the subscription's quantity, billed to its customer's
    card on file (its first invoice is paid at once); linked to the subscription."""
    product = localstripe.post("/v1/products", {"name": subscription.plan.product.name})
    plan = localstripe.post(
        "/v1/plans",
        {
            "amount": subscription.plan.unit_amount,
            "currency": subscription.plan.currency,
            "interval": subscription.plan.interval,
            "product": product["id"],
        },
    )
    created = localstripe.post(
        "/v1/subscriptions",
        {
            "customer": subscription.stripe_customer_id,
            "items": [{"plan": plan["id"], "quantity": subscription.quantity}],
        },
    )
    Subscription.objects.filter(pk=subscription.pk).update(stripe_subscription_id=created["id"])
    subscription.stripe_subscription_id = created["id"]
    return created["id"]
