"""How billing reacts to subscriptions' signals (kept thin: each queues one task)."""

from subscriptions.models import Subscription


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
