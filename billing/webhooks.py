"""Stripe webhooks: record first, act later, once.

`stripe_event_record` (the view's one call) verifies the signature, stores the event
under its Stripe id (unique) *before* anything acts on it, and queues its processing
on commit; a second delivery of the same event finds the row and stores nothing, but
queues it again while it is still unprocessed (the process that stored it may have
stopped before queueing it, or its task been lost).
`stripe_event_process` (the task's one call) handles each event at most once, under
the event's row lock. Handlers go through `billing.services`, whose state checks make
the order of delivery irrelevant: a `payment_failed` arriving after `succeeded`
changes nothing. Event types we have no use for are stored and marked ignored.

An event rendered in another API version than the one we pin
(`gateways.stripe.STRIPE_API_VERSION`: the webhook endpoint was created at another
version, or Stripe's account default changed) may have other shapes: acting on it
blindly could misread a payment or an invoice. It is stored, flagged
(`held_for_api_version`, a filter in the Django admin), logged as a warning and held,
not processed, until a person has checked it ("Process held events" in the admin,
`stripe_events_release`). Payments are not lost meanwhile: reconciliation asks Stripe
about them at the pinned version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

import outbox
from audit.services import audit_record
from subscriptions import periods
from subscriptions import services as subscription_services
from subscriptions.models import Subscription

from . import notifications, services
from .gateways import STRIPE_API_VERSION, stripe_gateway
from .models import RenewalInvoice, StripeEvent

logger = logging.getLogger(__name__)

# Events recorded but still unprocessed after this long are processed by
# reconciliation (their task was lost); each gets at most MAX_ATTEMPTS tries.
REPROCESS_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 5
MAX_EVENTS_PER_PAYMENT = 20


def stripe_event_record(*, payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify and store one webhook delivery. Returns the event and whether this
    delivery was the first (False: a duplicate, nothing stored; queued again if it is
    still unprocessed, neither held nor given up on). Raises WebhookRejected for a bad
    signature, a stale timestamp or a payload that is not an event."""
    event = stripe_gateway().webhook_event(payload=payload, signature=signature)
    held = event.api_version != STRIPE_API_VERSION
    try:
        # Insert first: a new event (the usual case) costs one statement. Durable: the
        # event is stored for good before Stripe is answered 200.
        with transaction.atomic(durable=True):
            stored = StripeEvent.objects.create(
                stripe_id=event.id,
                type=event.type[:100],
                api_version=event.api_version[:40],
                held_for_api_version=held,
                outcome=_held_outcome(event.api_version) if held else "",
                payload=event.payload,
            )
            if not held:
                _process_task(stored.pk)
    except IntegrityError:
        stored = StripeEvent.objects.get(stripe_id=event.id)
        if stored.processed_at is None and not stored.held_for_api_version and stored.attempts < MAX_ATTEMPTS:
            # Processing twice is harmless (`stripe_event_process` does it once).
            _process_task(stored.pk)
        return stored, False
    if held:
        logger.warning(
            "Stripe event %s (%s) is in API version %r, not %s: stored and held, not processed",
            event.id,
            event.type,
            event.api_version,
            STRIPE_API_VERSION,
        )
    return stored, True


def _held_outcome(api_version: str) -> str:
    return f"held: API version {api_version or 'unknown'}, expected {STRIPE_API_VERSION}"


def stripe_events_release(*, event_ids: list[int], actor=None) -> int:
    """A person checked events held for their API version: process them now (once, as
    any event). Returns how many were released."""
    released = 0
    for event_id in event_ids:
        with transaction.atomic(durable=True):
            event = (
                StripeEvent.objects.select_for_update()
                .filter(pk=event_id, held_for_api_version=True, processed_at__isnull=True)
                .first()
            )
            if event is None:
                continue
            event.held_for_api_version = False
            event.save(update_fields=["held_for_api_version"])
            audit_record(
                action="billing.stripe_event_released",
                organization=None,
                actor=actor,
                actor_label="" if actor else "system",
                obj=event,
                after={"stripe_event": event.stripe_id, "api_version": event.api_version},
            )
        stripe_event_process(event_id=event_id)
        released += 1
    return released


def _process_task(event_id: int) -> None:
    """In the transaction that stores the event: its processing is an outbox row."""
    from .jobs import process_stripe_event

    outbox.enqueue(process_stripe_event, key=f"stripe-event:{event_id}", kind="urgent", event_id=event_id)


