"""Licence rules (writes). Every function here runs in one transaction, takes the row
locks it needs in a fixed order (subscription, then org user) and writes an audit event.

The seat limit is enforced under the subscription's row lock: the count of
assignments is read and the new one inserted while no other transaction can do the
same for that subscription, so concurrent assignments never exceed the maximum.
"""

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

import outbox
from audit.services import audit_record
from subscriptions import notifications, seat_changes
from subscriptions.errors import Conflict, InvalidInput
from subscriptions.models import Organization, SeatChange, Subscription

from .emails import MAX_LENGTH as EMAIL_MAX_LENGTH
from .emails import normalise_email
from .errors import (
    AlreadyLicensed,
    AlreadyWaitingForLicence,
    DecreaseScheduled,
    EmailAlreadyUsed,
    NoLicenceAvailable,
    StatusCannotHoldLicence,
    SubscriptionNotLive,
)
from .models import LicenceAssignment, LicenceNotice, OrgUser, PendingLicence
from .selectors import licences_offered


def _org_user_snapshot(org_user: OrgUser) -> dict:
    return {"name": org_user.name, "email": org_user.email, "status": org_user.status}


def _clean_name_and_email(name: str, email: str) -> tuple[str, str]:
    name = (name or "").strip()
    email = (email or "").strip()
    if not name:
        raise InvalidInput("Enter the user's name.", field="name")
    if len(name) > 200:
        raise InvalidInput("The name can be at most 200 characters.", field="name")
    normalised = normalise_email(email)
    if normalised is None and len(email) > EMAIL_MAX_LENGTH:
        raise InvalidInput(f"The email can be at most {EMAIL_MAX_LENGTH} characters.", field="email")
    if normalised is None:
        raise InvalidInput(f"“{email}” is not a valid email address.", field="email")
    return name, normalised


def _clean_status(status: str) -> str:
    if status not in OrgUser.Status.values:
        allowed = ", ".join(label for _, label in OrgUser.Status.choices)
        raise InvalidInput(f"Unknown status “{status}”. Use one of: {allowed}.", field="status")
    return status


def _email_taken(organization: Organization, email: str, exclude_pk: int | None = None) -> bool:
    qs = OrgUser.objects.filter(organization=organization).annotate(e=Lower("email"))
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.filter(e=email.lower()).exists()


def _lock_subscriptions(organization: Organization, subscription_ids: Iterable[int]):
    ids = sorted(set(subscription_ids))
    subscriptions = list(
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan__product")
        .filter(organization=organization, pk__in=ids)
        .order_by("pk")
    )
    if len(subscriptions) != len(ids):
        raise InvalidInput("One of the chosen subscriptions does not exist.", field="subscriptions")
    return subscriptions


def _assign_locked(*, subscription: Subscription, org_user: OrgUser) -> LicenceAssignment:
    """Assign with the subscription row already locked by this transaction."""
    if not subscription.is_live:
        raise SubscriptionNotLive(subscription)
    if not org_user.can_hold_licence:
        raise StatusCannotHoldLicence(org_user)
    if LicenceAssignment.objects.filter(subscription=subscription, org_user=org_user).exists():
        raise AlreadyLicensed(org_user, subscription)
    in_use = LicenceAssignment.objects.filter(subscription=subscription).count()
    if in_use >= subscription.quantity:
        raise NoLicenceAvailable(subscription)
    # An approved decrease waiting for the period end: a licence given now would not
    # be there after it (and would hold the decrease back).
    scheduled = SeatChange.objects.filter(subscription=subscription, state=SeatChange.State.SCHEDULED).first()
    if in_use >= seat_changes.licence_ceiling(subscription, scheduled):
        raise DecreaseScheduled(subscription, scheduled)
    return LicenceAssignment.objects.create(
        organization_id=subscription.organization_id, subscription=subscription, org_user=org_user
    )


