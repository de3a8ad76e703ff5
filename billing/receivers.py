"""How billing reacts to subscriptions' signals (kept thin: each queues one task)."""

from django.db import transaction

from subscriptions.models import Subscription

from . import services
from .models import StripeProduct


def stop_stripe_renewal_on_cancel(sender, *, subscription_id, **kwargs) -> None:
    """Cancelled at period end: Stripe must not bill another period."""
    from .tasks import stop_stripe_renewal

    if Subscription.objects.filter(pk=subscription_id).exclude(stripe_subscription_id="").exists():
        stop_stripe_renewal.delay(subscription_id)


def resume_stripe_renewal_on_keep(sender, *, subscription_id, **kwargs) -> None:
    """The cancellation was withdrawn: Stripe must renew the subscription again."""
    from .tasks import resume_stripe_renewal

    if Subscription.objects.filter(pk=subscription_id).exclude(stripe_subscription_id="").exists():
        resume_stripe_renewal.delay(subscription_id)


def sync_stripe_quantity_on_seat_sync(sender, *, seat_sync_id, **kwargs) -> None:
    """A quantity changed (a paid increase, an approved decrease): renewals must bill it."""
    from .tasks import sync_stripe_quantity

    subscription_id = (
        Subscription.objects.filter(seat_syncs__pk=seat_sync_id)
        .exclude(stripe_subscription_id="")
        .values_list("pk", flat=True)
        .first()
    )
    if subscription_id is not None:
        sync_stripe_quantity.delay(subscription_id)


def set_up_stripe_renewal_on_activation(sender, *, subscription, **kwargs) -> None:
    """Inside the activating transaction: Stripe will bill its renewals (an outbox row,
    its task queued on commit)."""
    services.stripe_renewal_setup_request(subscription=subscription)


def sync_stripe_quantity_on_renewal_seats(sender, *, subscription_id, **kwargs) -> None:
    """A decrease was scheduled for the period end (or withdrawn): Stripe must know
    before the renewal."""
    from .tasks import sync_stripe_quantity

    if Subscription.objects.filter(pk=subscription_id).exclude(stripe_subscription_id="").exists():
        sync_stripe_quantity.delay(subscription_id)


def sync_stripe_catalogue_on_save(sender, *, instance, **kwargs) -> None:
    """A product or plan was saved (the vendor's admin): Stripe's copy follows, on
    commit. One Stripe has not seen yet is made when first needed."""
    from .tasks import sync_stripe_catalogue

    product_id = getattr(instance, "product_id", None) or instance.pk
    if StripeProduct.objects.filter(product_id=product_id).exists():
        transaction.on_commit(lambda: sync_stripe_catalogue.delay(product_id), robust=True)
