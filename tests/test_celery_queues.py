"""Work is queued by urgency (seatmgr/settings.py): customer-facing money and pushes,
emails, periodic batch work. A burst of emails never stands in front of a customer's
paid push: production's workers (docker-compose.yml) are started as compose starts
them, 10,000 emails are queued, and a paid change still reaches the org at once."""

import os
import re
import time
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings

from devmail.models import StoredEmail
from licensing.connectors import webhook
from licensing.models import ConnectedOrg
from seatmgr.celery import app as celery_app
from subscriptions.models import SeatSync
from subscriptions.tasks import send_retrieved_links
from tests import celery_worker
from tests.factories import SubscriptionFactory, paid_seat_change
from tests.receivers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[1]
QUEUED_EMAILS = 10_000
PUSH_DEADLINE = 20.0  # seconds; the push is not timed, only bounded


def queue_of(task_name: str) -> str:
    return celery_app.amqp.router.route({}, task_name)["queue"].name


def project_tasks() -> list[str]:
    celery_app.loader.import_default_modules()
    return sorted(name for name in celery_app.tasks if not name.startswith("celery."))


def test_each_kind_of_work_has_a_queue_of_its_own():
    queues = settings.CELERY_QUEUES_BY_KIND
    assert sorted(queues) == ["batch", "email", "urgent"]
    assert len(set(queues.values())) == 3
    assert set(celery_app.conf.task_queues) == set(queues.values())


def test_every_task_is_routed_by_name_to_the_queue_of_its_kind():
    by_kind = settings.CELERY_QUEUES_BY_KIND
    unrouted = [name for name in project_tasks() if name not in settings.CELERY_TASK_ROUTES]
    assert unrouted == [], "a task with no route would wait on the default queue behind batch work"
    assert queue_of("licensing.tasks.deliver_seat_sync") == by_kind["urgent"]
    assert queue_of("billing.tasks.process_stripe_event") == by_kind["urgent"]
    assert queue_of("billing.tasks.send_payment_attempt") == by_kind["urgent"]
    assert queue_of("billing.tasks.send_receipt") == by_kind["email"]
    assert queue_of("subscriptions.tasks.send_retrieved_links") == by_kind["email"]
    assert queue_of("subscriptions.tasks.roll_subscription_periods") == by_kind["batch"]
    assert queue_of("licensing.tasks.requeue_seat_syncs") == by_kind["batch"]


def compose_worker_queues() -> dict[str, list[str]]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    workers = {}
    for name, service in services.items():
        command = service.get("command")
        if isinstance(command, str) and command.startswith("celery -A seatmgr worker "):
            workers[name] = re.search(r"(?:-Q|--queues)[ =](\S+)", command).group(1).split(",")
    return workers


def test_compose_serves_every_queue_and_the_urgent_one_alone():
    workers = compose_worker_queues()
    served = {queue for queues in workers.values() for queue in queues}
    assert served == {"urgent", "email", "batch"}
    assert ["urgent"] in workers.values(), "paid pushes would wait for a worker busy with emails"


def wait_until(condition, timeout=30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.release()
    server.stop()


@pytest.fixture
def production_workers(django_db_setup, django_db_blocker):
    """The workers as compose runs them: one for urgent work, one for emails and batch."""
    with django_db_blocker.unblock():
        database_url = celery_worker.test_database_url()
    by_kind = settings.CELERY_QUEUES_BY_KIND
    celery_app.control.purge()
    workers = [
        celery_worker.Worker(database_url, "queues-urgent", queues=[by_kind["urgent"]]),
        celery_worker.Worker(database_url, "queues-background", queues=[by_kind["email"], by_kind["batch"]]),
    ]
    try:
        for worker in workers:
            worker.start()
        yield workers
    finally:
        for worker in workers:
            worker.stop()
        celery_app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_a_paid_push_is_delivered_while_ten_thousand_emails_are_queued(production_workers, receiver):
    customer = SubscriptionFactory(quantity=3, admin_email="ada@acme.example")
    ConnectedOrg.objects.create(
        organization=customer.organization,
        kind=ConnectedOrg.Kind.WEBHOOK,
        webhook_url=receiver.url,
        webhook_secret=webhook.new_secret(),
    )
    # Another customer's admin asks for their links 10,000 times: real emails, each
    # rendered, stored by the workers' email backend (the dev mailbox) and audited.
    SubscriptionFactory(admin_email="grace@globex.example")
    with celery_app.producer_or_acquire() as producer:
        for _ in range(QUEUED_EMAILS):
            send_retrieved_links.apply_async(("grace@globex.example",), producer=producer)

    paid_seat_change(customer, 5)

    assert receiver.wait_for(lambda r: len(r.accepted) == 1, timeout=PUSH_DEADLINE)
    sent_by_then = StoredEmail.objects.filter(to="grace@globex.example").count()
    still_queued = redis.Redis.from_url(os.environ["REDIS_URL"]).llen(settings.CELERY_QUEUES_BY_KIND["email"])
    assert receiver.accepted[0].json["seats"] == 5
    assert wait_until(lambda: SeatSync.objects.get(subscription=customer).status == "delivered")
    # Most emails were still waiting when the count landed, and they were being sent.
    assert still_queued > QUEUED_EMAILS // 2
    assert sent_by_then < QUEUED_EMAILS // 2
    assert wait_until(lambda: StoredEmail.objects.filter(to="grace@globex.example").count() > sent_by_then)
    print(f"push landed with {sent_by_then} emails sent and {still_queued} still queued")