def org_user_create(
    *,
    organization: Organization,
    name: str,
    email: str,
    status: str = OrgUser.Status.ACTIVE,
    subscription_ids: Iterable[int] | None = None,
    actor=None,
    actor_label: str = "",
    request=None,
) -> OrgUser:
    """Create an org user and give them a licence of each chosen subscription; when none
    are chosen (None, not an empty list), an Active or Locked user gets a licence of
    every live product (`selectors.licences_offered`: an Active user is a user with a
    licence, as the Add-user form ticks them), any other status none.

    All or nothing: if any licence cannot be given (none available, status that
    cannot hold one), the user is not created either.
    """
    name, email = _clean_name_and_email(name, email)
    status = _clean_status(status)
    if subscription_ids is None:
        subscription_ids = (
            licences_offered(organization=organization) if status in OrgUser.LICENSED_STATUSES else []
        )
    subscription_ids = list(subscription_ids)
    with transaction.atomic():
        subscriptions = _lock_subscriptions(organization, subscription_ids)
        if _email_taken(organization, email):
            raise EmailAlreadyUsed(email)
        try:
            with transaction.atomic():
                org_user = OrgUser.objects.create(
                    organization=organization, name=name, email=email, status=status
                )
        except IntegrityError:
            raise EmailAlreadyUsed(email) from None
        for subscription in subscriptions:
            _assign_locked(subscription=subscription, org_user=org_user)
        audit_record(
            action="org_user.created",
            organization=organization,
            actor=actor,
            actor_label=actor_label,
            obj=org_user,
            after={
                **_org_user_snapshot(org_user),
                "licences": [s.plan.product.code for s in subscriptions],
            },
            request=request,
        )
    return org_user


def org_user_update(
    *,
    org_user: OrgUser,
    name: str | None = None,
    email: str | None = None,
    status: str | None = None,
    subscription_ids: Iterable[int] | None = None,
    actor=None,
    actor_label: str = "",
    request=None,
) -> OrgUser:
    """Change a user's name, email or status.

    - A status that cannot hold a licence frees every licence the user held, in the
      same transaction, and remembers which (`licences_held_before`).
    - Making a user who holds none (Inactive, Room…) Active or Locked gives them a
      licence of each of `subscription_ids`, by default `selectors.licences_offered`
      (what they held before). All or nothing, under the subscriptions' row locks: if
      one is not available (NoLicenceAvailable, with the increase to offer) nothing
      changes, so a user never becomes Active without the licences they were given.
      `subscription_ids` means nothing for any other change.
    """
    current = (
        OrgUser.objects.filter(pk=org_user.pk).only("status", "organization", "licences_held_before").get()
    )
    new_status = current.status if status is None else _clean_status(status)
    activating = new_status in OrgUser.LICENSED_STATUSES and not current.can_hold_licence
    if activating:
        chosen = list(
            licences_offered(organization=current.organization, org_user=current)
            if subscription_ids is None
            else subscription_ids
        )
    else:
        chosen = []
    with transaction.atomic():
        subscriptions = _lock_subscriptions(current.organization, chosen)
        org_user = OrgUser.objects.select_for_update().get(pk=org_user.pk)
        before = _org_user_snapshot(org_user)
        was_licensed = org_user.can_hold_licence
        if activating != (new_status in OrgUser.LICENSED_STATUSES and not was_licensed):
            # Their status changed between the read above and the lock.
            raise Conflict(f"{org_user.name} was changed at the same time: look again and retry.")
        new_name, new_email = _clean_name_and_email(
            org_user.name if name is None else name, org_user.email if email is None else email
        )
        if new_email != org_user.email.lower() and _email_taken(
            org_user.organization, new_email, exclude_pk=org_user.pk
        ):
            raise EmailAlreadyUsed(new_email)
        org_user.name, org_user.email, org_user.status = new_name, new_email, new_status
        fields = ["name", "email", "status", "updated_at"]
        freed, given = [], []
        if not org_user.can_hold_licence:
            held = list(
                LicenceAssignment.objects.filter(org_user=org_user)
                .order_by("subscription_id")
                .values_list("subscription_id", "subscription__plan__product__code")
            )
            freed = [code for _, code in held]
            if was_licensed:
                org_user.licences_held_before = [pk for pk, _ in held]
                fields.append("licences_held_before")
            LicenceAssignment.objects.filter(org_user=org_user).delete()
            # Nobody waits for a licence they could not hold.
            PendingLicence.objects.filter(org_user=org_user).delete()
        org_user.save(update_fields=fields)
        if org_user.can_hold_licence and not was_licensed:
            for subscription in subscriptions:
                _assign_locked(subscription=subscription, org_user=org_user)
                given.append(subscription.plan.product.code)
        after = _org_user_snapshot(org_user)
        if after != before:
            audit_record(
                action="org_user.updated",
                organization=org_user.organization,
                actor=actor,
                actor_label=actor_label,
                obj=org_user,
                before=before,
                after={**after, "licences_freed": freed, "licences_given": given},
                request=request,
            )
    return org_user


def org_user_delete(*, org_user: OrgUser, actor=None, actor_label: str = "", request=None) -> None:
    """Delete a user; their licences are freed with them."""
    with transaction.atomic():
        org_user = OrgUser.objects.select_for_update().get(pk=org_user.pk)
        freed = list(
            LicenceAssignment.objects.filter(org_user=org_user).values_list(
                "subscription__plan__product__code", flat=True
            )
        )
        audit_record(
            action="org_user.deleted",
            organization=org_user.organization,
            actor=actor,
            actor_label=actor_label,
            obj=org_user,
            before={**_org_user_snapshot(org_user), "licences": freed},
            request=request,
        )
        org_user.delete()


