"""Back-office writes. Each runs in one transaction, records an audit event with the
member of staff who acted, and queues its emails on commit.

The seat change's own transitions live in `subscriptions.seat_changes`; this module
adds what only the back office knows: licences in use (from `licensing`) for an
approval, the customer's and account managers' emails, and new accounts.
"""

from datetime import UTC, date, datetime, time

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

import outbox
from accounts.models import User
from accounts.services import existing_account, user_create_verified
from audit.services import audit_record
from portal import services as portal
from subscriptions import invitations, links, seat_changes
from subscriptions.errors import InvalidInput
from subscriptions.models import Invitation, Membership, Organization, Plan, SeatChange, Subscription
from subscriptions.periods import period_end_for
from subscriptions.words import counted

from . import notifications, selectors
from .access import StaffScope, staff_role_of
from .models import ApprovalDigest

# --- Approvals -------------------------------------------------------------------------


def seat_change_approve(*, seat_change: SeatChange, actor: User, now=None, request=None) -> SeatChange:
    """Approve a decrease: applied now, or scheduled for the period end, per its plan.

    Guarantees (see `subscriptions.seat_changes.seat_change_approve`): under the
    change's row lock, only a change still awaiting approval is approved — of two
    account managers acting at once one wins and the other gets
    SeatChangeAlreadyDecided naming who did what; refused (DecreaseNoLongerFits) when
    more licences are in use than the new total leaves room for, counted under the
    subscription's lock. Applied now: quantity, outbox row and the freeing of the
    licences the customer named commit together. On commit, the customer's admin and
    the signer get the "Approved" email (once: a second approval is refused).
    """
    with transaction.atomic():
        seat_change = seat_changes.seat_change_approve(
            seat_change=seat_change,
            actor=actor,
            licences_kept=selectors.licences_kept,
            now=now,
            request=request,
        )
        seat_change_id = seat_change.pk
        outbox.enqueue(
            notifications.seat_change_approved,
            key=f"seat-change-approved:{seat_change_id}",
            kind="email",
            seat_change_id=seat_change_id,
        )
    return seat_change


def seat_change_reject(
    *, seat_change: SeatChange, actor: User, reason: str, now=None, request=None
) -> SeatChange:
    """Reject a decrease with a reason (required: InvalidInput before anything changes).

    Same lock and race guarantee as `seat_change_approve`. On commit, the customer's
    admin and the signer get the "Not approved" email with the reason.
    """
    with transaction.atomic():
        seat_change = seat_changes.seat_change_reject(
            seat_change=seat_change, actor=actor, reason=reason, now=now, request=request
        )
        seat_change_id = seat_change.pk
        outbox.enqueue(
            notifications.seat_change_rejected,
            key=f"seat-change-rejected:{seat_change_id}",
            kind="email",
            seat_change_id=seat_change_id,
        )
    return seat_change


def scheduled_decreases_apply(
    *, now: datetime | None = None, batch_size: int = 100, time_budget: float | None = None
) -> seat_changes.ScheduledRun:
    """Periodic: apply the approved decreases whose period end has come, exactly once
    each (see `subscriptions.seat_changes.seat_changes_apply_scheduled`). A decrease that
    cannot take effect because too many licences are in use stays scheduled, and its
    account manager is emailed once. Bounded as `seat_changes_apply_scheduled` says."""
    run = seat_changes.seat_changes_apply_scheduled(
        licences_kept=selectors.licences_kept, now=now, batch_size=batch_size, time_budget=time_budget
    )
    for seat_change_id, reason in run.newly_blocked:
        outbox.enqueue(
            notifications.scheduled_decrease_blocked,
            key=f"scheduled-decrease-blocked:{seat_change_id}",
            kind="email",
            seat_change_id=seat_change_id,
            reason=reason,
        )
    return run


def approval_digest_email(*, recipient_id: int, now: str) -> None:
    """Outbox job: the digest of one account manager, of the decreases waiting then."""
    member = User.objects.get(pk=recipient_id)
    rows = selectors.approvals_queue(scope=StaffScope(member), now=datetime.fromisoformat(now))
    notifications.approval_digest(recipient_id=recipient_id, rows=rows)


