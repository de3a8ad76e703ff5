"""How billing reacts to subscriptions' signals (kept thin: each queues one job)."""

import uuid

import outbox
from subscriptions.models import Subscription

from . import jobs, services
from .models import StripeProduct


def stop_stripe_renewal_on_cancel(sender, *, subscription_id, **kwargs) -> None:
    """Cancelled at period end: Stripe must not bill another period."""
    if Subscription.objects.filter(pk=subscription_id).exclude(stripe_subscription_id="").exists():
        outbox.enqueue(
            jobs.stop_stripe_renewal,
            # Each cancellation its own (the Stripe request's idempotency key is the
            # cancellation's audit event): cancel, keep, cancel again is three requests.
            key=f"stripe-stop-renewal:{subscription_id}:{uuid.uuid4().hex}",
            kind="batch",
            subscription_id=subscription_id,
        )


def resume_stripe_renewal_on_keep(sender, *, subscription_id, **kwargs) -> None:
    """The cancellation was withdrawn: Stripe must renew the subscription again."""
    if Subscription.objects.filter(pk=subscription_id).exclude(stripe_subscription_id="").exists():
        outbox.enqueue(
            jobs.resume_stripe_renewal,
            key=f"stripe-resume-renewal:{subscription_id}:{uuid.uuid4().hex}",
            kind="batch",
            subscription_id=subscription_id,
        )


def sync_stripe_quantity_on_seat_sync(sender, *, instance, created, **kwargs) -> None:
    """A SeatSync row was written (a paid increase, an approved decrease, an end): in
    its transaction, so renewals bill the new quantity even if nothing after the
    commit runs (an outbox row beside the SeatSync)."""
    if not created:
        return
    # The writer passes the subscription it locked (no query); read it otherwise.
    if instance.subscription.stripe_subscription_id:
        outbox.enqueue(
            jobs.sync_stripe_quantity,
            key=f"stripe-quantity:{instance.subscription_id}:seat-sync-{instance.pk}",
            kind="batch",
            subscription_id=instance.subscription_id,
        )


def set_up_stripe_renewal_on_activation(sender, *, subscription, **kwargs) -> None:
    """Inside the activating transaction: Stripe will bill its renewals (an outbox row,
    its task queued on commit)."""
    services.stripe_renewal_setup_request(subscription=subscription)


def sync_stripe_quantity_on_renewal_seats(sender, *, subscription_id, **kwargs) -> None:
    """A decrease was scheduled for the period end (or withdrawn): Stripe must know
    before the renewal."""
    if Subscription.objects.filter(pk=subscription_id).exclude(stripe_subscription_id="").exists():
        outbox.enqueue(
            jobs.sync_stripe_quantity,
            key=f"stripe-quantity:{subscription_id}:{uuid.uuid4().hex}",
            kind="batch",
            subscription_id=subscription_id,
        )


def sync_stripe_catalogue_on_save(sender, *, instance, **kwargs) -> None:
    """A product or plan was saved (the vendor's admin): Stripe's copy follows, after
    commit. One Stripe has not seen yet is made when first needed."""
    product_id = getattr(instance, "product_id", None) or instance.pk
    if StripeProduct.objects.filter(product_id=product_id).exists():
        outbox.enqueue(
            jobs.sync_stripe_catalogue,
            key=f"stripe-catalogue:{product_id}:{uuid.uuid4().hex}",
            kind="batch",
            product_id=product_id,
        )