def licence_assign(
    *,
    subscription: Subscription,
    org_user: OrgUser,
    actor=None,
    actor_label: str = "",
    request=None,
) -> LicenceAssignment:
    """Give `org_user` one licence of `subscription`.

    Raises NoLicenceAvailable when all seats are in use, StatusCannotHoldLicence
    for users who are not Active or Locked, AlreadyLicensed when they have one.
    """
    if subscription.organization_id != org_user.organization_id:
        raise InvalidInput("That user is not in this subscription's organization.")
    with transaction.atomic():
        subscription = _lock_subscriptions(subscription.organization, [subscription.pk])[0]
        org_user = OrgUser.objects.select_for_update().get(pk=org_user.pk)
        assignment = _assign_locked(subscription=subscription, org_user=org_user)
        audit_record(
            action="licence.assigned",
            organization=subscription.organization,
            actor=actor,
            actor_label=actor_label,
            obj=assignment,
            after={"user": org_user.email, "product": subscription.plan.product.code},
            request=request,
        )
    return assignment


def licence_remove(
    *,
    subscription: Subscription,
    org_user: OrgUser,
    actor=None,
    actor_label: str = "",
    request=None,
) -> None:
    """Take `org_user`'s licence of `subscription` back. Removing a licence the user
    does not hold is refused, so a double submit shows a clear message."""
    with transaction.atomic():
        deleted, _ = LicenceAssignment.objects.filter(subscription=subscription, org_user=org_user).delete()
        if not deleted:
            raise InvalidInput(f"{org_user.name} does not hold a {subscription.plan.product.name} licence.")
        audit_record(
            action="licence.removed",
            organization=subscription.organization,
            actor=actor,
            actor_label=actor_label,
            obj=org_user,
            before={"user": org_user.email, "product": subscription.plan.product.code},
            request=request,
        )


def licences_free_for_decrease(*, seat_change) -> int:
    """Free the licences a decrease named (`licences_to_free`), inside the transaction
    that applies it, so the licences in use never exceed the new maximum. Users who
    no longer hold the licence are skipped; running it twice frees nothing more."""
    if seat_change.is_increase or not seat_change.licences_to_free:
        return 0
    assignments = LicenceAssignment.objects.filter(
        subscription_id=seat_change.subscription_id, org_user_id__in=seat_change.licences_to_free
    ).select_related("org_user")
    freed = [a.org_user.email for a in assignments]
    assignments.delete()
    if freed:
        audit_record(
            action="licences.freed_by_decrease",
            organization=seat_change.subscription.organization,
            actor_label="system",
            obj=seat_change,
            after={"users": freed},
        )
    return len(freed)


# --- Waiting for a licence that is being bought ------------------------------------------


def pending_licence_add(
    *,
    org_user: OrgUser,
    subscription: Subscription,
    seat_change: SeatChange,
    actor=None,
    actor_label: str = "",
    request=None,
) -> PendingLicence:
    """Record that `org_user` gets a licence of `subscription` once `seat_change` (an
    open increase of that subscription) is applied. Refuses a user who cannot hold a
    licence, already holds this one or already waits for it."""
    if not (
        org_user.organization_id == subscription.organization_id
        and seat_change.subscription_id == subscription.pk
        and seat_change.is_open
        and seat_change.is_increase
    ):
        raise InvalidInput("That seat change does not add licences to this subscription.")
    with transaction.atomic():
        subscription = _lock_subscriptions(subscription.organization, [subscription.pk])[0]
        org_user = OrgUser.objects.select_for_update().get(pk=org_user.pk)
        if not org_user.can_hold_licence:
            raise StatusCannotHoldLicence(org_user)
        if LicenceAssignment.objects.filter(subscription=subscription, org_user=org_user).exists():
            raise AlreadyLicensed(org_user, subscription)
        try:
            with transaction.atomic():
                pending = PendingLicence.objects.create(
                    organization_id=subscription.organization_id,
                    org_user=org_user,
                    subscription=subscription,
                    seat_change=seat_change,
                )
        except IntegrityError:
            raise AlreadyWaitingForLicence(org_user, subscription) from None
        audit_record(
            action="licence.pending",
            organization=subscription.organization,
            actor=actor,
            actor_label=actor_label,
            obj=org_user,
            after={
                "user": org_user.email,
                "product": subscription.plan.product.code,
                "seat_change": seat_change.number,
            },
            request=request,
        )
    return pending