def approval_digests_send(*, now: datetime | None = None) -> int:
    """Periodic (daily): email each account manager the decreases waiting for approval
    in their accounts (managers: in all accounts). Nobody with nothing pending gets an
    email. At most one digest per person per day (a unique row written before the
    email is queued), so running it twice sends nothing more. Returns how many were sent."""
    now = now or timezone.now()
    sent = 0
    staff = User.objects.filter(is_staff=True, is_active=True).exclude(staff_role="").order_by("pk")
    for member in staff:
        if staff_role_of(member) is None:
            continue
        rows = selectors.approvals_queue(scope=StaffScope(member), now=now)
        if not rows:
            continue
        try:
            with transaction.atomic():
                ApprovalDigest.objects.create(recipient=member, day=now.date(), pending=len(rows))
                outbox.enqueue(
                    approval_digest_email,
                    key=f"approval-digest:{member.pk}:{now.date().isoformat()}",
                    kind="email",
                    recipient_id=member.pk,
                    now=now.isoformat(),
                )
        except IntegrityError:
            continue  # already sent today
        sent += 1
    return sent


# --- New accounts and subscriptions ----------------------------------------------------


def _clean_email(raw: str, *, field: str, what: str) -> str:
    email = (raw or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(f"Enter a valid email address for {what}.", field=field) from None
    return email


def subscription_create(
    *,
    organization: Organization,
    plan: Plan,
    seats: int,
    admin_email: str,
    period_start: date,
    actor: User,
    activate: bool = False,
    request=None,
) -> Subscription:
    """A pending subscription of `organization` to `plan` for `seats` users, its period
    starting at 00:00 UTC on `period_start` and lasting one plan interval. With
    `activate`, it is activated at once (the admin gets "<Product> is now active" with
    the unique links, on commit). Audit: `subscription.created` with the actor."""
    if not plan.min_seats <= seats <= plan.max_seats:
        raise InvalidInput(
            f"The {plan.name} plan takes between {plan.min_seats} and {counted(plan.max_seats, 'user')}.",
            field="seats",
        )
    admin_email = _clean_email(admin_email, field="admin_email", what="the customer's admin")
    start = datetime.combine(period_start, time.min, tzinfo=UTC)
    with transaction.atomic():
        subscription = Subscription.objects.create(
            organization=organization,
            plan=plan,
            quantity=seats,
            admin_email=admin_email,
            status=Subscription.Status.PENDING,
            current_period_start=start,
            current_period_end=period_end_for(start, plan.interval),
        )
        audit_record(
            action="subscription.created",
            organization=organization,
            actor=actor,
            obj=subscription,
            after={
                "plan": plan.code,
                "seats": seats,
                "admin_email": admin_email,
                "period": [
                    subscription.current_period_start.isoformat(),
                    subscription.current_period_end.isoformat(),
                ],
            },
            request=request,
        )
        if activate:
            subscription = links.subscription_activate(
                subscription=subscription, actor=actor, request=request
            )
    return subscription


def account_create(
    *,
    actor: User,
    name: str,
    billing_email: str,
    admin_name: str,
    admin_email: str,
    plan: Plan,
    seats: int,
    period_start: date,
    account_manager: User | None = None,
    slug: str = "",
    activate: bool = False,
    request=None,
) -> tuple[Organization, Subscription, Invitation | None]:
    """A new customer: the organization, its admin and its first subscription, all or
    nothing. Returns the organization, the subscription and, when the admin address
    already leads to an account, the invitation sent to it (else None).

    The admin address is whoever the account manager names, so:
    - an address no account verified or signs in with gets a new sign-in account
      (no password: they sign in by emailed code), its address verified (the account
      manager typed it, and the activation email goes there), made an admin member;
    - an address that leads to an existing account (`accounts.services.existing_account`)
      attaches nobody: it gets an invitation, and that person becomes an admin only by
      accepting it signed in with the address verified (`subscriptions.invitations`).
    The subscription's unique links go to the address either way.

    The account manager is the actor unless a manager picks another. Refuses a slug
    already taken and an address that belongs to vendor staff. Audit:
    `organization.created`, `membership.created` or `invitation.created`,
    `subscription.created`, all with the actor.
    """
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("Enter the organization's name.", field="name")
    if len(name) > 200:
        raise InvalidInput("The name can be at most 200 characters.", field="name")
    slug = slugify(slug or name)[:80]
    if not slug:
        raise InvalidInput("Enter a short name made of letters, digits and dashes.", field="slug")
    billing_email = _clean_email(billing_email, field="billing_email", what="billing")
    admin_email = _clean_email(admin_email, field="admin_email", what="the customer's admin")
    admin_name = " ".join((admin_name or "").split())[:200]
    if not admin_name:
        raise InvalidInput("Enter the admin's full name.", field="admin_name")
    if account_manager is None or staff_role_of(actor) != User.StaffRole.MANAGER:
        account_manager = actor
    if staff_role_of(account_manager) is None:
        raise InvalidInput("Choose a member of staff who manages accounts.", field="account_manager")
    with transaction.atomic():
        if Organization.objects.filter(slug=slug).exists():
            raise InvalidInput(
                f"“{slug}” is already used by another organization: choose another.", field="slug"
            )
        admin = existing_account(admin_email)
        if admin is not None and admin.is_staff:
            raise InvalidInput(
                "That address belongs to vendor staff: enter the customer's own admin.", field="admin_email"
            )
        try:
            with transaction.atomic():
                organization = Organization.objects.create(
                    name=name, slug=slug, billing_email=billing_email, account_manager=account_manager
                )
        except IntegrityError:
            raise InvalidInput(
                f"“{slug}” is already used by another organization: choose another.", field="slug"
            ) from None
        audit_record(
            action="organization.created",
            organization=organization,
            actor=actor,
            obj=organization,
            after={
                "name": name,
                "slug": slug,
                "billing_email": billing_email,
                "account_manager": account_manager.email,
            },
            request=request,
        )
        invitation = None
        if admin is None:
            admin = user_create_verified(email=admin_email, full_name=admin_name)
            membership = Membership.objects.create(
                user=admin, organization=organization, role=Membership.Role.ADMIN
            )
            audit_record(
                action="membership.created",
                organization=organization,
                actor=actor,
                obj=membership,
                after={"email": admin.email, "role": membership.role},
                request=request,
            )
        else:
            invitation = invitations.invitation_create(
                organization=organization, email=admin_email, actor=actor, request=request
            )
        subscription = subscription_create(
            organization=organization,
            plan=plan,
            seats=seats,
            admin_email=admin_email,
            period_start=period_start,
            actor=actor,
            activate=activate,
            request=request,
        )
    return organization, subscription, invitation


# --- Audit export ----------------------------------------------------------------------


def audit_export_record(*, organization: Organization, actor: User, request=None) -> None:
    """Record that `actor` exported the organization's audit log (before it is streamed)."""
    audit_record(
        action="audit.exported", organization=organization, actor=actor, obj=organization, request=request
    )


# --- Changes on the customer's behalf --------------------------------------------------


def seat_change_start_for_customer(
    *,
    subscription: Subscription,
    actor: User,
    raw_new_total,
    signer_name: str,
    signer_email: str,
    licences_to_free=(),
    request=None,
):
    """Start a seat change the customer asked for (by phone, say): the same change,
    quote and agreement as if they had started it (`portal.services.seat_change_start`),
    requested by the account manager via "backoffice". The named signer — normally the
    customer's admin — is required and gets the signing link by email; the flow then
    continues as usual (payment, or approval for a decrease). Audit:
    `seat_change.created` with the account manager."""
    if not (signer_name or "").strip():
        raise InvalidInput("Enter the name of the customer's admin who will sign.", field="signer_name")
    _clean_email(signer_email, field="signer_email", what="the person who will sign")
    return portal.seat_change_start(
        subscription=subscription,
        raw_new_total=raw_new_total,
        licences_to_free=licences_to_free,
        signer_name=signer_name,
        signer_email=signer_email,
        requested_by=actor,
        requested_via="backoffice",
        request=request,
    )
