"""Reconciliation: what Stripe knows and we never heard of is found by asking Stripe."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from billing import services, tasks
from billing.gateways import stripe_gateway
from billing.gateways.stripe import NETWORK_RETRIES
from billing.models import Payment, StripeEvent
from subscriptions.models import SeatChange, Subscription
from tests.billing.factories import THREE_D_SECURE, awaiting_payment, give_card_on_file, new_card

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]


def age(payment: Payment, minutes: int = 6) -> None:
    Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))


def three_d_secure_payment(localstripe) -> tuple[SeatChange, Payment, str]:
    change = awaiting_payment()
    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, THREE_D_SECURE)
    )
    return change, Payment.objects.get(), outcome.client_secret


def test_a_payment_that_succeeded_without_its_webhook_is_found_and_applied(localstripe):
    _change, payment, secret = three_d_secure_payment(localstripe)
    localstripe.authenticate(payment.stripe_payment_intent_id, secret)  # then the tab closed
    age(payment)

    assert tasks.reconcile_payments() == {
        "signed_claimed": 0,
        "payments": 1,
        "events": 0,
        "stray_refunds": 0,
        "renewal_setups": 0,
    }

    payment.refresh_from_db()
    assert payment.status == "succeeded" and payment.receipt_number
    assert Subscription.objects.get().quantity == 5
    assert any(m.subject.startswith("Receipt") for m in mail.outbox)


def test_recent_payments_are_left_to_the_page_and_the_webhook(localstripe):
    _change, payment, secret = three_d_secure_payment(localstripe)
    localstripe.authenticate(payment.stripe_payment_intent_id, secret)

    assert services.payments_reconcile() == 0
    assert Payment.objects.get().status == "requires_action"


def test_an_attempt_whose_task_was_lost_is_sent(localstripe):
    change = awaiting_payment()
    give_card_on_file(localstripe, change.subscription)
    payment = Payment.objects.create(  # claimed, then the worker died before sending it
        organization_id=change.organization_id,
        subscription=change.subscription,
        seat_change=change,
        amount=change.amount_due,
        currency=change.currency,
        attempts=1,
        attempt_started_at=timezone.now() - timedelta(minutes=10),
    )
    age(payment)

    services.payments_reconcile()

    assert Payment.objects.get().status == "succeeded"
    assert Subscription.objects.get().quantity == 5


def test_one_run_of_the_task_settles_more_than_a_batch(localstripe, monkeypatch):
    """A backlog (lost webhooks at a billing day) is settled batch after batch in one
    run, not one batch every two minutes."""
    monkeypatch.setattr(services, "RECONCILE_BATCH", 1)
    for _ in range(3):
        change = awaiting_payment()
        give_card_on_file(localstripe, change.subscription)
        age(
            Payment.objects.create(  # claimed, then the worker died before sending it
                organization_id=change.organization_id,
                subscription=change.subscription,
                seat_change=change,
                amount=change.amount_due,
                currency=change.currency,
                attempts=1,
                attempt_started_at=timezone.now() - timedelta(minutes=10),
            )
        )

    assert tasks.reconcile_payments()["payments"] == 3

    assert set(Payment.objects.values_list("status", flat=True)) == {"succeeded"}


def test_an_attempt_sent_without_an_answer_is_sent_again_with_the_same_key(localstripe):
    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    card = stripe_gateway().customer_default_card(customer)
    payment = Payment.objects.create(  # sent, then the connection dropped before the answer
        organization_id=change.organization_id,
        subscription=change.subscription,
        seat_change=change,
        amount=change.amount_due,
        currency=change.currency,
        attempts=1,
        attempt_started_at=timezone.now() - timedelta(minutes=10),
        attempt_sent_at=timezone.now() - timedelta(minutes=10),
        charge_sent_at=timezone.now() - timedelta(minutes=10),
        stripe_customer_id=customer,
        stripe_payment_method_id=card.id,
    )
    age(payment)

    services.payments_reconcile()

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert [i["id"] for i in localstripe.payment_intents(customer=customer)] == [
        payment.stripe_payment_intent_id
    ]


def test_a_bank_confirmation_left_pending_on_an_expired_change_is_cancelled(localstripe):
    change, payment, _secret = three_d_secure_payment(localstripe)
    SeatChange.objects.filter(pk=change.pk).update(state=SeatChange.State.EXPIRED)
    age(payment)
    mail.outbox.clear()

    services.payments_reconcile()

    payment.refresh_from_db()
    assert (payment.status, payment.failure_message) == ("failed", "The payment was cancelled.")
    assert stripe_gateway().payment_intent_retrieve(payment.stripe_payment_intent_id).status == "canceled"
    assert mail.outbox == []  # nothing to ask of the customer: the change is over


def test_events_whose_processing_was_lost_are_processed(localstripe):
    stored = StripeEvent.objects.create(
        stripe_id="evt_lost",
        type="customer.created",
        payload={"id": "evt_lost", "type": "customer.created", "data": {"object": {"id": "cus_1"}}},
    )
    StripeEvent.objects.filter(pk=stored.pk).update(received_at=timezone.now() - timedelta(minutes=6))

    assert tasks.reconcile_payments() == {
        "signed_claimed": 0,
        "payments": 0,
        "events": 1,
        "stray_refunds": 0,
        "renewal_setups": 0,
    }
    assert StripeEvent.objects.get().processed_at is not None


def test_a_refund_still_due_is_issued(localstripe):
    change, payment, secret = three_d_secure_payment(localstripe)
    localstripe.authenticate(payment.stripe_payment_intent_id, secret)
    Payment.objects.filter(pk=payment.pk).update(
        status=Payment.Status.REFUNDED, refund_reason="test", updated_at=timezone.now() - timedelta(minutes=6)
    )

    services.payments_reconcile()

    payment.refresh_from_db()
    assert payment.stripe_refund_id.startswith("re_") and payment.refunded_at
    assert Subscription.objects.get(pk=change.subscription_id).quantity == 3


@pytest.fixture
def impatient_gateway(monkeypatch):
    """The gateway gives up reading an answer after 0.5 s (instead of 30 s)."""
    from billing.gateways import _gateway
    from billing.gateways import stripe as gateway_module

    monkeypatch.setattr(gateway_module, "TIMEOUT", (5, 0.5))
    _gateway.cache_clear()
    yield
    _gateway.cache_clear()


@pytest.mark.usefixtures("impatient_gateway")
def test_a_charge_whose_answer_was_lost_is_asked_again_and_never_made_twice(localstripe):
    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    # Stripe charges the card, but its answer never arrives (the first try and the
    # stripe client's own retries with the same key, each answered too late).
    localstripe.fault("/v1/payment_intents", delay=2, times=1 + NETWORK_RETRIES)

    outcome = services.payment_start_or_retry(seat_change=change)

    payment = Payment.objects.get()
    assert (outcome.status, payment.status) == ("pending", "pending")
    services.payments_reconcile(now=timezone.now() + timedelta(hours=1))

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    [intent] = localstripe.payment_intents(customer=customer)  # charged once
    assert intent["id"] == payment.stripe_payment_intent_id
    charges = localstripe.sent("POST", "/v1/payment_intents")
    assert {c["idempotency_key"] for c in charges} == {f"seatmgr-payment-{payment.pk}-attempt-1-charge"}
    assert [c["replayed"] for c in charges] == [False] + [True] * (len(charges) - 1)
