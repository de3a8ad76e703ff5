"""Renewals: Stripe bills them, at the price and seats we set, until we tell it to stop.

* **Activation sets it up.** Activating a subscription writes its `StripeRenewalSetup`
  row in the same transaction, and an outbox job (`billing.jobs.set_up_stripe_renewal`) runs
  `stripe_subscription_set_up`: the Stripe customer (created once, its id on the
  Subscription), the plan's Price (`catalogue`), and a Stripe subscription of one item
  (quantity = the seats the next period will have) whose first full invoice is at our
  period end: `billing_cycle_anchor` = period end with `proration_behavior=none`, so
  Stripe bills nothing for the current period. That period is ours: the account
  manager sold it (paid outside Stripe, or free). A subscription is `active` from the
  start in Stripe (a trial would be `trialing`, with trial reminders sent to the
  customer, for a period that is no trial). Reconciliation picks up rows whose task
  was lost. It never makes two Stripe subscriptions: before creating one it looks for
  the customer's subscription carrying our id in its metadata (a create whose answer
  was lost), and the create's idempotency key is built from our ids and what it sends.
* **Seats reach Stripe before the boundary.** Every new quantity (`SeatSync`) and
  every decrease scheduled for the period end (or withdrawn) sets the Stripe
  subscription's quantity to the seats of the next period at once, without proration:
  no money moves on a decrease (nothing is given back for the current period, whose
  licences keep working here until its end), and an increase was charged by us. So the
  renewal invoice, made at the boundary, bills the new count.
* **Stopping.** Cancelling at period end sets `cancel_at_period_end` in Stripe.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

import outbox
from audit.models import AuditEvent
from audit.services import audit_record
from subscriptions import periods
from subscriptions.models import Subscription
from subscriptions.money_story import renewal_seats

from ..errors import PaymentRefused
from ..gateways import stripe_gateway
from ..gateways.stripe import StripeSubscription
from ..models import StripePrice, StripeRenewalSetup
from .catalogue import stripe_price_for

logger = logging.getLogger(__name__)

# Our id in the metadata of the Stripe objects we create, to find them again.
METADATA_KEY = "seatmgr_subscription"
# Setups still not done after this long had their task lost (or failed): retried by
# reconciliation, at most MAX_SETUP_ATTEMPTS times.
SETUP_RETRY_AFTER = timedelta(minutes=5)
MAX_SETUP_ATTEMPTS = 8
# How far in the future the period end must be to anchor a new Stripe subscription.
ANCHOR_MARGIN = timedelta(minutes=1)


def stripe_renewal_setup_request(*, subscription: Subscription) -> StripeRenewalSetup | None:
    """Inside the transaction that activates `subscription` (or links it): record
    that its Stripe subscription is due and queue the task on commit. Nothing for one
    already linked."""
    if subscription.stripe_subscription_id:
        return None
    setup, _created = StripeRenewalSetup.objects.get_or_create(subscription=subscription)
    if setup.completed_at is None:
        _setup_task(subscription.pk)
    return setup


def _setup_task(subscription_id: int) -> None:
    from ..jobs import set_up_stripe_renewal

    outbox.enqueue(
        set_up_stripe_renewal,
        key=f"stripe-renewal-setup:{subscription_id}:{uuid.uuid4().hex}",
        kind="batch",
        subscription_id=subscription_id,
    )


@dataclass(frozen=True)
class SetupResult:
    subscription_id: int
    stripe_subscription_id: str
    created: bool  # False: found in Stripe (linked), or linked already


def stripe_subscription_set_up(*, subscription_id: int) -> SetupResult | None:
    """Create (or find and link) the Stripe customer and subscription of a live
    subscription, then mark its setup done. Safe to run again and concurrently (runs
    of one subscription are serialised by its setup row's lock): a linked
    subscription is only brought in step (price, seats, cancellation). Returns
    None for a subscription that is not live (nothing to bill). Raises
    PaymentProcessorUnavailable (retry later) or PaymentRefused (recorded on the
    setup row, then raised)."""
    subscription = Subscription.objects.select_related("plan__product", "organization").get(
        pk=subscription_id
    )
    if not subscription.is_live:
        _setup_done(subscription_id, error="not live: nothing to bill")
        return None
    waiting = _waiting_for_period(subscription)
    if waiting and not subscription.stripe_subscription_id:
        _setup_done(subscription_id, error=waiting, done=False, attempt=False)
        return None
    try:
        with transaction.atomic():
            # One setup of a subscription at a time (the setup row's lock, held through
            # the Stripe calls): a second run waits, then finds it linked.
            StripeRenewalSetup.objects.select_for_update().get_or_create(subscription_id=subscription_id)
            subscription.refresh_from_db(fields=["stripe_customer_id", "stripe_subscription_id"])
            result = _link_or_create(subscription)
    except PaymentRefused as refused:
        reason = f"Stripe refused: {refused.stripe_code}: {refused.detail}"
        if _setup_done(subscription_id, error=reason, done=False):
            outbox.send_signal(
                "billing.signals.renewal_setup_refused",
                sender="billing.StripeRenewalSetup",
                key=f"renewal-setup-refused:{subscription_id}",
                kind="email",
                subscription_id=subscription_id,
                reason=reason,
            )
        raise
    _setup_done(subscription_id)
    stripe_subscription_quantity_sync(subscription_id=subscription_id)
    if Subscription.objects.filter(pk=subscription_id, cancel_at_period_end=True).exists():
        stripe_subscription_stop_renewal(subscription_id=subscription_id)
    return result


def _waiting_for_period(subscription: Subscription) -> str:
    """Why the Stripe subscription cannot be anchored to our period end yet ("" if it
    can). Stripe wants the anchor in the future and before the price's next natural
    billing date (one interval from now): a period about to end is rolled first, and
    a period that has not started yet is set up once it has. Reconciliation retries."""
    now = timezone.now()
    if subscription.current_period_end <= now + ANCHOR_MARGIN:
        return "the period is ending: set up once it has rolled"
    if subscription.current_period_start > now:
        return f"the period starts on {subscription.current_period_start:%Y-%m-%d}: set up then"
    return ""


def _link_or_create(subscription: Subscription) -> SetupResult:
    if subscription.stripe_subscription_id:
        return SetupResult(subscription.pk, subscription.stripe_subscription_id, created=False)
    gateway = stripe_gateway()
    customer_id = _customer(subscription)
    price = stripe_price_for(plan_id=subscription.plan_id)
    found = gateway.subscription_find(
        customer_id=customer_id, metadata_key=METADATA_KEY, value=str(subscription.pk)
    )
    if found is None:
        # Our period end is the first full invoice's date (see _waiting_for_period).
        anchor = int(subscription.current_period_end.timestamp())
        quantity = renewal_seats(subscription)
        found = gateway.subscription_create(
            customer_id=customer_id,
            price_id=price.stripe_price_id,
            quantity=quantity,
            billing_cycle_anchor=anchor,
            metadata={METADATA_KEY: str(subscription.pk), "organization": subscription.organization.slug},
            idempotency_key=f"seatmgr-subscription-{subscription.pk}-renewals-{price.pk}-q{quantity}-at-{anchor}",
        )
        created = True
    else:
        created = False
    _store_link(subscription, found, created=created)
    return SetupResult(subscription.pk, found.id, created=created)


def _customer(subscription: Subscription) -> str:
    """The subscription's Stripe customer, created on first need (the id stored only
    where none is yet: a payment may have created one meanwhile, and that one wins)."""
    if subscription.stripe_customer_id:
        return subscription.stripe_customer_id
    customer_id = stripe_gateway().customer_create(
        email=subscription.admin_email,
        name=subscription.organization.name,
        metadata={METADATA_KEY: str(subscription.pk), "organization": subscription.organization.slug},
        idempotency_key=f"seatmgr-subscription-{subscription.pk}-renewals-customer",
    )
    with transaction.atomic():
        if Subscription.objects.filter(pk=subscription.pk, stripe_customer_id="").update(
            stripe_customer_id=customer_id
        ):
            audit_record(
                action="subscription.stripe_customer_created",
                organization=subscription.organization,
                actor_label="system",
                obj=subscription,
                after={"stripe_customer_id": customer_id},
            )
    subscription.refresh_from_db(fields=["stripe_customer_id"])
    return subscription.stripe_customer_id


def _store_link(
    subscription: Subscription, stripe_subscription: StripeSubscription, *, created: bool
) -> None:
    with transaction.atomic():
        locked = Subscription.objects.select_for_update(of=("self",)).get(pk=subscription.pk)
        if locked.stripe_subscription_id:
            return
        locked.stripe_subscription_id = stripe_subscription.id
        locked.save(update_fields=["stripe_subscription_id"])
        audit_record(
            action="subscription.stripe_subscription_created"
            if created
            else "subscription.stripe_subscription_linked",
            organization=subscription.organization,
            actor_label="system",
            obj=locked,
            after={
                "stripe_subscription": stripe_subscription.id,
                "stripe_customer": stripe_subscription.customer_id,
                "price": stripe_subscription.price_id,
                "quantity": stripe_subscription.quantity,
            },
        )


def _setup_done(subscription_id: int, *, error: str = "", done: bool = True, attempt: bool = True) -> bool:
    """Record how a setup run went. Returns whether `error` is new (not the one
    recorded by the run before)."""
    with transaction.atomic():
        setup, _created = StripeRenewalSetup.objects.select_for_update().get_or_create(
            subscription_id=subscription_id
        )
        new_error = bool(error) and error[:500] != setup.last_error
        setup.attempts += int(attempt)
        setup.last_error = error[:500]
        if done and setup.completed_at is None:
            setup.completed_at = timezone.now()
        setup.save()
    return new_error


def stripe_renewal_setups_retry(*, now=None, batch_size: int = 50) -> int:
    """Periodic (with reconciliation): queue again the setups whose task was lost or
    failed. Returns how many were queued."""
    now = now or timezone.now()
    due = list(
        StripeRenewalSetup.objects.filter(
            completed_at__isnull=True,
            created_at__lte=now - SETUP_RETRY_AFTER,
            attempts__lt=MAX_SETUP_ATTEMPTS,
            subscription__current_period_start__lte=now,
            subscription__current_period_end__gt=now + ANCHOR_MARGIN,
        )
        .order_by("created_at")
        .values_list("subscription_id", flat=True)[:batch_size]
    )
    for subscription_id in due:
        _setup_task(subscription_id)
    return len(due)


def _cancellation_key(subscription: Subscription) -> str:
    """An idempotency key per cancellation and per withdrawal of one: the audit event
    that recorded it (so cancel, keep, cancel again are three requests to Stripe, and a
    retry of one of them is deduplicated)."""
    event = (
        AuditEvent.objects.filter(
            action__in=("subscription.cancel_requested", "subscription.cancel_withdrawn"),
            object_type=Subscription._meta.label,
            object_id=str(subscription.pk),
        )
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    state = "cancel" if subscription.cancel_at_period_end else "renew"
    return f"seatmgr-subscription-{subscription.pk}-{state}-at-period-end-e{event or 0}"


def stripe_subscription_stop_renewal(*, subscription_id: int) -> bool:
    """Tell Stripe to end the subscription at its period end instead of renewing it
    (the admin cancelled). Safe to repeat. Returns False when there is nothing to
    tell: no Stripe subscription, or the cancellation was withdrawn meanwhile."""
    subscription = Subscription.objects.select_related("organization").get(pk=subscription_id)
    if not subscription.stripe_subscription_id or not subscription.cancel_at_period_end:
        return False
    stripe_gateway().subscription_cancel_at_period_end(
        subscription_id=subscription.stripe_subscription_id,
        idempotency_key=_cancellation_key(subscription),
    )
    with transaction.atomic():
        audit_record(
            action="subscription.stripe_renewal_stopped",
            organization=subscription.organization,
            actor_label="system",
            obj=subscription,
            after={"stripe_subscription": subscription.stripe_subscription_id},
        )
    return True


def stripe_subscription_resume_renewal(*, subscription_id: int) -> bool:
    """Tell Stripe to renew the subscription again (`cancel_at_period_end=false`: the
    admin kept it). Safe to repeat. Returns False when there is nothing to tell: no
    Stripe subscription, not live, or cancelled again meanwhile."""
    subscription = Subscription.objects.select_related("organization").get(pk=subscription_id)
    if subscription.cancel_at_period_end or not subscription.is_live:
        return False
    if not subscription.stripe_subscription_id:
        return False
    stripe_gateway().subscription_cancel_at_period_end(
        subscription_id=subscription.stripe_subscription_id,
        idempotency_key=_cancellation_key(subscription),
        cancel=False,
    )
    with transaction.atomic():
        audit_record(
            action="subscription.stripe_renewal_resumed",
            organization=subscription.organization,
            actor_label="system",
            obj=subscription,
            after={"stripe_subscription": subscription.stripe_subscription_id},
        )
    return True


def stripe_subscription_quantity_sync(*, subscription_id: int) -> bool:
    """Make the Stripe subscription bill the next period's seats (`renewal_seats`: a
    scheduled decrease counts already) at the plan's current Price, when we made one
    (a subscription linked by hand keeps its Price until then). Reads everything when
    it runs, so the newest state always wins; the idempotency key names that state
    (seats, price, seats version, the latest seat change and where it stands), so a
    retry of one update is deduplicated and a later update never replays an earlier
    one. Returns False when nothing was sent (not linked, not live, or Stripe had it)."""
    subscription = Subscription.objects.select_related("organization", "plan").get(pk=subscription_id)
    if not subscription.stripe_subscription_id or not subscription.is_live:
        return False
    quantity = renewal_seats(subscription)
    price = StripePrice.objects.filter(plan_id=subscription.plan_id, active=True).first()
    if price is not None and not price.matches(subscription.plan):
        price = stripe_price_for(plan_id=subscription.plan_id)
    latest = subscription.seat_changes.order_by("-pk").values_list("pk", "state").first() or (0, "none")
    sent = stripe_gateway().subscription_item_set(
        subscription_id=subscription.stripe_subscription_id,
        quantity=quantity,
        price_id=price.stripe_price_id if price else "",
        idempotency_key=(
            f"seatmgr-subscription-{subscription.pk}-renewal-q{quantity}-p{price.pk if price else 0}"
            f"-v{subscription.seats_version}-c{latest[0]}-{latest[1]}"
        ),
    )
    if sent:
        with transaction.atomic():
            audit_record(
                action="subscription.stripe_quantity_set",
                organization=subscription.organization,
                actor_label="system",
                obj=subscription,
                after={
                    "quantity": quantity,
                    "version": subscription.seats_version,
                    **({"stripe_price": price.stripe_price_id} if price else {}),
                },
            )
    return sent


@dataclass(frozen=True)
class LinkReport:
    subscription_id: int
    action: str  # "created", "linked", "in step", "waiting", "would …"
    detail: str


def stripe_subscription_link(*, subscription_id: int, dry_run: bool = False) -> LinkReport:
    """For `manage.py stripe_link_subscriptions`: give a live subscription from
    before renewals were set up on activation its Stripe objects, or bring a linked
    one (by hand in the admin, or earlier) in step: the plan's Price and the next
    period's seats, and our period follows Stripe's (Stripe bills it). Safe to run
    again: a subscription whose Stripe subscription exists is never given another
    (it is found by our id in its metadata). With `dry_run`, only reads."""
    subscription = Subscription.objects.select_related("plan__product", "organization").get(
        pk=subscription_id
    )
    seats = renewal_seats(subscription)
    if subscription.stripe_subscription_id:
        return _link_existing(subscription, seats=seats, dry_run=dry_run)
    waiting = _waiting_for_period(subscription)
    if waiting:
        return LinkReport(subscription.pk, "waiting", waiting)
    if dry_run:
        customer = subscription.stripe_customer_id or "a new customer"
        first_invoice = f"{subscription.current_period_end:%Y-%m-%d %H:%M} UTC"
        return LinkReport(
            subscription.pk, "would create", f"{seats} seats for {customer}, first invoice on {first_invoice}"
        )
    with transaction.atomic():
        StripeRenewalSetup.objects.get_or_create(subscription=subscription)
    result = stripe_subscription_set_up(subscription_id=subscription.pk)
    if result is None:
        return LinkReport(subscription.pk, "waiting", "not live")
    return LinkReport(
        subscription.pk,
        "created" if result.created else "linked",
        f"Stripe subscription {result.stripe_subscription_id}",
    )


def _link_existing(subscription: Subscription, *, seats: int, dry_run: bool) -> LinkReport:
    stripe_subscription = stripe_gateway().subscription_retrieve(subscription.stripe_subscription_id)
    price = StripePrice.objects.filter(plan_id=subscription.plan_id, active=True).first()
    price_in_step = (
        price is not None
        and price.matches(subscription.plan)
        and price.stripe_price_id == stripe_subscription.price_id
    )
    changes = []
    if not price_in_step:
        changes.append(f"price {stripe_subscription.price_id} → the plan's")
    if stripe_subscription.quantity != seats:
        changes.append(f"seats {stripe_subscription.quantity} → {seats}")
    if dry_run:
        return LinkReport(
            subscription.pk,
            "would update" if changes else "in step",
            ", ".join(changes) or f"Stripe subscription {stripe_subscription.id}",
        )
    if not price_in_step:
        stripe_price_for(plan_id=subscription.plan_id)
    stripe_subscription_quantity_sync(subscription_id=subscription.pk)
    with transaction.atomic():
        setup, _created = StripeRenewalSetup.objects.get_or_create(subscription=subscription)
        if setup.completed_at is None:
            setup.completed_at = timezone.now()
            setup.save(update_fields=["completed_at"])
    start, end = stripe_subscription.current_period_start, stripe_subscription.current_period_end
    if (
        start
        and end
        and periods.subscription_period_follow(
            subscription_id=subscription.pk,
            start=datetime.fromtimestamp(start, tz=UTC),
            end=datetime.fromtimestamp(end, tz=UTC),
            actor_label="Stripe",
        )
    ):
        changes.append("period follows Stripe's")
    return LinkReport(
        subscription.pk,
        "updated" if changes else "in step",
        ", ".join(changes) or f"Stripe subscription {stripe_subscription.id}",
    )
