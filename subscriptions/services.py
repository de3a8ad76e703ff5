"""Subscription writes."""

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
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan__product", "organization")
            .get(pk=subscription.pk)
        )
        if not subscription.is_live:
            raise Conflict(
                f"This subscription is {subscription.get_status_display().lower()}: "
                "there is nothing to cancel."
            )
        if subscription.cancel_at_period_end:
            return subscription
        subscription.cancel_at_period_end = True
        subscription.save(update_fields=["cancel_at_period_end"])
        event = audit_record(
            action="subscription.cancel_requested",
            organization=subscription.organization,
            actor=actor,
            actor_label=actor_label,
            obj=subscription,
            after={"cancel_at": subscription.current_period_end.isoformat()},
            request=request,
        )
        outbox.enqueue(
            notifications.subscription_cancelled,
            # One per cancellation: cancel, keep and cancel again is two emails.
            key=f"subscription-cancelled:{subscription.pk}:event-{event.pk}",
            kind="email",
            subscription_id=subscription.pk,
        )
        outbox.send_signal(
            "subscriptions.signals.subscription_cancel_requested",
            sender="subscriptions.Subscription",
            key=f"subscription-cancel-requested:{subscription.pk}:event-{event.pk}",
            kind="batch",
            subscription_id=subscription.pk,
        )
    return subscription


def subscription_keep(
    *, subscription: Subscription, actor=None, actor_label="", request=None
) -> Subscription:
    """Withdraw a cancellation at period end ("Keep my subscription"), until that period
    end: the subscription renews again, and whoever bills the renewals is told
    (`subscription_cancel_withdrawn`, through the outbox). Audited, and the admin is emailed.
    Asking twice, or for a subscription not cancelled, changes nothing and sends
    nothing; a subscription that has already ended cannot be kept (Conflict)."""
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan__product", "organization")
            .get(pk=subscription.pk)
        )
        if not subscription.is_live:
            raise Conflict(
                f"This subscription is {subscription.get_status_display().lower()}: "
                "it can no longer be kept. Contact your account manager to start a new one."
            )
        if not subscription.cancel_at_period_end:
            return subscription
        subscription.cancel_at_period_end = False
        subscription.save(update_fields=["cancel_at_period_end"])
        event = audit_record(
            action="subscription.cancel_withdrawn",
            organization=subscription.organization,
            actor=actor,
            actor_label=actor_label,
            obj=subscription,
            before={"cancel_at": subscription.current_period_end.isoformat()},
            after={"renews_on": subscription.current_period_end.isoformat()},
            request=request,
        )
        outbox.enqueue(
            notifications.subscription_kept,
            key=f"subscription-kept:{subscription.pk}:event-{event.pk}",
            kind="email",
            subscription_id=subscription.pk,
        )
        outbox.send_signal(
            "subscriptions.signals.subscription_cancel_withdrawn",
            sender="subscriptions.Subscription",
            key=f"subscription-cancel-withdrawn:{subscription.pk}:event-{event.pk}",
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
