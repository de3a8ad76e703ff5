"""Emails the back office sends: to customers (a decrease approved or rejected) and to
account managers (a change signed in their accounts, a push that keeps failing, a
payment that failed for a reason the customer can't fix, a scheduled decrease that
cannot take effect, the daily digest).

Each function takes ids, reloads what it needs and sends; callers queue them as
outbox jobs in their transaction, so nobody hears of a change that was rolled back
and an email that could not be sent is retried. An
organization without an account manager has its staff emails sent to the managers.
"""

from django.conf import settings
from django.urls import reverse

from accounts.models import User
from billing.models import Payment
from subscriptions.models import Organization, SeatChange, SeatSync, Subscription
from subscriptions.money_story import seat_change_money
from subscriptions.notifications import product_name, send
from subscriptions.words import counted


def backoffice_url(name: str, *args) -> str:
    return settings.SITE_URL + reverse(f"backoffice:{name}", args=args)


def account_manager_addresses(organization: Organization) -> list[str]:
    """Who looks after `organization`: its account manager, or every manager when it
    has none (or theirs can no longer sign in)."""
    manager = organization.account_manager
    if manager is not None and manager.is_active and manager.is_staff:
        return [manager.email]
    return list(
        User.objects.filter(is_active=True, is_staff=True, staff_role=User.StaffRole.MANAGER)
        .order_by("email")
        .values_list("email", flat=True)
    )


def _seat_change(seat_change_id: int) -> SeatChange:
    return SeatChange.objects.select_related(
        "subscription__plan__product", "subscription__organization__account_manager", "decided_by"
    ).get(pk=seat_change_id)


def _customer_addresses(seat_change: SeatChange) -> list[str]:
    return [seat_change.subscription.admin_email, seat_change.signer_email]


# --- To the customer -------------------------------------------------------------------


def seat_change_approved(*, seat_change_id: int) -> None:
    """The decrease is approved: when it takes effect, and who loses their licence."""
    seat_change = _seat_change(seat_change_id)
    subscription = seat_change.subscription
    product = product_name(subscription)
    send(
        to=_customer_addresses(seat_change),
        subject=(
            f"Approved: {product} decrease to {counted(seat_change.new_quantity, 'user')} "
            f"({seat_change.number})"
        ),
        template="seat_change_approved",
        context={
            "money": seat_change_money(seat_change),
            "seat_change": seat_change,
            "subscription": subscription,
            "product": product,
            "at_period_end": seat_change.state == SeatChange.State.SCHEDULED,
        },
    )


def seat_change_rejected(*, seat_change_id: int) -> None:
    """The decrease is rejected, with the account manager's reason."""
    seat_change = _seat_change(seat_change_id)
    subscription = seat_change.subscription
    product = product_name(subscription)
    send(
        to=_customer_addresses(seat_change),
        subject=(
            f"Not approved: {product} decrease to {counted(seat_change.new_quantity, 'user')} "
            f"({seat_change.number})"
        ),
        template="seat_change_rejected",
        context={"seat_change": seat_change, "subscription": subscription, "product": product},
    )


# --- To account managers ---------------------------------------------------------------


def seat_change_signed(*, seat_change_id: int) -> None:
    """An increase was signed (for information), or a decrease waits for approval."""
    seat_change = _seat_change(seat_change_id)
    subscription = seat_change.subscription
    organization = subscription.organization
    product = product_name(subscription)
    what = f"{organization.name}, {product} {seat_change.old_quantity} → {seat_change.new_quantity}"
    if seat_change.is_increase:
        subject, template = f"Increase signed: {what}", "backoffice_increase_signed"
    else:
        subject, template = f"Decrease to approve: {what}", "backoffice_decrease_to_approve"
    send(
        to=account_manager_addresses(organization),
        subject=subject,
        template=template,
        context={
            "seat_change": seat_change,
            "subscription": subscription,
            "organization": organization,
            "product": product,
            "url": backoffice_url("seat_change", seat_change.number),
        },
    )


