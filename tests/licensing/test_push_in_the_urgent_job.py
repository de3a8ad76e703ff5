"""A paid change's push runs in the urgent worker job that applied it, not in a task of
its own (one worker hand-off less for what the customer waits for); a push that fails
there is retried by its task, and anywhere else the push is queued as before.

Tasks here go to the tests' Redis, where no worker listens: what a job queued is read
back from its queue."""

import json
import os

import pytest
import redis
from django.conf import settings

import outbox
from outbox import services as outbox_services
from subscriptions import seat_changes
from subscriptions.models import SeatChange, SeatSync
from tests.factories import signed_seat_change

URGENT = settings.CELERY_QUEUES_BY_KIND["urgent"]


def apply_paid_change(*, seat_change_id: int) -> None:
    """An urgent job that applies a paid change, as processing its payment does."""
    seat_changes.seat_change_apply(seat_change=SeatChange.objects.get(pk=seat_change_id), via="payment")


@pytest.fixture
def broker():
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.delete(URGENT)
    yield client
    client.delete(URGENT)


def queued_tasks(broker) -> list[tuple[str, dict]]:
    """(task name, headers) of every message waiting in the urgent queue."""
    messages = [json.loads(raw) for raw in broker.lrange(URGENT, 0, -1)]
    return [(message["headers"]["task"], message["headers"]) for message in messages]


def urgent_job_applying(subscription, new_quantity: int) -> int:
    change = signed_seat_change(subscription, new_quantity)
    assert change.state == SeatChange.State.AWAITING_PAYMENT
    return outbox.enqueue(
        apply_paid_change, key=f"test-apply:{change.pk}", kind="urgent", seat_change_id=change.pk
    )


@pytest.mark.django_db(transaction=True)
def test_in_a_worker_the_push_lands_before_the_job_ends_and_no_task_is_queued(
    webhook_subscription, receiver, broker
):
    message_id = urgent_job_applying(webhook_subscription, 5)
    broker.delete(URGENT)  # the job's own publication: the test runs it, as the worker's task would

    assert outbox_services.run(message_id, ticket=0, in_worker=True) == "done"

    assert [push.json["seats"] for push in receiver.accepted] == [5]
    assert SeatSync.objects.get(subscription=webhook_subscription).status == SeatSync.Status.DELIVERED
    assert SeatChange.objects.get(subscription=webhook_subscription).state == SeatChange.State.APPLIED
    assert queued_tasks(broker) == []


@pytest.mark.django_db(transaction=True)
def test_a_push_that_fails_in_the_job_is_retried_by_its_task_after_the_backoff(
    webhook_subscription, receiver, broker
):
    message_id = urgent_job_applying(webhook_subscription, 5)
    broker.delete(URGENT)
    receiver.fail_next(1)

    assert outbox_services.run(message_id, ticket=0, in_worker=True) == "done"

    sync = SeatSync.objects.get(subscription=webhook_subscription)
    assert sync.status == SeatSync.Status.PENDING and sync.attempts == 1
    assert SeatChange.objects.get(subscription=webhook_subscription).state == SeatChange.State.APPLYING
    [(name, headers)] = queued_tasks(broker)
    assert name == "licensing.tasks.deliver_seat_sync"
    assert headers["eta"]  # after the backoff, not at once
    assert headers["argsrepr"] == repr((sync.pk, webhook_subscription.pk))


@pytest.mark.django_db(transaction=True)
def test_outside_a_worker_job_the_push_is_queued_not_made(webhook_subscription, receiver, broker):
    # A job run in the process that queued it (as the embedded default runs them), or no
    # job at all (an account manager's approval in a web request): no HTTP call here.
    message_id = urgent_job_applying(webhook_subscription, 5)
    broker.delete(URGENT)

    assert outbox_services.run(message_id, ticket=0, in_worker=False) == "done"

    assert receiver.accepted == []
    assert [name for name, _ in queued_tasks(broker)] == ["licensing.tasks.deliver_seat_sync"]
    assert SeatSync.objects.get(subscription=webhook_subscription).status == SeatSync.Status.PENDING