def pending_licences_give(*, seat_change) -> int:
    """Give the licences waiting for `seat_change`, inside the transaction that applies
    it (the subscription row is locked there, the new quantity set). Each waiting row is
    deleted as it is handled, so a second call gives nothing more; a user who can no
    longer hold the licence, or already holds it, is skipped. Returns how many were
    given."""
    waiting = PendingLicence.objects.filter(seat_change_id=seat_change.pk)
    if not waiting.exists():  # most changes: a cheap query instead of the joined one below
        return 0
    pending = list(
        waiting.select_for_update()
        .select_related("org_user", "subscription__plan__product", "subscription__organization")
        .order_by("pk")
    )
    if not pending:
        return 0
    given, skipped = [], []
    for row in pending:
        subscription, org_user = row.subscription, row.org_user
        try:
            _assign_locked(subscription=subscription, org_user=org_user)
        except (AlreadyLicensed, StatusCannotHoldLicence, NoLicenceAvailable, SubscriptionNotLive) as error:
            skipped.append({"user": org_user.email, "reason": error.code})
        else:
            given.append(org_user.email)
    PendingLicence.objects.filter(pk__in=[row.pk for row in pending]).delete()
    audit_record(
        action="licences.given_by_increase",
        organization=pending[0].subscription.organization,
        actor_label="system",
        obj=seat_change,
        after={"users": given, "skipped": skipped},
    )
    return len(given)


def pending_licences_drop(*, seat_change) -> int:
    """The change buying their licences was cancelled or expired: the waiting users stay
    without a licence. Inside the closing transaction: deletes the waiting rows, leaves a
    notice for Manage licences and, on commit, emails the subscription's admin and the
    person who asked for the change."""
    pending = list(
        PendingLicence.objects.filter(seat_change_id=seat_change.pk)
        .select_related("org_user")
        .order_by("org_user__name", "pk")
    )
    if not pending:
        return 0
    subscription = (
        Subscription.objects.select_related("plan__product", "organization")
        .filter(pk=seat_change.subscription_id)
        .get()
    )
    names = [row.org_user.name for row in pending]
    what = "cancelled" if seat_change.state == SeatChange.State.CANCELLED else "expired"
    text = (
        f"Seat change {seat_change.number} was {what}, so {', '.join(names)} "
        f"did not get a {subscription.plan.product.name} licence: "
        "free a licence or increase your seats to give them one."
    )
    PendingLicence.objects.filter(pk__in=[row.pk for row in pending]).delete()
    LicenceNotice.objects.create(organization_id=subscription.organization_id, text=text[:1000])
    audit_record(
        action="licences.pending_dropped",
        organization=subscription.organization,
        actor_label="system",
        obj=seat_change,
        after={"users": [row.org_user.email for row in pending], "state": seat_change.state},
    )
    recipients = [subscription.admin_email]
    requested_by = getattr(seat_change, "requested_by", None)
    if requested_by is not None and requested_by.email:
        recipients.append(requested_by.email)
    outbox.enqueue(
        pending_licences_dropped_email,
        key=f"pending-licences-dropped:{seat_change.pk}",
        kind="email",
        seat_change_id=seat_change.pk,
        recipients=recipients,
        names=names,
        text=text,
        what=what,
    )
    return len(pending)


def pending_licences_dropped_email(
    *, seat_change_id: int, recipients: list[str], names: list[str], text: str, what: str
) -> None:
    """Outbox job: the waiting users of a cancelled or expired change got no licence."""
    seat_change = SeatChange.objects.select_related(
        "subscription__plan__product", "subscription__organization"
    ).get(pk=seat_change_id)
    subscription = seat_change.subscription
    notifications.send(
        to=recipients,
        subject=(
            f"No {notifications.product_name(subscription)} licence for "
            f"{names[0] if len(names) == 1 else f'{len(names)} users'}: "
            f"seat change {seat_change.number} was {what}"
        ),
        template="pending_licences_dropped",
        context={"text": text, "names": names, "seat_change": seat_change, "subscription": subscription},
    )


def licence_notices_take(*, organization: Organization) -> list[str]:
    """The notices an admin has not read yet, marked read (shown once)."""
    with transaction.atomic():
        notices = list(
            LicenceNotice.objects.select_for_update(skip_locked=True).filter(
                organization=organization, seen_at__isnull=True
            )
        )
        if notices:
            LicenceNotice.objects.filter(pk__in=[n.pk for n in notices]).update(seen_at=timezone.now())
    return [n.text for n in notices]