def push_failing(*, seat_sync_id: int, error: str) -> None:
    """Pushing a seat count to the connected org keeps failing."""
    seat_sync = SeatSync.objects.select_related(
        "subscription__plan__product", "subscription__organization__account_manager", "seat_change"
    ).get(pk=seat_sync_id)
    subscription = seat_sync.subscription
    organization = subscription.organization
    product = product_name(subscription)
    send(
        to=account_manager_addresses(organization),
        subject=f"Push failing: {organization.name}, {product} ({counted(seat_sync.quantity, 'seat')})",
        template="backoffice_push_failing",
        context={
            "seat_sync": seat_sync,
            "subscription": subscription,
            "organization": organization,
            "product": product_name(subscription),
            "error": error or seat_sync.last_error,
            "url": backoffice_url("account", organization.pk),
        },
    )


def payment_refused(*, payment_id: int, reason: str) -> None:
    """A payment failed, or a charge must be looked at, for a reason that is ours, not
    the customer's (billing's `payment_refused` signal): Stripe refused our request,
    never answered, charged another amount, or refused a refund."""
    payment = Payment.objects.select_related(
        "seat_change", "subscription__plan__product", "subscription__organization__account_manager"
    ).get(pk=payment_id)
    subscription = payment.subscription
    organization = subscription.organization
    send(
        to=account_manager_addresses(organization),
        subject=f"Payment needs you: {organization.name}, seat change {payment.seat_change.number}",
        template="backoffice_payment_refused",
        context={
            "payment": payment,
            "seat_change": payment.seat_change,
            "subscription": subscription,
            "organization": organization,
            "product": product_name(subscription),
            "reason": reason,
            "url": backoffice_url("seat_change", payment.seat_change.number),
        },
    )


def subscription_ended(*, subscription_id: int, reason: str) -> None:
    """A subscription of one of their accounts ended without anyone asking (Stripe
    stopped it after failed payments): its licences no longer work."""
    _subscription_alert(subscription_id, "Subscription ended", "backoffice_subscription_ended", reason)


def renewal_setup_refused(*, subscription_id: int, reason: str) -> None:
    """Stripe refused to set up a subscription's renewals (billing's
    `renewal_setup_refused`): nobody bills them until someone fixes the cause and runs
    `manage.py stripe_link_subscriptions`."""
    _subscription_alert(
        subscription_id, "Renewals not set up in Stripe", "backoffice_renewal_setup_refused", reason
    )


def _subscription_alert(subscription_id: int, headline: str, template: str, reason: str) -> None:
    """Tell the account's account manager (or the managers) about one subscription,
    with a link to the account."""
    subscription = Subscription.objects.select_related("plan__product", "organization__account_manager").get(
        pk=subscription_id
    )
    organization = subscription.organization
    send(
        to=account_manager_addresses(organization),
        subject=f"{headline}: {organization.name}, {product_name(subscription)}",
        template=template,
        context={
            "subscription": subscription,
            "organization": organization,
            "product": product_name(subscription),
            "reason": reason,
            "url": backoffice_url("account", organization.pk),
        },
    )


def scheduled_decrease_blocked(*, seat_change_id: int, reason: str) -> None:
    """A decrease approved for the period end cannot take effect: too many licences in use."""
    seat_change = _seat_change(seat_change_id)
    subscription = seat_change.subscription
    organization = subscription.organization
    product = product_name(subscription)
    send(
        to=account_manager_addresses(organization),
        subject=f"Scheduled decrease on hold: {organization.name}, {product} ({seat_change.number})",
        template="backoffice_scheduled_decrease_blocked",
        context={
            "seat_change": seat_change,
            "subscription": subscription,
            "organization": organization,
            "product": product_name(subscription),
            "reason": reason,
            "url": backoffice_url("seat_change", seat_change.number),
        },
    )


def approval_digest(*, recipient_id: int, rows: list) -> None:
    """The daily list of decreases waiting for approval in the recipient's accounts."""
    recipient = User.objects.get(pk=recipient_id)
    overdue = sum(1 for row in rows if row.overdue)
    send(
        to=[recipient.email],
        subject=(
            f"{len(rows)} decrease{'s' if len(rows) != 1 else ''} waiting for approval"
            + (f" ({overdue} for more than two business days)" if overdue else "")
        ),
        template="backoffice_approval_digest",
        context={"recipient": recipient, "rows": rows, "url": backoffice_url("approvals")},
    )
