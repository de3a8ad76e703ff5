"""Licence rules (writes). Every function here runs in one transaction, takes the row
locks it needs in a fixed order (subscription, then org user) and writes an audit event.

The seat limit is enforced under the subscription's row lock: the count of
assignments is read and the new one inserted while no other transaction can do the
same for that subscription, so concurrent assignments never exceed the maximum.
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from audit.services import audit_record
from subscriptions.errors import InvalidInput
from subscriptions.models import Organization, Subscription

from .errors import (
    AlreadyLicensed,
    EmailAlreadyUsed,
    NoLicenceAvailable,
    StatusCannotHoldLicence,
    SubscriptionNotLive,
)
from .models import LicenceAssignment, OrgUser


def _org_user_snapshot(org_user: OrgUser) -> dict:
    return {"name": org_user.name, "email": org_user.email, "status": org_user.status}


def _clean_name_and_email(name: str, email: str) -> tuple[str, str]:
    name = (name or "").strip()
    email = (email or "").strip()
    if not name:
        raise InvalidInput("Enter the user's name.", field="name")
    if len(name) > 200:
        raise InvalidInput("The name can be at most 200 characters.", field="name")
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(f"“{email}” is not a valid email address.", field="email") from None
    return name, email.lower()


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
    return LicenceAssignment.objects.create(
        organization_id=subscription.organization_id, subscription=subscription, org_user=org_user
    )


def org_user_create(
    *,
    organization: Organization,
    name: str,
    email: str,
    status: str = OrgUser.Status.ACTIVE,
    subscription_ids: Iterable[int] = (),
    actor=None,
    actor_label: str = "",
    request=None,
) -> OrgUser:
    """Create an org user and give them a licence of each chosen subscription.

    All or nothing: if any licence cannot be given (none available, status that
    cannot hold one), the user is not created either.
    """
    name, email = _clean_name_and_email(name, email)
    status = _clean_status(status)
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
    actor=None,
    actor_label: str = "",
    request=None,
) -> OrgUser:
    """Change a user's name, email or status. A status that cannot hold a licence
    frees every licence the user held, in the same transaction."""
    with transaction.atomic():
        org_user = OrgUser.objects.select_for_update().get(pk=org_user.pk)
        before = _org_user_snapshot(org_user)
        new_name, new_email = _clean_name_and_email(
            org_user.name if name is None else name, org_user.email if email is None else email
        )
        new_status = org_user.status if status is None else _clean_status(status)
        if new_email != org_user.email.lower() and _email_taken(
            org_user.organization, new_email, exclude_pk=org_user.pk
        ):
            raise EmailAlreadyUsed(new_email)
        org_user.name, org_user.email, org_user.status = new_name, new_email, new_status
        org_user.save(update_fields=["name", "email", "status", "updated_at"])
        freed = []
        if not org_user.can_hold_licence:
            freed = list(
                LicenceAssignment.objects.filter(org_user=org_user).values_list(
                    "subscription__plan__product__code", flat=True
                )
            )
            LicenceAssignment.objects.filter(org_user=org_user).delete()
        after = _org_user_snapshot(org_user)
        if after != before:
            audit_record(
                action="org_user.updated",
                organization=org_user.organization,
                actor=actor,
                actor_label=actor_label,
                obj=org_user,
                before=before,
                after={**after, "licences_freed": freed},
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
