"""Invitations: an address that already leads to an account, named as an
organization's admin (a new account in the back office), becomes a member only when
that person accepts.

Nothing attaches silently: an account manager cannot know who controls an existing
account, and an address merely typed into an account proves nothing. The invitation
is emailed to the address with a link (256-bit token, only its SHA-256 stored); it is
accepted by following the link while signed in as the account that *verified* that
address (`accounts.services.has_verified_email`), once.
"""

import hmac
import secrets

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

import outbox
from accounts.services import has_verified_email
from audit.services import audit_record

from . import notifications
from .errors import Conflict, DomainError
from .models import Invitation, Membership, Organization, hash_secret


class InvitationForAnotherAddress(DomainError):
    code = "invitation_for_another_address"
    status_code = 403


def invitation_url(raw_token: str) -> str:
    return settings.SITE_URL + reverse("subscriptions:invitation", args=[raw_token])


def invitation_create(
    *, organization: Organization, email: str, role: str = Membership.Role.ADMIN, actor=None, request=None
) -> Invitation:
    """Invite `email` to `organization` and email it the link, on commit (the raw
    token is only in that email). One open invitation per address and organization
    (a constraint). Audit: `invitation.created`."""
    email = email.strip().lower()
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            token_hash=hash_secret(raw),
            invited_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            action="invitation.created",
            organization=organization,
            actor=actor,
            obj=invitation,
            after={"email": email, "role": role},
            request=request,
        )
        invitation_id, url = invitation.pk, invitation_url(raw)
        outbox.enqueue(
            notifications.invitation_sent,
            key=f"invitation:{invitation_id}",
            kind="email",
            invitation_id=invitation_id,
            url=url,
        )
    return invitation


def invitation_resolve(raw_token: str) -> Invitation | None:
    """The open invitation for `raw_token`, or None (unknown and accepted ones alike)."""
    if not raw_token or len(raw_token) > 100:
        return None
    token_hash = hash_secret(raw_token)
    invitation = (
        Invitation.objects.select_related("organization")
        .filter(token_hash=token_hash, accepted_at__isnull=True)
        .first()
    )
    if invitation is None or not hmac.compare_digest(invitation.token_hash, token_hash):
        return None
    return invitation


def invitation_accept(*, invitation: Invitation, user, request=None) -> Membership:
    """`user` accepts: they become a member of the invitation's organization with its
    role (a membership they already have, say one the vendor added in the Django admin,
    is kept as it is).

    Under the invitation's row lock: refused (InvitationForAnotherAddress) unless
    `user` verified the invited address, and (Conflict) once accepted, so a link
    works once. Audit: `invitation.accepted` and `membership.created`, with `user` as
    the actor."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=invitation.pk)
        )
        if invitation.accepted_at is not None:
            raise Conflict("This invitation has already been accepted.")
        if not has_verified_email(user, invitation.email):
            raise InvitationForAnotherAddress(
                f"This invitation is for {invitation.email}. Sign in with that address to accept it."
            )
        organization = invitation.organization
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            action="invitation.accepted",
            organization=organization,
            actor=user,
            obj=invitation,
            after={"email": invitation.email},
            request=request,
        )
        membership, created = Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": invitation.role}
        )
        if created:
            audit_record(
                action="membership.created",
                organization=organization,
                actor=user,
                obj=membership,
                after={"email": user.email, "role": membership.role},
                request=request,
            )
    return membership
