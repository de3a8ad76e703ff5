"""Paying for a seat change, against a real localstripe."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from billing import selectors, services
from billing.errors import NothingToPay
from billing.gateways import stripe_gateway
from billing.models import Payment
from billing.money import format_money, is_valid_charge
from subscriptions import seat_changes
from subscriptions.models import SeatChange, SeatSync, Subscription
from subscriptions.seat_changes import QuoteExpired
from tests.agreements.pdfs import text
from tests.billing.factories import DECLINED, THREE_D_SECURE, awaiting_payment, give_card_on_file, new_card
from tests.factories import SubscriptionFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]


def refreshed(change: SeatChange) -> tuple[str, int, int, int]:
    """The change's state, the quantity, its version and the SeatSync rows. "applied"
    reads "applying": with tasks eager, the built-in connector makes the count live
    (applying → applied) as soon as the SeatSync row is committed."""
    change.refresh_from_db()
    subscription = Subscription.objects.get(pk=change.subscription_id)
    state = "applying" if change.state == "applied" else change.state
    return state, subscription.quantity, subscription.seats_version, SeatSync.objects.count()


def test_the_card_on_file_pays_and_the_change_applies_in_one_go(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)

    outcome = services.payment_start_or_retry(seat_change=change)

    payment = Payment.objects.get()
    assert outcome.succeeded and outcome.message == "Paid — your new seat count is being applied."
    assert refreshed(change) == ("applying", 5, 1, 1)
    assert (payment.status, payment.amount, payment.currency) == ("succeeded", change.amount_due, "eur")
    assert payment.receipt_number == f"R-{timezone.now():%Y}-{payment.pk:06d}"
    assert payment.card_label == "Visa •••• 4242"
    intent = stripe_gateway().payment_intent_retrieve(payment.stripe_payment_intent_id)
    assert (intent.status, intent.amount) == ("succeeded", change.amount_due)
    assert intent.metadata == {
        "seatmgr_payment": str(payment.pk),
        "seat_change": change.number,
        "attempt": "1",
    }
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"payment.attempt_started", "payment.succeeded", "seat_change.applying"} <= actions


def test_the_receipt_is_emailed_with_its_pdf(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    mail.outbox.clear()

    services.payment_start_or_retry(seat_change=change)

    payment = Payment.objects.get()
    receipts = [m for m in mail.outbox if m.subject.startswith("Receipt")]
    assert sorted(m.to[0] for m in receipts) == sorted(
        [change.subscription.admin_email, "ada@customer.example"]
    )
    receipt = receipts[0]
    assert receipt.subject == f"Receipt {payment.receipt_number}: Opero Documents, 3 → 5 users"
    ((filename, pdf, mimetype),) = receipt.attachments
    assert mimetype == "application/pdf"
    assert filename.startswith("receipt-") and filename.endswith(
        f"-{payment.receipt_number}-{payment.paid_at:%Y-%m-%d}.pdf"
    )
    content = text(pdf)
    amount = f"€{payment.amount // 100}.{payment.amount % 100:02d}"
    assert f"Receipt {payment.receipt_number}" in content
    assert f"Amount paid: {amount}" in content
    assert f"Total paid {amount}" in content
    assert change.number in content and "Visa •••• 4242" in content
    assert bytes(Payment.objects.get().receipt_pdf) == pdf


def test_a_declined_card_leaves_the_change_waiting_with_the_reason(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription, DECLINED)

    outcome = services.payment_start_or_retry(seat_change=change)

    assert (outcome.status, outcome.message) == ("failed", "Your card was declined.")
    assert refreshed(change) == ("awaiting_payment", 3, 0, 0)
    payment = Payment.objects.get()
    assert payment.stripe_payment_intent_id.startswith("pi_")
    assert (payment.failure_code, payment.receipt_number) == ("card_declined", None)
    assert not [m for m in mail.outbox if m.subject.startswith("Receipt")]


def test_a_new_card_after_a_decline_cancels_the_old_payment_intent_and_pays(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription, DECLINED)
    services.payment_start_or_retry(seat_change=change)
    declined_intent = Payment.objects.get().stripe_payment_intent_id

    outcome = services.payment_start_or_retry(seat_change=change, setup_intent=new_card(localstripe, change))

    payment = Payment.objects.get()
    assert outcome.succeeded and payment.attempts == 2
    assert payment.stripe_payment_intent_id != declined_intent
    assert stripe_gateway().payment_intent_retrieve(declined_intent).status == "canceled"
    assert refreshed(change) == ("applying", 5, 1, 1)


def test_3d_secure_hands_the_client_secret_to_the_browser_then_the_server_confirms(localstripe):
    change = awaiting_payment()

    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, THREE_D_SECURE)
    )

    assert (outcome.status, outcome.message) == (
        "requires_action",
        "Your bank asks you to confirm this payment.",
    )
    payment = Payment.objects.get()
    assert outcome.client_secret.startswith(payment.stripe_payment_intent_id)
    assert refreshed(change) == ("awaiting_payment", 3, 0, 0)
    again = services.payment_start_or_retry(seat_change=change)  # the page reloaded: same intent
    assert again.client_secret == outcome.client_secret and Payment.objects.get().attempts == 1

    localstripe.authenticate(payment.stripe_payment_intent_id, outcome.client_secret)
    confirmed = services.payment_confirm(seat_change=change)

    assert confirmed.succeeded
    assert refreshed(change) == ("applying", 5, 1, 1)


def test_failed_3d_secure_is_a_failure_the_customer_can_retry(localstripe):
    change = awaiting_payment()
    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, THREE_D_SECURE)
    )
    localstripe.authenticate(
        Payment.objects.get().stripe_payment_intent_id, outcome.client_secret, success=False
    )

    confirmed = services.payment_confirm(seat_change=change)

    assert confirmed.status == "failed" and "Your bank could not confirm this payment" in confirmed.message
    assert "PaymentMethod" not in confirmed.message
    assert services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change)
    ).succeeded


def test_a_customer_without_a_card_on_file_is_asked_for_one_and_nothing_is_charged(localstripe):
    change = awaiting_payment()

    outcome = services.payment_start_or_retry(seat_change=change)

    assert (outcome.status, outcome.message) == ("failed", "There is no card on file: enter a card to pay.")
    assert Subscription.objects.get().stripe_customer_id.startswith("cus_")
    assert Payment.objects.get().stripe_payment_intent_id == ""


def test_an_expired_quote_cannot_be_paid(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    SeatChange.objects.filter(pk=change.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(QuoteExpired):
        services.payment_start_or_retry(seat_change=change)

    assert refreshed(change) == ("expired", 3, 0, 0)
    assert not Payment.objects.exists()
    assert localstripe.events(type="payment_intent.succeeded") == [] or all(
        e["data"]["object"]["customer"] != change.subscription.stripe_customer_id
        for e in localstripe.events(type="payment_intent.succeeded")
    )


def test_a_change_that_is_not_waiting_for_payment_has_nothing_to_pay(localstripe):
    change = awaiting_payment()
    seat_changes.seat_change_cancel(seat_change=change)

    with pytest.raises(NothingToPay, match="is cancelled: there is nothing to pay"):
        services.payment_start_or_retry(seat_change=change, setup_intent=new_card(localstripe, change))


def test_paying_twice_charges_once(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    services.payment_start_or_retry(seat_change=change)

    outcome = services.payment_start_or_retry(seat_change=change, setup_intent=new_card(localstripe, change))

    assert outcome.succeeded and Payment.objects.get().attempts == 1
    assert refreshed(change) == ("applying", 5, 1, 1)


def test_signing_queues_the_card_on_file_charge_and_the_page_can_show_paying(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)

    claimed = services.payment_card_on_file_queue(seat_change=change)

    assert claimed.status == "pending" and claimed.attempts == 1  # what the page shows first
    payment = Payment.objects.get()  # the task ran on commit (eagerly here)
    assert (payment.status, payment.customer_present) == ("succeeded", False)
    assert refreshed(change) == ("applying", 5, 1, 1)
    # Nobody is there: Stripe is told so, and gets no on-session settings.
    [charge] = localstripe.sent("POST", "/v1/payment_intents")
    assert charge["params"]["off_session"] == "true" and charge["params"]["confirm"] == "true"
    assert charge["params"]["payment_method"] == payment.stripe_payment_method_id
    assert "automatic_payment_methods" not in charge["params"]


# --- The card on file: the last card that paid -------------------------------------------


def card_on_file(change: SeatChange):
    return selectors.card_on_file(Subscription.objects.get(pk=change.subscription_id))


def test_a_card_entered_on_the_page_is_saved_for_later_charges_and_pays_on_session(localstripe):
    change = awaiting_payment()

    outcome = services.payment_start_or_retry(seat_change=change, setup_intent=new_card(localstripe, change))

    payment = Payment.objects.get()
    assert outcome.succeeded and payment.card_label == "Visa •••• 4242"
    [setup] = localstripe.sent("POST", "/v1/setup_intents")
    assert setup["params"]["usage"] == "off_session"
    assert setup["params"]["customer"] == payment.stripe_customer_id
    [charge] = localstripe.sent("POST", "/v1/payment_intents")
    assert charge["params"]["automatic_payment_methods"] == {"enabled": "true", "allow_redirects": "never"}
    assert "off_session" not in charge["params"]
    assert charge["params"]["payment_method"] == payment.stripe_payment_method_id
    assert payment.stripe_payment_method_id.startswith("pm_")
    assert card_on_file(change).id == payment.stripe_payment_method_id
    assert AuditEvent.objects.filter(action="payment.card_on_file").count() == 1


def test_a_declined_card_never_becomes_the_card_on_file_and_the_next_card_that_pays_does(localstripe):
    change = awaiting_payment()

    declined = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, DECLINED)
    )

    assert declined.status == "failed" and card_on_file(change) is None

    paid = services.payment_start_or_retry(seat_change=change, setup_intent=new_card(localstripe, change))

    assert paid.succeeded
    assert card_on_file(change).label == "Visa •••• 4242"


def test_a_declined_new_card_leaves_the_card_on_file_as_it_was(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    before = card_on_file(change)

    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, DECLINED)
    )

    assert outcome.status == "failed"
    assert card_on_file(change) == before
    assert services.payment_start_or_retry(seat_change=change).succeeded  # with the card on file
    assert card_on_file(change) == before


def test_a_card_confirmed_with_3d_secure_becomes_the_card_on_file_once_it_paid(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, THREE_D_SECURE)
    )
    assert outcome.status == "requires_action" and card_on_file(change).last4 == "4242"

    localstripe.authenticate(Payment.objects.get().stripe_payment_intent_id, outcome.client_secret)
    assert services.payment_confirm(seat_change=change).succeeded

    assert card_on_file(change).last4 == "3155"


def test_a_card_saved_for_another_customer_cannot_pay(localstripe):
    change = awaiting_payment()
    other = awaiting_payment()
    someone_elses = new_card(localstripe, other)

    outcome = services.payment_start_or_retry(seat_change=change, setup_intent=someone_elses)

    assert (outcome.status, outcome.message) == (
        "failed",
        "Your card could not be saved: please enter it again.",
    )
    assert localstripe.sent("POST", "/v1/payment_intents") == []
    assert refreshed(change)[0] == "awaiting_payment"


def test_no_card_can_be_set_up_for_a_change_that_is_not_waiting_for_payment(localstripe):
    change = awaiting_payment()
    SeatChange.objects.filter(pk=change.pk).update(state="cancelled")
    change.refresh_from_db()

    with pytest.raises(NothingToPay):
        services.payment_card_setup(seat_change=change)

    assert localstripe.sent("POST", "/v1/setup_intents") == []


def test_without_a_stripe_customer_signing_queues_nothing():
    change = awaiting_payment()

    assert services.payment_card_on_file_queue(seat_change=change) is None
    assert not Payment.objects.exists()


def test_a_stripe_customer_without_a_card_on_file_is_not_charged_on_signing_but_offered_the_page(localstripe):
    # Activation made the customer (Stripe bills its renewals); nobody ever paid by card.
    change = awaiting_payment()
    customer_id = stripe_gateway().customer_create(
        email=change.subscription.admin_email, name="Acme", metadata={}, idempotency_key="no-card-customer"
    )
    Subscription.objects.filter(pk=change.subscription_id).update(stripe_customer_id=customer_id)
    change.refresh_from_db()

    assert services.payment_card_on_file_queue(seat_change=change) is None
    assert not Payment.objects.exists()
    assert localstripe.sent("POST", "/v1/payment_intents") == []


def test_a_declined_card_on_file_after_signing_emails_a_link_to_the_payment_page(localstripe, settings):
    settings.SITE_URL = "http://testserver"
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription, DECLINED)
    mail.outbox.clear()

    services.payment_card_on_file_queue(seat_change=change)

    assert Payment.objects.get().status == "failed"
    emails = sorted(mail.outbox, key=lambda m: m.to[0])
    assert [m.to for m in emails] == [["ada@customer.example"], [change.subscription.admin_email]]
    for email in emails:
        assert email.subject == f"Payment needed for Opero Documents seat change {change.number}"
        assert "Reason: Your card was declined." in email.body
        assert f"/changes/{change.number}/pay/" in email.body


def test_a_charge_arriving_for_an_expired_change_is_refunded(localstripe):
    change = awaiting_payment()
    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, THREE_D_SECURE)
    )
    payment = Payment.objects.get()
    SeatChange.objects.filter(pk=change.pk).update(state="expired")
    localstripe.authenticate(payment.stripe_payment_intent_id, outcome.client_secret)

    services.payment_confirm(seat_change=change)

    payment.refresh_from_db()
    assert payment.status == "refunded" and payment.stripe_refund_id.startswith("re_")
    assert "was expired when the payment arrived" in payment.refund_reason
    assert refreshed(change) == ("expired", 3, 0, 0)


def test_a_second_successful_charge_for_a_paid_change_is_refunded(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    services.payment_start_or_retry(seat_change=change)
    payment = Payment.objects.get()
    gateway = stripe_gateway()
    stray = gateway.payment_intent_charge(
        customer_id=payment.stripe_customer_id,
        payment_method_id=payment.stripe_payment_method_id,
        amount=payment.amount,
        currency="eur",
        off_session=True,
        metadata={"seatmgr_payment": str(payment.pk), "attempt": "1"},
        idempotency_key="stray",
    )

    services.payment_succeeded(
        payment_intent_id=stray.id,
        amount=stray.amount,
        currency=stray.currency,
        metadata=stray.metadata,
        via="webhook",
    )

    assert localstripe.get(f"/v1/refunds?payment_intent={stray.id}")["data"][0]["amount"] == payment.amount
    assert refreshed(change) == ("applying", 5, 1, 1)
    assert AuditEvent.objects.filter(action="payment.duplicate_refunded").count() == 1


def test_an_increase_that_costs_nothing_is_applied_at_signing_without_stripe():
    change = awaiting_payment(plan__unit_amount=0, plan__code="free-monthly")

    assert services.payment_card_on_file_queue(seat_change=change) is None

    assert refreshed(change) == ("applying", 5, 1, 1)
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("currency", "unit_amount", "step"),
    [("isk", 990000, 100), ("kwd", 9900, 10), ("jpy", 9900, 1), ("mga", 9900, 1), ("huf", 990000, 1)],
)
def test_a_change_in_a_special_currency_is_charged_what_stripe_accepts(
    localstripe, currency, unit_amount, step
):
    subscription = SubscriptionFactory(quantity=3, plan__currency=currency, plan__unit_amount=unit_amount)
    change = awaiting_payment(subscription)
    give_card_on_file(localstripe, change.subscription)

    assert services.payment_start_or_retry(seat_change=change).succeeded

    payment = Payment.objects.get()
    intent = stripe_gateway().payment_intent_retrieve(payment.stripe_payment_intent_id)
    assert (intent.amount, intent.currency) == (change.amount_due, currency)
    assert change.amount_due % step == 0 and is_valid_charge(change.amount_due, currency)
    if currency == "isk":
        assert format_money(change.amount_due, "isk") == f"{change.amount_due // 100:,} ISK"
