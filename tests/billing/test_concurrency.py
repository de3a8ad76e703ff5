"""Double clicks, two tabs, retries: one seat change is charged once, ever."""

import threading

import pytest
from django.db import connection

from billing import services
from billing.models import Payment
from subscriptions.models import SeatSync, Subscription
from tests.billing.factories import awaiting_payment, give_card_on_file

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]

CALLERS = 20


def test_twenty_concurrent_pay_calls_make_one_payment_intent_and_one_charge(localstripe):
    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    start = threading.Barrier(CALLERS)
    outcomes, errors = [], []

    def pay():
        try:
            start.wait()
            outcomes.append(services.payment_start_or_retry(seat_change=change))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(outcomes) == CALLERS
    payment = Payment.objects.get()
    assert (payment.status, payment.attempts) == ("succeeded", 1)
    intents = localstripe.payment_intents(customer=customer)
    assert [intent["id"] for intent in intents] == [payment.stripe_payment_intent_id]
    assert [intent["status"] for intent in intents] == ["succeeded"]
    # Every caller was told the truth: paid, or paying (the one charge was in flight).
    assert {outcome.status for outcome in outcomes} <= {"succeeded", "pending"}
    assert sum(outcome.succeeded for outcome in outcomes) >= 1
    subscription = Subscription.objects.get()
    assert (subscription.quantity, subscription.seats_version, SeatSync.objects.count()) == (5, 1, 1)
