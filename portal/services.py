"""The seat change workflow: the one place that knows subscriptions (the change and
its states), billing (the quote and the payment), agreements (the PDF) and licensing
(licences in use), so that none of those apps needs to import another."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from agreements import services as agreements
from agreements.models import Agreement
from billing import selectors as billing_selectors
from billing import services as billing
from billing.errors import PaymentProcessorUnavailable
from billing.gateways import Card
from billing.money import chargeable, format_money
from billing.proration import ProrationQuote, quote_seat_change, renewal_amount
from licensing import selectors as licensing
from licensing import services as licensing_services
from licensing.hooks import BoughtSeat
from licensing.models import OrgUser
from subscriptions import links, money_story, numbers, seat_changes
from subscriptions.errors import InvalidInput
from subscriptions.models import CapabilityLink, SeatChange, Subscription


@dataclass(frozen=True)
class Preview:
    new_quantity: int
    delta: int
    quote: ProrationQuote
    renewal_amount: int
    licences_in_use: int
    money: money_story.SeatChangeMoney

    @property
    def must_free(self) -> int:
        return max(self.licences_in_use - self.new_quantity, 0)


def seat_change_preview(*, subscription: Subscription, raw_new_total) -> Preview:
    """What changing to `raw_new_total` would cost now and at renewal. Raises
    InvalidInput with the rule that was broken."""
    new_quantity = seat_changes.validate_new_total(subscription=subscription, raw=raw_new_total)
    quote = quote_seat_change(
        unit_amount=subscription.plan.unit_amount,
        currency=subscription.plan.currency,
        old_quantity=subscription.quantity,
        new_quantity=new_quantity,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        at=timezone.now(),
    )
    return Preview(
        new_quantity=new_quantity,
        delta=new_quantity - subscription.quantity,
        quote=quote,
        renewal_amount=renewal_amount(unit_amount=subscription.plan.unit_amount, quantity=new_quantity),
        licences_in_use=licensing.licences_in_use(subscription=subscription),
        money=money_story.preview_money(
            subscription=subscription,
            new_quantity=new_quantity,
            credit=quote.credit,
            debit=quote.debit,
            amount_due=quote.amount_due,
        ),
    )


def seat_change_start(
    *,
    subscription: Subscription,
    raw_new_total,
    licences_to_free=(),
    signer_name: str = "",
    signer_email: str = "",
    other_signer: bool = False,
    requested_by=None,
    requested_via: str = "link",
    replacing: str = "",
    request=None,
) -> SeatChange:
    """Open a seat change with its fixed quote and generate its agreement.

    `replacing` names the open change the customer confirmed to replace ("Replace the
    open change"): it is cancelled in the same transaction, so either the new change
    starts and the old one is cancelled, or (the new total refused) nothing changes.

    When another signer is named (`other_signer`: the customer ticked "Someone else
    signs", and then a name and a valid address are required), they are emailed a
    signing link of their own, and only that link can sign the agreement.
    """
    free_ids = numbers.whole_numbers(licences_to_free)
    if free_ids is None:
        raise InvalidInput("Choose users from the list.", field="licences_to_free")
    free_ids = sorted(set(free_ids))
    if free_ids:
        holders = set(
            licensing.licensed_users(subscription=subscription)
            .filter(pk__in=free_ids)
            .values_list("pk", flat=True)
        )
        if holders != set(free_ids):
            raise InvalidInput(
                "Only users who hold a licence of this subscription can lose one.",
                field="licences_to_free",
            )
    preview = seat_change_preview(subscription=subscription, raw_new_total=raw_new_total)
    with transaction.atomic():
        if replacing:
            _withdraw_to_replace(
                subscription=subscription, number=replacing, actor=requested_by, request=request
            )
        seat_change = seat_changes.seat_change_create(
            subscription=subscription,
            new_quantity=preview.new_quantity,
            quote=preview.quote,
            renewal_amount=preview.renewal_amount,
            licences_in_use=preview.licences_in_use,
            licences_to_free=free_ids,
            requested_by=requested_by,
            requested_via=requested_via,
            signer_name=signer_name,
            signer_email=signer_email,
            signer_required=other_signer,
            request=request,
        )
        agreements.agreement_issue(seat_change=seat_change)
        if seat_change.signer_email:
            links.signing_link_send(seat_change=seat_change, actor=requested_by, request=request)
    return seat_change


def replace_refusal(open_change: SeatChange) -> str:
    """Why the open change can't be replaced by a new one, or "" when it can (cancelled,
    then the new one started). A payment being made or taken is never thrown away."""
    payment = billing_selectors.payment_for_seat_change(open_change)
    if payment is not None and payment.status in ("pending", "succeeded"):
        return (
            f"Seat change {open_change.number} is being paid: wait for the payment to finish, "
            "then make a new change."
        )
    return ""


def _withdraw_to_replace(*, subscription: Subscription, number: str, actor, request) -> None:
    open_change = seat_changes.open_seat_change(subscription=subscription)
    if open_change is None:
        return  # finished or cancelled meanwhile: nothing left to replace
    if open_change.number != number:
        raise InvalidInput(
            f"The change in progress is now {open_change.number}, not {number}: look at it before "
            "replacing it.",
            field="general",
        )
    refusal = replace_refusal(open_change)
    if refusal:
        raise InvalidInput(refusal, field="general")
    seat_changes.seat_change_cancel(
        seat_change=open_change,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label="" if getattr(actor, "is_authenticated", False) else "unique link (replaced)",
        request=request,
    )


@dataclass(frozen=True)
class ChargeOffer:
    """Signing this increase can charge the card on file at once: the card, the amount
    and the words of the button that does it."""

    card: Card
    amount: int
    currency: str

    @property
    def amount_display(self) -> str:
        return format_money(self.amount, self.currency)

    @property
    def button(self) -> str:
        return f"Sign and pay {self.amount_display} with {self.card.label}"

    @property
    def choice(self) -> str:
        """The value of the signing form's `payment` field that consents to it."""
        return f"card:{self.card.id}"


def charge_offer(seat_change: SeatChange) -> ChargeOffer | None:
    """Whether signing `seat_change` can charge the card on file, and what: only for a
    draft increase due at least the smallest card payment, with a card on file (asked
    from Stripe; when Stripe can't answer, no offer: the payment page follows)."""
    if seat_change.state != SeatChange.State.DRAFT or not seat_change.is_increase:
        return None
    if not chargeable(seat_change.amount_due, seat_change.currency):
        return None
    try:
        card = billing_selectors.card_on_file(seat_change.subscription)
    except PaymentProcessorUnavailable:
        return None
    if card is None:
        return None
    return ChargeOffer(card=card, amount=seat_change.amount_due, currency=seat_change.currency)


def seat_change_sign(
    *, agreement: Agreement, signer: agreements.Signer, payment: str = "", **signing
) -> Agreement:
    """Sign the agreement as `signer` (`agreements.agreement_sign` decides whether they
    may, and moves the change on). An increase is charged on the card on file only with
    the signer's consent given there and then: `payment` is the `ChargeOffer.choice`
    they were shown ("Sign and pay €10.00 with Visa •••• 4242"), for the card still on
    file; billing then claims the payment at once (the change page shows "paying…")
    and charges it in a task. Anything else signs without charging ("pay later": the
    payment page follows). What was offered and chosen goes on the certificate. An
    increase below the smallest card payment is applied without charging."""
    seat_change = SeatChange.objects.select_related("subscription__plan").get(pk=agreement.seat_change_id)
    offer = charge_offer(seat_change)
    consent = None
    if offer is not None:
        pay_now = payment == offer.choice
        consent = agreements.ChargeConsent(
            pay_now=pay_now,
            shown=offer.button if pay_now else "Sign agreement (pay later, on the payment page)",
            amount=offer.amount if pay_now else 0,
            currency=offer.currency if pay_now else "",
            card_brand=offer.card.brand if pay_now else "",
            card_last4=offer.card.last4 if pay_now else "",
        )
    agreement = agreements.agreement_sign(
        agreement=agreement, signer=signer, charge_consent=consent, **signing
    )
    seat_change = SeatChange.objects.select_related("subscription").get(pk=agreement.seat_change_id)
    if seat_change.state == SeatChange.State.AWAITING_PAYMENT:
        nothing_to_charge = not chargeable(seat_change.amount_due, seat_change.currency)
        if nothing_to_charge or (consent is not None and consent.pay_now):
            billing.payment_card_on_file_queue(seat_change=seat_change)
    return agreement


# --- Adding a user when no licence is left: buy the missing seat -----------------------


def buy_seat_preview(*, subscription: Subscription) -> Preview:
    """What one more seat costs now and at renewal (raises InvalidInput at the plan's
    maximum)."""
    return seat_change_preview(subscription=subscription, raw_new_total=subscription.quantity + 1)


def _start_increase_by_one(
    *, subscription: Subscription, org_user: OrgUser, requested_by, requested_via, replacing="", request
):
    """Inside the caller's transaction: refuse when a change is already open (naming
    it) unless the customer confirmed replacing it (`replacing`, its number: it is
    cancelled as in `seat_change_start`), start the +1 change and make `org_user` wait
    for its licence."""
    subscription = Subscription.objects.select_related("plan__product", "organization").get(
        pk=subscription.pk
    )
    existing = seat_changes.open_seat_change(subscription=subscription)
    if existing is not None and not replacing:
        raise seat_changes.SeatChangeAlreadyOpen(existing)
    seat_change = seat_change_start(
        subscription=subscription,
        raw_new_total=subscription.quantity + 1,
        requested_by=requested_by,
        requested_via=requested_via,
        replacing=replacing,
        request=request,
    )
    licensing_services.pending_licence_add(
        org_user=org_user,
        subscription=subscription,
        seat_change=seat_change,
        actor=requested_by if getattr(requested_by, "is_authenticated", False) else None,
        actor_label=f"seat change {seat_change.number}",
        request=request,
    )
    return seat_change


def _subscription_ids(values, *, organization, status, org_user=None) -> list[int]:
    """The licences chosen on a form (kept in the session while the offer is read) or
    by an API call; None (an API call that named none): the rule's defaults."""
    if values is None:
        if status not in OrgUser.LICENSED_STATUSES:
            return []
        return licensing.licences_offered(organization=organization, org_user=org_user)
    ids = numbers.whole_numbers(values)
    if ids is None:
        raise InvalidInput("Choose products from the list.", field="subscriptions")
    return ids


def add_user_buying_seat(
    *,
    subscription: Subscription,
    name: str,
    email: str,
    status: str,
    subscription_ids=(),
    requested_by=None,
    requested_via: str = "dashboard",
    actor_label: str = "",
    replacing: str = "",
    request=None,
) -> tuple[OrgUser, SeatChange]:
    """Add an Active or Locked user although `subscription` has no licence left: in one
    transaction the user is created (with the licences of the other chosen
    subscriptions), a seat change adding 1 seat is started (replacing the open change
    `replacing` names, when the customer confirmed that) and the user waits for its
    licence, given when the change is applied. Only Active and Locked users hold
    licences, so any other status is refused (it never needs a seat)."""
    if status not in OrgUser.LICENSED_STATUSES:
        raise InvalidInput("Only Active or Locked users need a licence: no seat to buy.", field="status")
    other_ids = [
        pk
        for pk in _subscription_ids(subscription_ids, organization=subscription.organization, status=status)
        if pk != subscription.pk
    ]
    actor = requested_by if getattr(requested_by, "is_authenticated", False) else None
    with transaction.atomic():
        org_user = licensing_services.org_user_create(
            organization=subscription.organization,
            name=name,
            email=email,
            status=status,
            subscription_ids=other_ids,
            actor=actor,
            actor_label=actor_label,
            request=request,
        )
        seat_change = _start_increase_by_one(
            subscription=subscription,
            org_user=org_user,
            requested_by=actor,
            requested_via=requested_via,
            replacing=replacing,
            request=request,
        )
    return org_user, seat_change


def licence_buy_seat(
    *, subscription: Subscription, org_user: OrgUser, requested_by=None, replacing: str = "", request=None
) -> SeatChange:
    """An existing Active or Locked user gets the licence of a seat bought for them (the
    open change `replacing` names replaced, as in `add_user_buying_seat`)."""
    if org_user.organization_id != subscription.organization_id:
        raise InvalidInput("That user is not in this subscription's organization.")
    with transaction.atomic():
        return _start_increase_by_one(
            subscription=subscription,
            org_user=org_user,
            requested_by=requested_by,
            requested_via="dashboard",
            replacing=replacing,
            request=request,
        )


def activate_user_buying_seat(
    *,
    subscription: Subscription,
    org_user: OrgUser,
    status: str,
    subscription_ids=(),
    requested_by=None,
    replacing: str = "",
    request=None,
) -> SeatChange:
    """Make a user who holds no licence (Inactive, Room…) Active or Locked although
    `subscription` has none left: in one transaction their status changes (with the
    licences of the other chosen subscriptions), a seat change adding 1 seat is started
    (the open change `replacing` names replaced, as in `add_user_buying_seat`) and they
    wait for its licence, given when the change is applied."""
    if status not in OrgUser.LICENSED_STATUSES:
        raise InvalidInput("Only Active or Locked users need a licence: no seat to buy.", field="status")
    if org_user.organization_id != subscription.organization_id:
        raise InvalidInput("That user is not in this subscription's organization.")
    other_ids = [
        pk
        for pk in _subscription_ids(
            subscription_ids, organization=subscription.organization, status=status, org_user=org_user
        )
        if pk != subscription.pk
    ]
    actor = requested_by if getattr(requested_by, "is_authenticated", False) else None
    with transaction.atomic():
        org_user = licensing_services.org_user_update(
            org_user=org_user, status=status, subscription_ids=other_ids, actor=actor, request=request
        )
        return _start_increase_by_one(
            subscription=subscription,
            org_user=org_user,
            requested_by=actor,
            requested_via="dashboard",
            replacing=replacing,
            request=request,
        )


def add_user_buying_seat_for_api(
    *, subscription, name, email, status, subscription_ids, actor=None, actor_label="", request=None
) -> BoughtSeat:
    """`POST /api/v1/users/` with `buy_seat_if_needed` (registered in `licensing.hooks`):
    as `add_user_buying_seat`, plus a signing link, since an API client has no session.
    The link goes to the person calling (or the subscription's admin for an API key)."""
    with transaction.atomic():
        org_user, seat_change = add_user_buying_seat(
            subscription=subscription,
            name=name,
            email=email,
            status=status,
            subscription_ids=subscription_ids,
            requested_by=actor,
            requested_via="api",
            actor_label=actor_label,
            request=request,
        )
        _, raw = links.link_issue(
            subscription=subscription,
            action=CapabilityLink.Action.SIGN,
            email=getattr(actor, "email", "") or subscription.admin_email,
            seat_change=seat_change,
            actor=actor,
            actor_label=actor_label or f"seat change {seat_change.number}",
            request=request,
        )
    return BoughtSeat(org_user=org_user, seat_change=seat_change, sign_url=links.link_url(raw))
