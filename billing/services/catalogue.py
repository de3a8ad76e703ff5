"""Our catalogue in Stripe: a Product per product, a Price per plan.

A Price cannot change in Stripe, so a plan whose unit amount, currency or interval
changed gets a new Price; the old one is archived (no new subscription can use it) and
the plan's Stripe subscriptions are moved to the new one for their next renewal
(`stripe_subscription_quantity_sync`), so what Stripe bills stays what the dashboard
calls the next renewal amount. Every Stripe write carries an idempotency key built
from our ids and the plan's terms; the rows are written under the plan's row lock, so
two runs at once make one Price.
"""

from __future__ import annotations

from django.db import transaction

from audit.services import audit_record
from subscriptions.models import Plan, Product, Subscription

from ..gateways import stripe_gateway
from ..models import StripePrice, StripeProduct


def stripe_product_for(*, product_id: int) -> StripeProduct:
    """The product's Stripe Product, created on first need and renamed when ours was."""
    gateway = stripe_gateway()
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product_id)
        stripe_product = StripeProduct.objects.filter(product=product).first()
        if stripe_product is None:
            stripe_product = StripeProduct.objects.create(
                product=product,
                name=product.name,
                stripe_product_id=gateway.product_create(
                    name=product.name,
                    metadata={"seatmgr_product": str(product.pk), "code": product.code},
                    idempotency_key=f"seatmgr-product-{product.pk}",
                ),
            )
            audit_record(
                action="billing.stripe_product_created",
                organization=None,
                actor_label="system",
                obj=stripe_product,
                after={"product": product.code, "stripe_product": stripe_product.stripe_product_id},
            )
        elif stripe_product.name != product.name:
            gateway.product_rename(
                product_id=stripe_product.stripe_product_id,
                name=product.name,
                idempotency_key=f"seatmgr-product-{product.pk}-name-{product.name}"[:255],
            )
            stripe_product.name = product.name
            stripe_product.save(update_fields=["name"])
    return stripe_product


def stripe_price_for(*, plan_id: int) -> StripePrice:
    """The plan's current Stripe Price (its unit amount, currency and interval now),
    created on first need. A plan whose terms changed gets a new one (even back to
    earlier terms: an archived Price stays archived) and its previous one is archived.
    Returns the active row."""
    gateway = stripe_gateway()
    plan = Plan.objects.select_related("product").get(pk=plan_id)
    stripe_product = stripe_product_for(product_id=plan.product_id)
    with transaction.atomic():
        plan = Plan.objects.select_for_update().select_related("product").get(pk=plan_id)
        active = StripePrice.objects.filter(plan=plan, active=True).first()
        if active is not None and active.matches(plan):
            return active
        if active is not None:
            gateway.price_archive(
                price_id=active.stripe_price_id, idempotency_key=f"seatmgr-price-{active.pk}-archive"
            )
            active.active = False
            active.save(update_fields=["active"])
        # The n-th Price of the plan: a retry after a lost answer (nothing stored, so
        # the same n) gets Stripe's saved answer, the same Price, not a second one.
        number = StripePrice.objects.filter(plan=plan).count() + 1
        price = StripePrice.objects.create(
            plan=plan,
            unit_amount=plan.unit_amount,
            currency=plan.currency,
            interval=plan.interval,
            stripe_price_id=gateway.price_create(
                product_id=stripe_product.stripe_product_id,
                unit_amount=plan.unit_amount,
                currency=plan.currency,
                interval=plan.interval,
                metadata={"seatmgr_plan": str(plan.pk), "code": plan.code},
                idempotency_key=f"seatmgr-plan-{plan.pk}-price-{number}",
            ),
        )
        audit_record(
            action="billing.stripe_price_current",
            organization=None,
            actor_label="system",
            obj=price,
            before={"stripe_price": active.stripe_price_id} if active else None,
            after={
                "plan": plan.code,
                "stripe_price": price.stripe_price_id,
                "unit_amount": price.unit_amount,
                "currency": price.currency,
                "interval": price.interval,
            },
        )
    return price


def stripe_catalogue_sync(*, product_id: int) -> list[int]:
    """A product or one of its plans was saved: bring what Stripe has of them in step
    (the Product's name, each plan's Price). Products and plans Stripe has not seen yet
    are left alone: they are created when first needed. Returns the ids of the
    subscriptions whose Price changed, for their next renewal to be moved to it."""
    if not StripeProduct.objects.filter(product_id=product_id).exists():
        return []
    stripe_product_for(product_id=product_id)
    moved = []
    for plan_id in (
        Plan.objects.filter(product_id=product_id, stripe_prices__isnull=False)
        .distinct()
        .values_list("pk", flat=True)
    ):
        before = StripePrice.objects.filter(plan_id=plan_id, active=True).values_list("pk", flat=True).first()
        if stripe_price_for(plan_id=plan_id).pk != before:
            moved += (
                Subscription.objects.filter(
                    plan_id=plan_id, status__in=(Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)
                )
                .exclude(stripe_subscription_id="")
                .values_list("pk", flat=True)
            )
    return moved
