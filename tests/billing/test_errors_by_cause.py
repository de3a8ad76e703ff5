"""Stripe's errors, handled by cause, with the real stripe client against the strict
stand-in in front of localstripe (and, for the answers localstripe never gives, the
stand-in's faults):

* a card error: the customer's message, the decline code kept, another card can pay;
* a request Stripe refuses (ours to fix): the payment fails definitively, the customer
  is told their card was not charged, the account manager is emailed, nothing sends it
  again;
* Stripe unreachable or failing (network, 5xx, 429): pending, retried by reconciliation
  with backoff, at most MAX_PROCESSOR_FAILURES times, then the same definitive failure;
* a programming error is not dressed up as "processor unavailable".
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from billing import selectors, services
from billing.errors import AuthenticationRequired, PaymentRefused
from billing.gateways import STRIPE_API_VERSION, stripe_gateway
from billing.gateways.stripe import NETWORK_RETRIES
from billing.models import Payment
from subscriptions.models import SeatChange
from tests.backoffice.factories import staff_factory
from tests.billing.factories import awaiting_payment, give_card_on_file, new_card

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]

CHARGE = "/v1/payment_intents"
REFUSED = "We could not take this payment, and your card was not charged."


def with_account_manager(change: SeatChange) -> str:
    manager = staff_factory("account_manager", email="am@vendor.example")
    organization = change.subscription.organization
    organization.account_manager = manager
    organization.save(update_fields=["account_manager"])
    return manager.email


def emails_to(address: str) -> list:
    return [message for message in mail.outbox if message.to == [address]]


def reconcile_later(hours: int) -> None:
    """Reconciliation run `hours` from now: every backoff has run out by then."""
    services.payments_reconcile(now=timezone.now() + timedelta(hours=hours))


def test_every_request_asks_for_the_pinned_api_version(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)

    assert services.payment_start_or_retry(seat_change=change).succeeded

    sent = localstripe.sent("GET", "/v1/customers/{customer}") + localstripe.sent("POST", CHARGE)
    assert len(sent) == 2
    assert {request["stripe_version"] for request in sent} == {STRIPE_API_VERSION}


# --- The customer's card --------------------------------------------------------------------


def test_a_decline_keeps_stripes_decline_code_and_another_card_can_pay(localstripe):
    change = awaiting_payment()
    am = with_account_manager(change)
    give_card_on_file(localstripe, change.subscription)
    decline = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    localstripe.fault(CHARGE, status=402, body={"error": decline}, times=1)

    outcome = services.payment_start_or_retry(seat_change=change)

    payment = Payment.objects.get()
    assert (outcome.status, outcome.message) == ("failed", "Your card has insufficient funds.")
    assert (payment.failure_code, payment.decline_code) == ("card_declined", "insufficient_funds")
    assert emails_to(am) == []  # the customer's business, not the account manager's

    retried = services.payment_start_or_retry(seat_change=change, setup_intent=new_card(localstripe, change))

    payment.refresh_from_db()
    assert retried.succeeded and payment.attempts == 2
    assert (payment.failure_code, payment.decline_code) == ("", "")


def test_a_decline_asking_for_the_cardholder_is_a_confirmation_not_a_decline(localstripe):
    # Stripe's answer to an off-session charge the bank wants confirmed.
    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    card = stripe_gateway().customer_default_card(customer)
    decline = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "authentication_required",
        "message": "Your card was declined. This transaction requires authentication.",
    }
    localstripe.fault(CHARGE, status=402, body={"error": decline})

    with pytest.raises(AuthenticationRequired) as asked:
        stripe_gateway().payment_intent_charge(
            customer_id=customer,
            payment_method_id=card.id,
            amount=change.amount_due,
            currency="eur",
            off_session=True,
            metadata={},
            idempotency_key="off-session-auth",
        )

    assert asked.value.message == "Your bank asks you to confirm this payment."
    assert asked.value.decline_code == "authentication_required"


# --- A request Stripe refuses: ours to fix ------------------------------------------------


def test_a_customer_stripe_does_not_know_fails_the_payment_definitively(localstripe):
    # Real localstripe answering 404: the Stripe customer on file is not in this account
    # (keys of another account, a customer deleted in the dashboard).
    change = awaiting_payment()
    am = with_account_manager(change)
    change.subscription.stripe_customer_id = "cus_not_in_this_account"
    change.subscription.save(update_fields=["stripe_customer_id"])

    outcome = services.payment_start_or_retry(seat_change=change)

    payment = Payment.objects.get()
    assert outcome.status == "failed" and outcome.message.startswith(REFUSED)
    assert payment.status == "failed" and payment.failure_message.startswith(REFUSED)
    [alert] = emails_to(am)
    assert change.number in alert.subject
    assert f"Reason: {payment.failure_code}: " in alert.body and "was not charged" in alert.body
    assert AuditEvent.objects.filter(action="payment.refused").count() == 1
    change.refresh_from_db()
    assert change.state == SeatChange.State.AWAITING_PAYMENT


@pytest.mark.parametrize(
    ("status", "stripe_code"),
    [
        (400, "amount_too_small"),
        (401, "invalid_request_error"),
        (403, "secret_key_required"),
        (404, "resource_missing"),
    ],
)
def test_a_refused_charge_fails_definitively_and_is_never_sent_again(localstripe, status, stripe_code):
    change = awaiting_payment()
    am = with_account_manager(change)
    give_card_on_file(localstripe, change.subscription)
    body = None
    if stripe_code == "amount_too_small":
        # Above our minimum, under Stripe's once converted to the settlement currency.
        body = {
            "error": {
                "type": "invalid_request_error",
                "code": "amount_too_small",
                "message": "Amount must convert to at least 50 cents.",
            }
        }
    localstripe.fault(CHARGE, status=status, body=body)

    outcome = services.payment_start_or_retry(seat_change=change)

    payment = Payment.objects.get()
    assert (outcome.status, payment.status, payment.failure_code) == ("failed", "failed", stripe_code)
    assert outcome.message.startswith(REFUSED) and "try again later" in outcome.message
    assert services.outcome_of(payment).message == outcome.message  # the page says so, not "waiting"
    assert len(emails_to(am)) == 1
    assert emails_to(change.subscription.admin_email) == []  # they are on the page

    reconcile_later(hours=30)

    assert len(localstripe.sent("POST", CHARGE)) == 1
    payment.refresh_from_db()
    assert payment.status == "failed"


def test_after_a_refusal_the_customer_can_try_again(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    localstripe.fault(CHARGE, status=400, times=1)
    assert services.payment_start_or_retry(seat_change=change).status == "failed"

    assert services.payment_start_or_retry(seat_change=change).succeeded


def test_an_amount_stripe_would_refuse_in_the_currency_is_refused_without_a_request(localstripe):
    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    card = stripe_gateway().customer_default_card(customer)

    with pytest.raises(PaymentRefused) as refused:
        stripe_gateway().payment_intent_charge(
            customer_id=customer,
            payment_method_id=card.id,
            amount=282857,  # 2,828.57 ISK: Stripe charges ISK in whole krónur (multiples of 100)
            currency="isk",
            off_session=True,
            metadata={},
            idempotency_key="isk-off-step",
        )

    assert refused.value.stripe_code == "amount_invalid_for_currency"
    assert localstripe.sent("POST", CHARGE) == []


# --- Stripe unreachable or failing: pending, bounded retries ------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 502, "body": {"error": {"type": "api_error"}}},
        {"status": 429},
        {"drop": True},
    ],
    ids=["500", "502", "429", "connection closed"],
)
def test_stripe_failing_leaves_the_payment_pending_until_reconciliation_sends_it_again(localstripe, fault):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    # The first try and the stripe client's own retries.
    localstripe.fault(CHARGE, **fault, times=1 + NETWORK_RETRIES)

    outcome = services.payment_start_or_retry(seat_change=change)

    payment = Payment.objects.get()
    assert (outcome.status, outcome.message) == ("pending", services.UNRESOLVED_MESSAGE)
    assert (payment.processor_failures, payment.retry_at is not None) == (1, True)
    sent_first = len(localstripe.sent("POST", CHARGE))

    # Not before its backoff has run out...
    services.payments_reconcile(now=timezone.now() + timedelta(minutes=6))
    assert len(localstripe.sent("POST", CHARGE)) == sent_first

    # ...then with the same idempotency key, and Stripe answers this time.
    localstripe.clear_faults()
    reconcile_later(hours=1)

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    keys = {request["idempotency_key"] for request in localstripe.sent("POST", CHARGE)}
    assert keys == {f"seatmgr-payment-{payment.pk}-attempt-1-charge"}


def test_stripe_failing_every_time_fails_the_payment_after_the_last_retry(localstripe):
    change = awaiting_payment()
    am = with_account_manager(change)
    give_card_on_file(localstripe, change.subscription)
    localstripe.fault(CHARGE, status=503, times=1000)
    sent_per_try = 1 + NETWORK_RETRIES  # the stripe client's own retries
    services.payment_start_or_retry(seat_change=change)
    payment = Payment.objects.get()

    delays = []
    for run in range(1, services.MAX_PROCESSOR_FAILURES):
        payment.refresh_from_db()
        assert payment.status == "pending" and payment.processor_failures == run
        delays.append(round((payment.retry_at - payment.updated_at).total_seconds() / 60))
        reconcile_later(hours=3 * run)

    payment.refresh_from_db()
    assert delays == [10, 20, 40, 80, 120]
    assert (payment.status, payment.failure_code) == ("failed", "processor_unavailable")
    assert payment.failure_message == services.GAVE_UP_MESSAGE
    assert len(localstripe.sent("POST", CHARGE)) == services.MAX_PROCESSOR_FAILURES * sent_per_try
    assert len(emails_to(am)) == 1
    assert len(emails_to(change.subscription.admin_email)) == 1  # nobody was on the page

    reconcile_later(hours=30)
    assert len(localstripe.sent("POST", CHARGE)) == services.MAX_PROCESSOR_FAILURES * sent_per_try


# --- Not Stripe's doing at all ----------------------------------------------------------------


def test_a_programming_error_is_not_reported_as_the_processor_being_unavailable(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    # A 200 whose PaymentIntent lacks what the gateway reads: our code, not Stripe, is wrong.
    localstripe.fault(CHARGE, status=200, body={"id": "pi_incomplete", "object": "payment_intent"})

    with pytest.raises(KeyError):
        services.payment_start_or_retry(seat_change=change)


def test_no_card_on_file_is_shown_when_stripe_refuses_to_show_it(localstripe):
    # The payment page then offers a new card, instead of an error page.
    change = awaiting_payment()
    change.subscription.stripe_customer_id = "cus_not_in_this_account"

    assert selectors.card_on_file(change.subscription) is None
