"""Unique links: capability tokens emailed to a subscription's admin, and signing
links emailed to the person named to sign one seat change.

A token is 256 random bits (`secrets.token_urlsafe(32)`); only its SHA-256 is stored.
A link does one thing (its `action`) for one subscription, works without signing
in, and stops working when revoked. Rotating revokes every active link of the
subscription, signing links included, and re-sends the ones still needed. Sending the
links again issues new ones and leaves the old ones working.
"""

import hmac
import logging
import secrets
import threading

from django.conf import settings
from django.core.cache import cache
from django.db import connections, transaction
from django.urls import reverse
from django.utils import timezone

import outbox
from audit.services import audit_record

from . import notifications, signals
from .errors import Conflict, DomainError
from .models import CapabilityLink, SeatChange, Subscription, hash_secret

logger = logging.getLogger(__name__)

LINK_ACTIONS_EMAILED = (CapabilityLink.Action.CHANGE_SEATS, CapabilityLink.Action.CANCEL)

# "Retrieve my links": at most this many requests per hour, per address and per IP.
RETRIEVE_LIMIT_PER_ADDRESS = 3
RETRIEVE_LIMIT_PER_IP = 10
RETRIEVE_WINDOW_SECONDS = 3600


class RateLimited(DomainError):
    code = "rate_limited"
    status_code = 429


def link_url(raw_token: str) -> str:
    return settings.SITE_URL + reverse("portal:link", args=[raw_token])


def link_issue(
    *,
    subscription: Subscription,
    action: str,
    email: str,
    seat_change: SeatChange | None = None,
    actor=None,
    actor_label: str = "system",
    request=None,
) -> tuple[CapabilityLink, str]:
    """Create a link and return it with its raw token (never stored: put it in the
    email now or lose it)."""
    raw = secrets.token_urlsafe(32)
    link = CapabilityLink.objects.create(
        organization_id=subscription.organization_id,
        subscription=subscription,
        action=action,
        seat_change=seat_change,
        email=email.strip().lower(),
        token_hash=hash_secret(raw),
    )
    audit_record(
        action="link.issued",
        organization=subscription.organization,
        actor=actor,
        actor_label="" if actor else actor_label,
        obj=link,
        after={"action": action, "email": link.email},
        request=request,
    )
    return link, raw


def link_resolve(raw_token: str, *, actions=None) -> CapabilityLink | None:
    """The active link for `raw_token` (of one of `actions`), or None. Unknown,
    revoked and wrong-action tokens are indistinguishable to the caller."""
    if not raw_token or len(raw_token) > 100:
        return None
    token_hash = hash_secret(raw_token)
    link = (
        CapabilityLink.objects.select_related(
            "subscription__plan__product", "subscription__organization", "seat_change"
        )
        .filter(token_hash=token_hash, revoked_at__isnull=True)
        .first()
    )
    if link is None or not hmac.compare_digest(link.token_hash, token_hash):
        return None
    if actions is not None and link.action not in actions:
        return None
    return link


def link_active(*, pk: int) -> CapabilityLink | None:
    """The link with id `pk` if it is still active, read from its row now: what a
    session that opened the link is checked against on every request, so that revoking
    a link takes effect at once."""
    return (
        CapabilityLink.objects.select_related(
            "subscription__plan__product", "subscription__organization", "seat_change"
        )
        .filter(pk=pk, revoked_at__isnull=True)
        .first()
    )


def link_touch(link: CapabilityLink) -> None:
    CapabilityLink.objects.filter(pk=link.pk).update(last_used_at=timezone.now())


def link_revoke(*, link: CapabilityLink, actor=None, actor_label="", request=None) -> None:
    with transaction.atomic():
        updated = CapabilityLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated:
            audit_record(
                action="link.revoked",
                organization=link.subscription.organization,
                actor=actor,
                actor_label=actor_label,
                obj=link,
                request=request,
            )


def links_email(
    *, subscription: Subscription, subject: str, actor=None, actor_label="system", request=None
) -> dict[str, str]:
    """Issue a fresh change-seats link and cancel link and email them to the admin."""
    with transaction.atomic():
        urls = {}
        for action in LINK_ACTIONS_EMAILED:
            link, raw = link_issue(
                subscription=subscription,
                action=action,
                email=subscription.admin_email,
                actor=actor,
                actor_label=actor_label,
                request=request,
            )
            urls[action] = link_url(raw)
        outbox.enqueue(
            notifications.subscription_links,
            key=f"subscription-links:{link.pk}",
            kind="email",
            subscription_id=subscription.pk,
            links=urls,
            subject=subject,
        )
    return urls


def signing_link_send(*, seat_change: SeatChange, actor=None, actor_label="", request=None) -> CapabilityLink:
    """Issue a signing link for the person named to sign `seat_change` and email it to
    them on commit. The link signs that one change, as that address."""
    subscription = seat_change.subscription
    link, raw = link_issue(
        subscription=subscription,
        action=CapabilityLink.Action.SIGN,
        email=seat_change.signer_email,
        seat_change=seat_change,
        actor=actor,
        actor_label=actor_label or f"seat change {seat_change.number}",
        request=request,
    )
    outbox.enqueue(
        notifications.sign_request,
        key=f"sign-request:{link.pk}",
        kind="email",
        seat_change_id=seat_change.pk,
        url=link_url(raw),
    )
    return link


