"""A charge whose outcome never reached us is resolved by asking Stripe before anything
is sent again: the same request with its idempotency key (Stripe answers with the first
PaymentIntent for 24 h), else a search by our metadata. A charge that never left is
sent again without troubling the customer; one found for a payment already paid is
refunded, and the customer told once. Stored webhook events are processed first."""

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from billing import services, tasks
from billing.gateways import STRIPE_API_VERSION
from billing.models import Payment, StrayCharge, StripeEvent
from billing.money import format_money
from subscriptions.models import Subscription
from tests.billing.factories import awaiting_payment, give_card_on_file
from tests.stripe_server import signed_webhook

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]

CHARGE = "/v1/payment_intents"
SEARCH = "/v1/payment_intents/search"
WEBHOOK = "/billing/stripe/webhook/"


@pytest.fixture
def impatient_gateway(monkeypatch):
    """The gateway gives up reading an answer after 0.5 s (instead of 30 s), and the
    stripe client does not try again by itself: each call is one request."""
    from billing.gateways import _gateway
    from billing.gateways import stripe as gateway_module

    monkeypatch.setattr(gateway_module, "TIMEOUT", (5, 0.5))
    monkeypatch.setattr(gateway_module, "NETWORK_RETRIES", 0)
    _gateway.cache_clear()
    yield
    _gateway.cache_clear()


def later(**delta) -> None:
    """Reconciliation, as beat runs it, once every backoff has run out."""
    services.payments_reconcile(now=timezone.now() + timedelta(**delta))


def card_on_file_change(localstripe):
    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    return change, customer


def lose_the_answer(localstripe, change) -> Payment:
    """The card on file is charged off-session (as right after signing) and Stripe
    charges it, but its answer comes too late: the worker has given up on it."""
    localstripe.fault(CHARGE, delay=2)
    payment = services.payment_card_on_file_queue(seat_change=change)
    payment.refresh_from_db()
    assert (payment.status, payment.stripe_payment_intent_id) == ("pending", "")
    assert payment.charge_sent_at is not None
    localstripe.clear_faults()
    return payment


def succeeded_intents(localstripe, customer) -> list[dict]:
    return [i for i in localstripe.payment_intents(customer=customer) if i["status"] == "succeeded"]


def emails(subject_start: str) -> list:
    return [m for m in mail.outbox if m.subject.startswith(subject_start)]


def customer_addresses(change) -> list[str]:
    return sorted({change.subscription.admin_email, change.signer_email})


def asked_to_pay() -> list:
    return [m for m in mail.outbox if m.subject.startswith(("Payment needed", "Please confirm"))]


def event_for(intent: dict, event_id: str, type: str = "payment_intent.succeeded") -> dict:
    return {
        "id": event_id,
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "type": type,
        "created": int(time.time()),
        "data": {"object": intent},
    }


