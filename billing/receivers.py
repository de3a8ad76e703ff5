"""How billing reacts to subscriptions' signals (kept thin: each queues one task)."""

from subscriptions.models import Subscription


def stop_stripe_renewal_on_cancel(sender, *, subscription_id, **kwargs) -> None:
    """Cancelled at period end: Stripe must not bill another period."""
    from .tasks import stop_stripe_renewal

    if Subscription.objects.filter(pk=subscription_id).exclude(stripe_subscription_id="").exists():
        stop_stripe_renewal.delay(subscription_id)


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
