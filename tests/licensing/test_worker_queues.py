"""A burst of emails never stands in front of a customer's paid push: the workers are
started as docker-compose.yml starts them (one for the urgent queue, one for emails
and batch work), 10,000 emails are queued, and a paid change still reaches the org
while most of them wait."""

import os

import pytest
import redis
from django.conf import settings

from devmail.models import StoredEmail
from seatmgr.celery import app as celery_app
from subscriptions.models import SeatSync
from subscriptions.tasks import send_retrieved_links
from tests import celery_worker
from tests.celery_worker import wait_until
from tests.factories import SubscriptionFactory, paid_seat_change

QUEUED_EMAILS = 10_000
PUSH_DEADLINE = 20.0  # seconds: a bound on the wait, not a timing


@pytest.fixture
def compose_workers(django_db_setup, django_db_blocker):
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
            worker.launch()
        for worker in workers:
            worker.wait_ready()
        yield workers
    finally:
        for worker in workers:
            worker.ask_to_stop()
        for worker in workers:
            worker.wait_stopped()
        celery_app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_a_paid_push_is_delivered_while_ten_thousand_emails_are_queued(
    compose_workers, webhook_subscription, receiver
):
    # Another customer's admin asks for their links 10,000 times: real emails, each
    # rendered, audited and stored by the workers' email backend (the dev mailbox).
    SubscriptionFactory(admin_email="grace@globex.example")
    with celery_app.producer_or_acquire() as producer, producer.batch():  # Redis pipelines
        for _ in range(QUEUED_EMAILS):
            send_retrieved_links.apply_async(("grace@globex.example",), producer=producer)

    paid_seat_change(webhook_subscription, 5)

    assert receiver.wait_for(lambda r: len(r.accepted) == 1, timeout=PUSH_DEADLINE)
    sent_by_then = StoredEmail.objects.filter(to="grace@globex.example").count()
    still_queued = redis.Redis.from_url(os.environ["REDIS_URL"]).llen(settings.CELERY_QUEUES_BY_KIND["email"])
    assert receiver.accepted[0].json["seats"] == 5
    assert wait_until(lambda: SeatSync.objects.get(subscription=webhook_subscription).status == "delivered")
    # Most emails were still waiting when the count landed, and they were being sent.
    assert still_queued > QUEUED_EMAILS // 2
    assert sent_by_then < QUEUED_EMAILS // 2
    assert wait_until(lambda: StoredEmail.objects.filter(to="grace@globex.example").count() > sent_by_then)
