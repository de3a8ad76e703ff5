"""Card-on-file charges through a real Celery worker process, killed (SIGKILL) at the
worst moments or losing its PostgreSQL connections (pg_terminate_backend from another
connection): in the end each change is charged exactly once, paid once, and its
customer is never asked to pay again. Reconciliation runs in the test, as beat would
run it later (`now` moved on)."""

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test import RequestFactory
from django.utils import timezone

from billing import services
from billing.gateways import STRIPE_API_VERSION
from billing.models import Payment, StripeEvent
from devmail.models import StoredEmail
from seatmgr.celery import app as celery_app
from subscriptions.models import Subscription
from tests.billing.factories import awaiting_payment, give_card_on_file
from tests.celery_worker import Worker
from tests.celery_worker import test_database_url as database_url_for_workers
from tests.stripe_server import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, signed_webhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("use_localstripe")]

CHARGE = "/v1/payment_intents"


@pytest.fixture(scope="module")
def stripe_worker(django_db_setup, django_db_blocker, localstripe):
    """A worker on the test database and the session's Stripe stand-in; each test
    starts it when it wants it (`start`), and may kill it."""
    with django_db_blocker.unblock():
        database_url = database_url_for_workers()
    celery_app.control.purge()
    worker = Worker(database_url, name="billing-crashes")
    worker.env.update(
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=localstripe.url,
    )
    yield worker
    if worker.process is not None and worker.process.poll() is None:
        worker.kill()  # nothing left to finish
    celery_app.control.purge()


def start(worker: Worker) -> None:
    if worker.process is None or worker.process.poll() is not None:
        worker.start()


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def card_on_file_change(localstripe):
    change = awaiting_payment()
    return change, give_card_on_file(localstripe, change.subscription)


def queue_charge(change) -> Payment:
    """What signing an increase does: the attempt claimed, its charge queued for a worker."""
    return services.payment_card_on_file_queue(seat_change=change)


def reconcile_later() -> None:
    """Beat's reconciliation, after the attempt's backoff has run out, in this process."""
    services.payments_reconcile(now=timezone.now() + timedelta(hours=1))


def succeeded_intents(localstripe, customer: str) -> list[dict]:
    return [i for i in localstripe.payment_intents(customer=customer) if i["status"] == "succeeded"]


def asked_to_pay() -> list[str]:
    """Emails asking a customer to pay or confirm, from this process and the worker."""
    subjects = [m.subject for m in mail.outbox] + list(StoredEmail.objects.values_list("subject", flat=True))
    return [s for s in subjects if s.startswith(("Payment needed", "Please confirm", "We could not"))]


def worker_idle(worker: Worker) -> bool:
    """The worker runs no task and holds none back (asked over the broker)."""
    inspect = celery_app.control.inspect(timeout=0.5)
    active, reserved = inspect.active() or {}, inspect.reserved() or {}
    busy = [task for tasks in [*active.values(), *reserved.values()] for task in tasks]
    return bool(active) and not busy