def stripe_event_process(*, event_id: int) -> str:
    """Handle a stored event once. A second call, or a concurrent one, does nothing.
    A handler that fails leaves the event unprocessed with its error recorded (and
    rolls back its own writes); reconciliation tries again later. Its own transaction
    (durable): the handlers' writes and `processed_at` commit together."""
    with transaction.atomic(durable=True):
        event = (
            StripeEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, processed_at__isnull=True, held_for_api_version=False)
            .first()
        )
        if event is None:
            return "already processed"
        handler = HANDLERS.get(event.type)
        event.attempts += 1
        try:
            with transaction.atomic():
                outcome = handler(event.payload["data"]["object"]) if handler else "ignored: unhandled type"
        except Exception as error:
            logger.exception("Stripe event %s (%s) failed", event.stripe_id, event.type)
            event.error = f"{type(error).__name__}: {error}"[:2000]
            event.save(update_fields=["attempts", "error"])
            return "error"
        event.processed_at = timezone.now()
        event.outcome = outcome[:300]
        event.error = ""
        event.save(update_fields=["attempts", "processed_at", "outcome", "error"])
    return outcome


def _unprocessed():
    return StripeEvent.objects.filter(
        processed_at__isnull=True, held_for_api_version=False, attempts__lt=MAX_ATTEMPTS
    )


