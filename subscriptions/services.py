"""Subscription writes."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

import outbox
from audit.services import audit_record

from . import notifications
from .errors import Conflict, InvalidInput, NotFound
from .models import ApiKey, Organization, Subscription, hash_secret


def api_key_create(*, organization: Organization, name: str, actor=None, request=None) -> tuple[ApiKey, str]:
    """Create an API key; returns the key and its raw value, which is never stored
    and cannot be shown again."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Give the key a name, e.g. the app or org that will use it.", field="name")
    if len(name) > 100:
        raise InvalidInput("The name can be at most 100 characters.", field="name")
    raw = ApiKey.generate_raw()
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            organization=organization,
            name=name,
            prefix=raw[:10],
            key_hash=hash_secret(raw),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            action="api_key.created",
            organization=organization,
            actor=actor,
            obj=api_key,
            after={"name": name, "prefix": api_key.prefix},
            request=request,
        )
    return api_key, raw


def api_key_revoke(*, organization: Organization, pk: int, actor=None, request=None) -> ApiKey:
    """Revoke a key of `organization`. Takes effect for the next request (the key
    cache is invalidated on commit). Revoking twice is harmless."""
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().filter(organization=organization, pk=pk).first()
        if api_key is None:
            raise NotFound("That API key does not exist.")
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
            audit_record(
                action="api_key.revoked",
                organization=organization,
                actor=actor,
                obj=api_key,
                request=request,
            )
    return api_key


def subscription_cancel(
    *, subscription: Subscription, actor=None, actor_label="", request=None
) -> Subscription:
    """Cancel at the end of the current period: nothing more is charged, licences keep
    working until then. Asking twice changes nothing and sends no second email."""
    return _cancel_at_period_end(subscription, _CANCEL, actor=actor, actor_label=actor_label, request=request)


def subscription_keep(
    *, subscription: Subscription, actor=None, actor_label="", request=None
) -> Subscription:
    """Withdraw a cancellation at period end ("Keep my subscription"), until that period
    end: the subscription renews again, and whoever bills the renewals is told
    (`subscription_cancel_withdrawn`, through the outbox). Audited, and the admin is emailed.
    Asking twice, or for a subscription not cancelled, changes nothing and sends
    nothing; a subscription that has already ended cannot be kept (Conflict)."""
    return _cancel_at_period_end(subscription, _KEEP, actor=actor, actor_label=actor_label, request=request)


@dataclass(frozen=True)
class _PeriodEndChoice:
    """Cancelling at period end, or withdrawing it: what each writes besides the flag."""

    cancel: bool
    refusal: str  # after "This subscription is <status>: "
    action: str
    email: Callable  # a job of `notifications`
    email_key: str
    signal: str  # in `subscriptions.signals`
    signal_key: str


_CANCEL = _PeriodEndChoice(
    cancel=True,
    refusal="there is nothing to cancel.",
    action="subscription.cancel_requested",
    email=notifications.subscription_cancelled,
    email_key="subscription-cancelled",
    signal="subscription_cancel_requested",
    signal_key="subscription-cancel-requested",
)
_KEEP = _PeriodEndChoice(
    cancel=False,
    refusal="it can no longer be kept. Contact your account manager to start a new one.",
    action="subscription.cancel_withdrawn",
    email=notifications.subscription_kept,
    email_key="subscription-kept",
    signal="subscription_cancel_withdrawn",
    signal_key="subscription-cancel-withdrawn",
)


def _cancel_at_period_end(
    subscription: Subscription, choice: _PeriodEndChoice, *, actor, actor_label, request
) -> Subscription:
    """Under the subscription's lock: refuse one that is no longer live, do nothing when
    the flag is already as asked, else set it, audit it, and queue the admin's email and
    the signal in the same transaction. Their keys name the audit event: cancel, keep
    and cancel again is two emails of each kind."""
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan__product", "organization")
            .get(pk=subscription.pk)
        )
        if not subscription.is_live:
            status = subscription.get_status_display().lower()
            raise Conflict(f"This subscription is {status}: {choice.refusal}")
        if subscription.cancel_at_period_end == choice.cancel:
            return subscription
        subscription.cancel_at_period_end = choice.cancel
        subscription.save(update_fields=["cancel_at_period_end"])
        period_end = subscription.current_period_end.isoformat()
        event = audit_record(
            action=choice.action,
            organization=subscription.organization,
            actor=actor,
            actor_label=actor_label,
            obj=subscription,
            before=None if choice.cancel else {"cancel_at": period_end},
            after={"cancel_at": period_end} if choice.cancel else {"renews_on": period_end},
            request=request,
        )
        outbox.enqueue(
            choice.email,
            key=f"{choice.email_key}:{subscription.pk}:event-{event.pk}",
            kind="email",
            subscription_id=subscription.pk,
        )
        outbox.send_signal(
            f"subscriptions.signals.{choice.signal}",
            sender="subscriptions.Subscription",
            key=f"{choice.signal_key}:{subscription.pk}:event-{event.pk}",
            kind="batch",
            subscription_id=subscription.pk,
        )
    return subscription


def subscription_payment_overdue(*, subscription_id: int, actor_label: str, reason: str) -> bool:
    """A renewal could not be paid: active → past due ("Payment overdue"). Licences keep
    working. Returns whether the status changed (False when it was not active)."""
    return _move_status(
        subscription_id,
        Subscription.Status.ACTIVE,
        Subscription.Status.PAST_DUE,
        action="subscription.past_due",
        actor_label=actor_label,
        reason=reason,
    )


def subscription_payment_recovered(*, subscription_id: int, actor_label: str, reason: str) -> bool:
    """What was overdue is paid: past due → active. Returns whether the status changed."""
    return _move_status(
        subscription_id,
        Subscription.Status.PAST_DUE,
        Subscription.Status.ACTIVE,
        action="subscription.payment_recovered",
        actor_label=actor_label,
        reason=reason,
    )


def _move_status(
    subscription_id: int, frm: str, to: str, *, action: str, actor_label: str, reason: str
) -> bool:
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("organization")
            .filter(pk=subscription_id, status=frm)
            .first()
        )
        if subscription is None:
            return False
        subscription.status = to
        subscription.save(update_fields=["status"])
        audit_record(
            action=action,
            organization=subscription.organization,
            actor_label=actor_label,
            obj=subscription,
            before={"status": frm},
            after={"status": to, "reason": reason},
        )
    return True