def terminate_other_connections() -> int:
    """pg_terminate_backend every other connection to the test database (the worker's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_a_worker_killed_before_the_charge_left_leaves_it_to_be_sent_once_without_a_word(
    stripe_worker, localstripe
):
    change, customer = card_on_file_change(localstripe)
    payment = queue_charge(change)  # waits in Redis: no worker yet
    # The worker reads the card on file; the answer is slow, and the worker is killed.
    read_card = f"/v1/customers/{customer}"
    localstripe.fault(read_card, method="GET", delay=30)
    asked = len(localstripe.sent("GET", read_card))  # the page asked, before queueing
    start(stripe_worker)
    assert wait_until(lambda: len(localstripe.sent("GET", read_card)) > asked)
    stripe_worker.kill()
    payment.refresh_from_db()
    assert (payment.status, payment.charge_sent_at) == ("pending", None)
    assert payment.attempt_sent_at is not None  # the dead worker had taken it
    localstripe.clear_faults()

    reconcile_later()

    payment.refresh_from_db()
    [intent] = localstripe.payment_intents(customer=customer)
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", intent["id"])
    assert intent["status"] == "succeeded"
    assert asked_to_pay() == []
    assert Subscription.objects.get(pk=change.subscription_id).quantity == 5


def test_a_worker_killed_after_stripe_charged_is_found_by_its_key_not_charged_again(
    stripe_worker, localstripe
):
    change, customer = card_on_file_change(localstripe)
    payment = queue_charge(change)
    # Stripe charges the card; its answer is slow and the worker dies before it comes.
    # No webhook gets through (none is registered).
    localstripe.fault(CHARGE, delay=30)
    start(stripe_worker)
    assert wait_until(lambda: succeeded_intents(localstripe, customer))
    stripe_worker.kill()
    payment.refresh_from_db()
    assert (payment.status, payment.stripe_payment_intent_id) == ("pending", "")
    assert payment.charge_sent_at is not None
    localstripe.clear_faults()

    reconcile_later()

    payment.refresh_from_db()
    [intent] = localstripe.payment_intents(customer=customer)  # no second charge
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", intent["id"])
    assert [r["replayed"] for r in localstripe.sent("POST", CHARGE)] == [False, True]
    assert asked_to_pay() == []
    reconcile_later()  # and again: nothing changes
    assert Payment.objects.get(pk=payment.pk).receipt_number == payment.receipt_number
    assert len(localstripe.payment_intents(customer=customer)) == 1


def test_connections_terminated_mid_charge_end_with_exactly_one_charge_per_change(stripe_worker, localstripe):
    start(stripe_worker)
    changes = [card_on_file_change(localstripe) for _ in range(3)]
    # Each charge's answer takes a second; as each one reaches Stripe, the worker's
    # database connections are terminated (a task just starting loses its own too).
    localstripe.fault(CHARGE, delay=1, times=3)
    payments = [queue_charge(change) for change, _customer in changes]
    terminated_for, deadline = 0, time.monotonic() + 4
    while terminated_for < 3 and time.monotonic() < deadline:
        arrived = len(localstripe.sent("POST", CHARGE))
        if arrived > terminated_for:
            terminate_other_connections()
            terminated_for = arrived
        time.sleep(0.05)
    assert wait_until(lambda: worker_idle(stripe_worker))
    assert terminated_for >= 1  # at least one charge lost its connection while at Stripe
    assert any(Payment.objects.get(pk=p.pk).status == "pending" for p in payments)  # left unrecorded

    # Whatever the worker could not record (or send), reconciliation settles.
    reconcile_later()

    for payment, (change, customer) in zip(payments, changes, strict=True):
        payment.refresh_from_db()
        [intent] = localstripe.payment_intents(customer=customer)
        assert (payment.status, payment.stripe_payment_intent_id, intent["status"]) == (
            "succeeded",
            intent["id"],
            "succeeded",
        )
        assert Subscription.objects.get(pk=change.subscription_id).quantity == 5
    assert asked_to_pay() == []


def test_a_webhook_after_postgresql_dropped_the_connection_is_answered_not_failed():
    """A web process keeps its connection between requests (CONN_MAX_AGE); one that
    PostgreSQL dropped meanwhile is checked and replaced as the next request starts
    (CONN_HEALTH_CHECKS), instead of failing it with a 500. The request goes through
    Django's WSGI handler as gunicorn calls it (the test client skips that check)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connections.create_connection("default")
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    other.close()
    event = {
        "id": "evt_after_the_drop",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {"id": "cus_after_the_drop", "object": "customer"}},
    }
    body, signature = signed_webhook(event)
    environ = (
        RequestFactory()
        .post(
            "/billing/stripe/webhook/",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
        .environ
    )
    answered = []

    response = WSGIHandler()(environ, lambda status, headers: answered.append(status))

    assert answered == ["200 OK"], b"".join(response)
    assert StripeEvent.objects.filter(stripe_id="evt_after_the_drop").exists()