def stripe_events_reprocess(*, now: datetime | None = None, batch_size: int = 50) -> int:
    """Periodic (with reconciliation, before its payments): process events whose task
    was lost or failed."""
    now = now or timezone.now()
    due = list(
        _unprocessed()
        .filter(received_at__lte=now - REPROCESS_AFTER)
        .order_by("received_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    for event_id in due:
        stripe_event_process(event_id=event_id)
    return len(due)


def stripe_events_process_for_payment(*, payment_id: int, payment_intent_id: str = "") -> int:
    """Process, oldest first, the stored and unprocessed PaymentIntent events of one
    payment (by the payment id in their metadata, or by its PaymentIntent), however
    recent: reconciliation calls it before it asks Stripe about the payment or sends
    its charge again. Returns how many were processed."""
    about = Q(payload__data__object__metadata__seatmgr_payment=str(payment_id))
    if payment_intent_id:
        about |= Q(payload__data__object__id=payment_intent_id)
    due = list(
        _unprocessed()
        .filter(about, type__startswith="payment_intent.")
        .order_by("received_at")
        .values_list("pk", flat=True)[:MAX_EVENTS_PER_PAYMENT]
    )
    for event_id in due:
        stripe_event_process(event_id=event_id)
    return len(due)


# --- Handlers: take the event's `data.object`, return what they did -----------------------


def _payment_intent_succeeded(intent: dict) -> str:
    payment = services.payment_succeeded(
        payment_intent_id=intent["id"],
        amount=int(intent["amount"]),
        currency=str(intent["currency"]),
        metadata=intent.get("metadata"),
        via="webhook",
    )
    return f"payment {payment.pk}: {payment.status}" if payment else "ignored: not our payment"


def _payment_intent_failed(intent: dict) -> str:
    error = intent.get("last_payment_error") or {}
    if "authentication_required" in (error.get("code"), error.get("decline_code")):
        return _payment_intent_requires_action(intent)
    payment = services.payment_failed(
        payment_intent_id=intent["id"],
        message=error.get("message") or "",
        failure_code=str(error.get("code") or ""),
        decline_code=str(error.get("decline_code") or ""),
        metadata=intent.get("metadata"),
    )
    return f"payment {payment.pk}: {payment.status}" if payment else "ignored: not our payment"


def _payment_intent_canceled(intent: dict) -> str:
    payment = services.payment_failed(
        payment_intent_id=intent["id"], message="The payment was cancelled.", metadata=intent.get("metadata")
    )
    return f"payment {payment.pk}: {payment.status}" if payment else "ignored: not our payment"


def _payment_intent_requires_action(intent: dict) -> str:
    payment = services.payment_requires_action(
        payment_intent_id=intent["id"], metadata=intent.get("metadata")
    )
    return f"payment {payment.pk}: {payment.status}" if payment else "ignored: not our payment"


def _timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _invoice_subscription_id(invoice: dict) -> str:
    # Older API versions name the subscription on the invoice, newer ones under `parent`.
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = invoice.get("subscription") or parent.get("subscription") or ""
    return subscription if isinstance(subscription, str) else subscription.get("id", "")


FINAL_INVOICE_STATUSES = (RenewalInvoice.Status.PAID, RenewalInvoice.Status.VOID)
# The Stripe subscription statuses after which nothing more will be billed: cancelled
# (by Stripe after its retries, or in its dashboard), left unpaid after dunning, or its
# first payment never made.
ENDED_STRIPE_STATUSES = ("canceled", "unpaid", "incomplete_expired")
STRIPE_ACTOR = "Stripe"
# Stripe ends a subscription cancelled at period end at that moment; its event may
# come a little before our clock says so.
PERIOD_END_SLACK = timedelta(minutes=5)


def _locked_subscription(stripe_subscription_id: str) -> Subscription | None:
    if not stripe_subscription_id:
        return None
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("organization", "plan")
        .filter(stripe_subscription_id=stripe_subscription_id)
        .first()
    )


def _renewal_invoice(invoice: dict, *, status: str) -> str:
    """An invoice of a subscription was paid, failed to be paid, waits for the
    cardholder's confirmation, was voided, or was given up on (uncollectible). Paid
    and voided are final: a failure reported after either changes nothing. Events of
    one subscription are handled one at a time (its row is locked first), so its
    standing is decided on what all its invoices say."""
    subscription = _locked_subscription(_invoice_subscription_id(invoice))
    if subscription is None:
        return "ignored: not one of our subscriptions"
    record, created = RenewalInvoice.objects.select_for_update().get_or_create(
        stripe_invoice_id=invoice["id"],
        defaults={
            "organization_id": subscription.organization_id,
            "subscription": subscription,
            "status": status,
            "amount": 0,
            "currency": invoice.get("currency") or subscription.plan.currency,
        },
    )
    if not created and record.status in FINAL_INVOICE_STATUSES:
        return f"renewal invoice {record.pk}: already {record.status}"
    # The admin is asked once per invoice: to pay it when it first goes unpaid, and to
    # confirm it when the bank first asks (a decline after that changes no request).
    previous = None if created else record.status
    ask_admin = (
        status == RenewalInvoice.Status.PAYMENT_FAILED and previous not in RenewalInvoice.UNPAID_STATUSES
    ) or (status == RenewalInvoice.Status.ACTION_REQUIRED and previous != status)
    paid = status == RenewalInvoice.Status.PAID
    record.status = status
    record.number = invoice.get("number") or ""
    record.amount = int((invoice.get("amount_paid") if paid else invoice.get("amount_due")) or 0)
    record.currency = invoice.get("currency") or record.currency
    record.period_start = _timestamp(invoice.get("period_start"))
    record.period_end = _timestamp(invoice.get("period_end"))
    record.hosted_invoice_url = (invoice.get("hosted_invoice_url") or "")[:500]
    record.save()
    audit_record(
        action=f"billing.renewal_invoice_{status}",
        organization=subscription.organization,
        actor_label=STRIPE_ACTOR,
        obj=record,
        after={"invoice": invoice["id"], "amount": record.amount, "currency": record.currency},
    )
    _renewal_standing(subscription, record, ask_admin=ask_admin)
    if paid:
        _follow_paid_period(subscription, invoice)
    return f"renewal invoice {record.pk}: {status}"


def _renewal_standing(subscription: Subscription, record: RenewalInvoice, *, ask_admin: bool) -> None:
    """An invoice that could not be paid (declined, or waiting for the cardholder to
    confirm it) makes the subscription past due, and its admin is asked to pay or
    confirm it (`ask_admin`: not again for each Stripe retry); one Stripe gave up
    on ends the subscription; the subscription is active again once none of its
    invoices is left unpaid (paid or voided)."""
    reason = f"invoice {record.stripe_invoice_id}"
    record_id = record.pk
    if record.status == RenewalInvoice.Status.UNCOLLECTIBLE:
        periods.subscription_end(
            subscription_id=subscription.pk,
            actor_label=STRIPE_ACTOR,
            reason=f"its invoice {record.number or record.stripe_invoice_id} could not be collected",
        )
        return
    if record.status in RenewalInvoice.UNPAID_STATUSES:
        subscription_services.subscription_payment_overdue(
            subscription_id=subscription.pk, actor_label=STRIPE_ACTOR, reason=reason
        )
        if ask_admin and subscription.is_live:
            notify = (
                notifications.renewal_payment_action_required
                if record.status == RenewalInvoice.Status.ACTION_REQUIRED
                else notifications.renewal_payment_failed
            )
            outbox.enqueue(
                notify,
                key=f"renewal-invoice-{record.status}:{record_id}",
                kind="email",
                renewal_invoice_id=record_id,
            )
        return
    unpaid = RenewalInvoice.objects.filter(
        subscription=subscription, status__in=RenewalInvoice.UNPAID_STATUSES
    ).exists()
    if not unpaid:
        subscription_services.subscription_payment_recovered(
            subscription_id=subscription.pk, actor_label=STRIPE_ACTOR, reason=reason
        )


def _follow_paid_period(subscription: Subscription, invoice: dict) -> None:
    """A paid invoice's subscription line says which period it paid for (the period
    after the boundary, for a renewal): ours follows it."""
    periods_paid = [
        line.get("period") or {}
        for line in (invoice.get("lines") or {}).get("data") or []
        if (line.get("parent") or {}).get("type") == "subscription_item_details"
        and not ((line.get("parent") or {}).get("subscription_item_details") or {}).get("proration")
    ]
    ends = [period for period in periods_paid if period.get("start") and period.get("end")]
    if ends:
        latest = max(ends, key=lambda period: period["end"])
        periods.subscription_period_follow(
            subscription_id=subscription.pk,
            start=_timestamp(latest["start"]),
            end=_timestamp(latest["end"]),
            actor_label=STRIPE_ACTOR,
        )


def _stripe_subscription_changed(stripe_subscription: dict) -> str:
    """`customer.subscription.created/updated`: ours follows its period (kept on its
    item in the pinned API version), and ends when Stripe will bill nothing more."""
    subscription = _locked_subscription(stripe_subscription.get("id") or "")
    if subscription is None:
        return "ignored: not one of our subscriptions"
    status = stripe_subscription.get("status") or ""
    if status in ENDED_STRIPE_STATUSES:
        return _stripe_subscription_ended(subscription, status)
    items = (stripe_subscription.get("items") or {}).get("data") or []
    item = items[0] if items else {}
    start, end = item.get("current_period_start"), item.get("current_period_end")
    if start and end:
        followed = periods.subscription_period_follow(
            subscription_id=subscription.pk,
            start=_timestamp(start),
            end=_timestamp(end),
            actor_label=STRIPE_ACTOR,
        )
        return f"subscription {subscription.pk}: " + ("period followed" if followed else "period unchanged")
    return f"subscription {subscription.pk}: nothing to follow"


def _stripe_subscription_deleted(stripe_subscription: dict) -> str:
    subscription = _locked_subscription(stripe_subscription.get("id") or "")
    if subscription is None:
        return "ignored: not one of our subscriptions"
    return _stripe_subscription_ended(subscription, "canceled")


def _stripe_subscription_ended(subscription: Subscription, status: str) -> str:
    """Stripe stopped billing it. One its admin cancelled at period end has ended as
    asked (here, or by our own roll first); any other ends now, nobody having asked."""
    if (
        subscription.cancel_at_period_end
        and subscription.current_period_end <= timezone.now() + PERIOD_END_SLACK
    ):
        ended = periods.subscription_end(
            subscription_id=subscription.pk,
            actor_label=STRIPE_ACTOR,
            reason=periods.CANCELLED_AS_ASKED,
            requested=True,
        )
        return f"subscription {subscription.pk}: " + (
            "ended as asked" if ended else f"already {subscription.status}"
        )
    reason = (
        "its payments could not be collected"
        if status in ("unpaid", "incomplete_expired") or subscription.status == Subscription.Status.PAST_DUE
        else "it was cancelled in our billing system"
    )
    ended = periods.subscription_end(subscription_id=subscription.pk, actor_label=STRIPE_ACTOR, reason=reason)
    return f"subscription {subscription.pk}: " + ("ended" if ended else f"already {subscription.status}")


HANDLERS: dict[str, Callable[[dict], str]] = {
    "payment_intent.succeeded": _payment_intent_succeeded,
    "payment_intent.payment_failed": _payment_intent_failed,
    "payment_intent.requires_action": _payment_intent_requires_action,
    "payment_intent.canceled": _payment_intent_canceled,
    "invoice.paid": lambda invoice: _renewal_invoice(invoice, status=RenewalInvoice.Status.PAID),
    "invoice.payment_succeeded": lambda invoice: _renewal_invoice(invoice, status=RenewalInvoice.Status.PAID),
    "invoice.payment_failed": lambda invoice: _renewal_invoice(
        invoice, status=RenewalInvoice.Status.PAYMENT_FAILED
    ),
    "invoice.payment_action_required": lambda invoice: _renewal_invoice(
        invoice, status=RenewalInvoice.Status.ACTION_REQUIRED
    ),
    "invoice.voided": lambda invoice: _renewal_invoice(invoice, status=RenewalInvoice.Status.VOID),
    "invoice.marked_uncollectible": lambda invoice: _renewal_invoice(
        invoice, status=RenewalInvoice.Status.UNCOLLECTIBLE
    ),
    "customer.subscription.created": _stripe_subscription_changed,
    "customer.subscription.updated": _stripe_subscription_changed,
    "customer.subscription.deleted": _stripe_subscription_deleted,
}