def deliver(client, event: dict):
    body, signature = signed_webhook(event)
    return client.post(WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def stored_but_never_queued(event: dict) -> StripeEvent:
    """What a web worker killed between the event's commit and its enqueue leaves."""
    return StripeEvent.objects.create(
        stripe_id=event["id"], type=event["type"], api_version=event["api_version"], payload=event
    )


# --- Sent, never answered: asked about, never charged again --------------------------------


@pytest.mark.usefixtures("impatient_gateway")
def test_a_charge_whose_answer_was_lost_is_found_by_its_key_and_paid_once(localstripe):
    change, customer = card_on_file_change(localstripe)
    payment = lose_the_answer(localstripe, change)

    later(hours=1)

    payment.refresh_from_db()
    [intent] = succeeded_intents(localstripe, customer)
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", intent["id"])
    assert [r["replayed"] for r in localstripe.sent("POST", CHARGE)][-1] is True
    assert asked_to_pay() == []
    assert sorted(m.to[0] for m in emails("Receipt")) == customer_addresses(change)  # once each


@pytest.mark.usefixtures("impatient_gateway")
def test_after_a_day_the_charge_is_looked_up_by_search_not_sent_again(localstripe):
    change, customer = card_on_file_change(localstripe)
    payment = lose_the_answer(localstripe, change)
    # Stripe keeps an idempotency key for 24 h: after that, sending the request again
    # could charge again.
    Payment.objects.filter(pk=payment.pk).update(charge_sent_at=timezone.now() - timedelta(hours=25))
    posted = len(localstripe.sent("POST", CHARGE))

    later(hours=1)

    payment.refresh_from_db()
    [intent] = succeeded_intents(localstripe, customer)
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", intent["id"])
    assert len(localstripe.sent("POST", CHARGE)) == posted  # nothing sent again
    [search] = localstripe.sent("GET", SEARCH)
    assert (
        search["params"]["query"] == f"metadata['seatmgr_payment']:'{payment.pk}' AND metadata['attempt']:'1'"
    )


@pytest.mark.usefixtures("impatient_gateway")
def test_after_a_day_with_nothing_found_the_charge_that_never_arrived_is_sent(localstripe):
    change, customer = card_on_file_change(localstripe)
    # The connection drops before Stripe reads the request: nothing is charged.
    localstripe.fault(CHARGE, drop=True)
    payment = services.payment_card_on_file_queue(seat_change=change)
    assert localstripe.payment_intents(customer=customer) == []
    Payment.objects.filter(pk=payment.pk).update(charge_sent_at=timezone.now() - timedelta(hours=25))

    later(hours=1)

    payment.refresh_from_db()
    [intent] = succeeded_intents(localstripe, customer)
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", intent["id"])
    assert asked_to_pay() == []


@pytest.mark.usefixtures("impatient_gateway")
def test_a_key_stripe_holds_for_other_parameters_is_resolved_by_search_once_it_has_caught_up(localstripe):
    change, customer = card_on_file_change(localstripe)
    payment = lose_the_answer(localstripe, change)
    # What we would send now differs from what went with the key (the request that ran
    # was off-session): Stripe refuses to replay it (400 idempotency_error).
    Payment.objects.filter(pk=payment.pk).update(customer_present=True)
    localstripe.standin.search_lag(3600)  # and its search has not caught up yet

    later(hours=1)

    payment.refresh_from_db()
    assert payment.status == "pending"  # an empty search proves nothing yet: it waits
    assert payment.processor_failures >= 1 and asked_to_pay() == []
    assert localstripe.sent("POST", CHARGE)[-1]["error"]["type"] == "idempotency_error"

    localstripe.standin.search_lag(0)
    later(hours=3)

    payment.refresh_from_db()
    [intent] = succeeded_intents(localstripe, customer)
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", intent["id"])
    assert len(localstripe.payment_intents(customer=customer)) == 1


# --- Never sent: sent again, without troubling the customer -----------------------------


@pytest.mark.usefixtures("impatient_gateway")
def test_stripe_unreachable_before_the_charge_leaves_it_pending_and_it_is_sent_later(localstripe):
    change, customer = card_on_file_change(localstripe)
    # Reading the card on file fails, for the page and then for the task that charges it.
    localstripe.fault(f"/v1/customers/{customer}", method="GET", status=503, times=2)

    payment = services.payment_card_on_file_queue(seat_change=change)

    payment.refresh_from_db()
    assert (payment.status, payment.charge_sent_at) == ("pending", None)
    assert localstripe.sent("POST", CHARGE) == []
    assert mail.outbox == []

    localstripe.clear_faults()
    later(hours=1)

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert len(succeeded_intents(localstripe, customer)) == 1
    assert asked_to_pay() == []
    assert Subscription.objects.get(pk=change.subscription_id).quantity == 5


def test_a_customer_paying_again_replaces_an_attempt_whose_charge_never_left(localstripe):
    change, customer = card_on_file_change(localstripe)
    payment = Payment.objects.create(  # taken by a worker that died before the request
        organization_id=change.organization_id,
        subscription=change.subscription,
        seat_change=change,
        amount=change.amount_due,
        currency=change.currency,
        attempts=1,
        attempt_started_at=timezone.now() - timedelta(minutes=3),
        attempt_sent_at=timezone.now() - timedelta(minutes=3),
    )

    outcome = services.payment_start_or_retry(seat_change=change)

    payment.refresh_from_db()
    assert outcome.succeeded and payment.attempts == 2
    assert len(succeeded_intents(localstripe, customer)) == 1


# --- A charge for a payment already settled: refunded, the customer told once -------------


@pytest.mark.usefixtures("impatient_gateway")
def test_a_charge_found_for_a_payment_already_paid_is_refunded_and_the_customer_told_once(
    client, localstripe
):
    change, customer = card_on_file_change(localstripe)
    lost = lose_the_answer(localstripe, change)
    # Stripe stays unreachable for reconciliation until it gives up on the attempt
    # (the customer is told nothing was taken and pays again on the page).
    Payment.objects.filter(pk=lost.pk).update(processor_failures=services.MAX_PROCESSOR_FAILURES - 1)
    localstripe.fault(CHARGE, status=503)
    later(days=1)
    assert Payment.objects.get(pk=lost.pk).status == "failed"
    localstripe.clear_faults()
    assert services.payment_start_or_retry(seat_change=change).succeeded
    payment = Payment.objects.get(pk=lost.pk)
    first = next(i for i in localstripe.payment_intents(customer=customer) if i["metadata"]["attempt"] == "1")
    mail.outbox.clear()

    # Then the first attempt's success reaches us: three deliveries, and reconciliation.
    for _ in range(3):
        assert deliver(client, event_for(first, "evt_first_attempt")).status_code == 200
    deliver(client, event_for(first, "evt_first_attempt_again"))
    tasks.reconcile_payments()

    payment.refresh_from_db()
    assert payment.status == "succeeded" and payment.stripe_payment_intent_id != first["id"]
    stray = StrayCharge.objects.get()
    assert (stray.stripe_payment_intent_id, stray.reason) == (first["id"], "duplicate_charge")
    refunds = localstripe.get(f"/v1/refunds?payment_intent={first['id']}")["data"]
    assert [r["id"] for r in refunds] == [stray.stripe_refund_id]
    told = emails("Refunded: a second charge")
    assert sorted(m.to[0] for m in told) == customer_addresses(change)  # once each
    assert f"second charge of {format_money(stray.amount, stray.currency)}" in told[0].body
    assert Subscription.objects.get(pk=change.subscription_id).quantity == 5


# --- Webhooks: stored but never queued -------------------------------------------------


@pytest.mark.usefixtures("impatient_gateway")
def test_a_redelivered_webhook_stored_but_never_processed_is_processed(client, localstripe):
    change, customer = card_on_file_change(localstripe)
    payment = lose_the_answer(localstripe, change)
    [intent] = succeeded_intents(localstripe, customer)
    event = event_for(intent, "evt_stored_not_queued")
    stored_but_never_queued(event)

    response = deliver(client, event)

    assert response.json() == {"received": "evt_stored_not_queued", "duplicate": True}
    stored = StripeEvent.objects.get()
    assert stored.processed_at is not None and stored.attempts == 1
    payment.refresh_from_db()
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", intent["id"])


@pytest.mark.usefixtures("impatient_gateway")
def test_reconciliation_processes_a_stored_event_before_it_asks_stripe_again(localstripe):
    change, customer = card_on_file_change(localstripe)
    payment = lose_the_answer(localstripe, change)
    [intent] = succeeded_intents(localstripe, customer)
    stored_but_never_queued(event_for(intent, "evt_before_reconciliation"))  # a minute old
    posted = len(localstripe.sent("POST", CHARGE))

    later(hours=1)

    payment.refresh_from_db()
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", intent["id"])
    assert StripeEvent.objects.get().outcome == f"payment {payment.pk}: succeeded"
    assert len(localstripe.sent("POST", CHARGE)) == posted  # Stripe was not asked again
    assert localstripe.sent("GET", SEARCH) == []


# --- Guarantees that are code, not docstrings -------------------------------------------


def test_a_charge_is_never_sent_from_inside_a_transaction_that_could_roll_its_claim_back(localstripe):
    """The claim, and the mark that the charge is sent, commit before the request
    (durable transactions): inside an outer transaction the service refuses at once."""
    change, customer = card_on_file_change(localstripe)

    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.payment_start_or_retry(seat_change=change)

    assert not Payment.objects.exists()
    assert localstripe.sent("POST", CHARGE) == []
    assert services.payment_start_or_retry(seat_change=change).succeeded  # on its own, it pays
    assert len(succeeded_intents(localstripe, customer)) == 1