def links_rotate(*, subscription: Subscription, actor=None, actor_label="", request=None) -> dict[str, str]:
    """Revoke every active link of the subscription and email new ones: the admin's
    links, and the signing links of its seat changes too (those emailed to a named
    signer, and those of payments). A change still waiting for its named signer gets
    them a fresh signing link by email; the admin reaches everything else (paying
    included) with their new link to change seats."""
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan__product", "organization")
            .get(pk=subscription.pk)
        )
        now = timezone.now()
        revoked = CapabilityLink.objects.filter(subscription=subscription, revoked_at__isnull=True).update(
            revoked_at=now
        )
        waiting = (
            subscription.seat_changes.filter(state=SeatChange.State.DRAFT)
            .exclude(signer_email="")
            .select_related("subscription__plan__product", "subscription__organization")
        )
        resent = []
        for seat_change in waiting:
            signing_link_send(seat_change=seat_change, actor=actor, actor_label=actor_label, request=request)
            resent.append(seat_change.number)
        audit_record(
            action="links.rotated",
            organization=subscription.organization,
            actor=actor,
            actor_label=actor_label,
            obj=subscription,
            after={"revoked": revoked, "signing_links_resent": resent},
            request=request,
        )
        return links_email(
            subscription=subscription,
            subject=f"Your new {notifications.product_name(subscription)} links",
            actor=actor,
            actor_label=actor_label,
            request=request,
        )


def _count_attempt(key: str, limit: int) -> bool:
    """Count one attempt in the current window; False once over `limit`."""
    cache.add(key, 0, timeout=RETRIEVE_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=RETRIEVE_WINDOW_SECONDS)
        count = 1
    return count <= limit


def links_retrieve(*, email: str, ip: str | None) -> None:
    """ "Retrieve my links", the part the request waits for: counts the attempt against
    the per-IP and per-address limits (RateLimited past either) and queues the task
    `send_retrieved_links`, which looks the address up and emails the links. The
    request never looks the address up, so it answers alike and as fast whether or
    not the address is known."""
    from .tasks import send_retrieved_links  # the tasks module imports the services

    email = (email or "").strip().lower()
    ip_ok = _count_attempt(f"links-retrieve:ip:{ip or 'unknown'}", RETRIEVE_LIMIT_PER_IP)
    address_ok = _count_attempt(f"links-retrieve:email:{hash_secret(email)}", RETRIEVE_LIMIT_PER_ADDRESS)
    if not (ip_ok and address_ok):
        raise RateLimited(
            "Too many requests for links. Please wait an hour and try again, or contact your account manager."
        )
    _queue_without_waiting(send_retrieved_links, email)


def _queue_without_waiting(task, *args) -> None:
    """Queue `task` so that the request does not wait for it. The embedded default runs
    tasks in-process, inside the request (eager): there the task gets a thread of its
    own instead, so the answer does not wait for it either."""
    if not task.app.conf.task_always_eager:
        task.delay(*args)
        return

    def run() -> None:
        try:
            task.delay(*args)
        except Exception:
            logger.exception("%s failed", task.name)
        finally:
            connections.close_all()  # this thread's own connections

    threading.Thread(target=run, name=task.name, daemon=True).start()


def links_retrieve_send(*, email: str) -> int:
    """If `email` is the admin address of live subscriptions, email it fresh links for
    each; returns how many. Run by the task `send_retrieved_links`, never inside the
    request that asked (see `links_retrieve`)."""
    email = (email or "").strip().lower()
    subscriptions = Subscription.objects.select_related("plan__product", "organization").filter(
        admin_email__iexact=email,
        status__in=(Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE),
    )
    sent = 0
    for subscription in subscriptions:
        links_email(
            subscription=subscription,
            subject=f"Your {notifications.product_name(subscription)} links",
            actor_label=f"retrieve links ({email})",
        )
        sent += 1
    return sent


def subscription_activate(*, subscription: Subscription, actor=None, request=None) -> Subscription:
    """pending → active; emails the admin "<Product> is now active" with the links."""
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan__product", "organization")
            .get(pk=subscription.pk)
        )
        if subscription.status != Subscription.Status.PENDING:
            raise Conflict(f"{subscription} is {subscription.get_status_display().lower()}, not pending.")
        subscription.status = Subscription.Status.ACTIVE
        subscription.activated_at = timezone.now()
        subscription.save(update_fields=["status", "activated_at"])
        audit_record(
            action="subscription.activated",
            organization=subscription.organization,
            actor=actor,
            obj=subscription,
            after={"status": subscription.status},
            request=request,
        )
        links_email(
            subscription=subscription,
            subject=f"{notifications.product_name(subscription)} is now active",
            actor=actor,
            request=request,
        )
        signals.subscription_activated.send(Subscription, subscription=subscription)
    return subscription
