"""Back-office test data: staff with roles, and seat changes in each state."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from agreements import services as agreements
from billing.proration import quote_seat_change
from subscriptions import links, seat_changes
from subscriptions.models import CapabilityLink, SeatChange, Subscription
from tests.factories import UserFactory


def staff_factory(role: str, password=None, **kwargs):
    """A member of the vendor's staff with `role` ("account_manager" or "manager").
    Without a password unless given one (hashing is slow; tests sign in with force_login)."""
    return UserFactory(is_staff=True, staff_role=role, password=password, **kwargs)


def seat_change_open(subscription: Subscription, new_quantity: int, *, free=(), at: datetime | None = None):
    """A draft seat change of `subscription` to `new_quantity`, quoted at `at` (now)."""
    quote = quote_seat_change(
        unit_amount=subscription.plan.unit_amount,
        currency=subscription.plan.currency,
        old_quantity=subscription.quantity,
        new_quantity=new_quantity,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        at=at or timezone.now(),
    )
    return seat_changes.seat_change_create(
        subscription=subscription,
        new_quantity=new_quantity,
        quote=quote,
        renewal_amount=subscription.plan.unit_amount * new_quantity,
        licences_in_use=subscription.licence_assignments.count(),
        licences_to_free=free,
    )


def seat_change_signed(
    subscription: Subscription,
    new_quantity: int,
    *,
    free=(),
    with_agreement: bool = False,
    signer_name: str = "Ada Admin",
    signer_email: str = "ada@customer.example",
) -> SeatChange:
    """A seat change signed by the customer: awaiting approval (a decrease) or payment.
    `with_agreement` issues and e-signs the real agreement PDF (slower)."""
    change = seat_change_open(subscription, new_quantity, free=free)
    if with_agreement:
        agreement = agreements.agreement_issue(seat_change=change)
        link, _ = links.link_issue(
            subscription=subscription,
            action=CapabilityLink.Action.SIGN,
            email=signer_email,
            seat_change=change,
        )
        agreements.agreement_sign(
            agreement=agreement,
            signer=agreements.Signer(link=link),
            signer_name=signer_name,
            consent=True,
            accept_terms=True,
            signature_kind="typed",
            signature_text=signer_name,
            ip="203.0.113.7",
            user_agent="pytest",
        )
    else:
        with transaction.atomic():
            seat_changes.seat_change_mark_signed(
                seat_change=change, signer_name=signer_name, signer_email=signer_email
            )
    change.refresh_from_db()
    return change


def payment_factory(seat_change: SeatChange, *, status="succeeded", receipt_number="R-2026-0001", **kwargs):
    """A payment row of an increase as billing records it, with a receipt when paid."""
    from billing.models import Payment

    return Payment.objects.create(
        organization_id=seat_change.organization_id,
        subscription_id=seat_change.subscription_id,
        seat_change=seat_change,
        amount=seat_change.amount_due,
        currency=seat_change.currency,
        status=status,
        attempts=1,
        card_label="Visa •••• 4242",
        receipt_number=receipt_number,
        receipt_pdf=b"%PDF-1.4 receipt" if receipt_number else None,
        paid_at=timezone.now() if status == "succeeded" else None,
        **kwargs,
    )
