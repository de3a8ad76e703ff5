"""An urgent job run by a worker does not publish the emails and batch work it
queues: they wait `FOLLOW_UP_HOLD` for the dispatcher, so that a burst of paid
changes is not slowed by its own receipts. Its work of the same urgency, and
anything queued elsewhere (a web request), is published at its commit as before."""

import pytest
from django.utils import timezone

import outbox
from outbox import services
from outbox.models import OutboxMessage

from . import jobs
from .helpers import runs, time_passes

pytestmark = pytest.mark.django_db


def urgent_job(label: str) -> int:
    return outbox.enqueue(jobs.pay_and_follow_up, key=label, kind="urgent", label=label)


def test_an_urgent_job_in_a_worker_leaves_its_email_to_the_dispatcher(
    celery_eager, django_capture_on_commit_callbacks
):
    pk = urgent_job("paid")
    with django_capture_on_commit_callbacks(execute=True):
        started = timezone.now()
        assert services.run(pk, ticket=0, in_worker=True) == "done"

    assert runs("paid") == 1
    assert runs("paid-urgent") == 1  # published at the job's commit (eager here: run at once)
    assert runs("paid-email") == 0
    email = OutboxMessage.objects.get(key="paid:email")
    assert email.attempts == 0
    assert started + services.FOLLOW_UP_HOLD <= email.due_at <= timezone.now() + services.FOLLOW_UP_HOLD

    assert services.dispatch_due() == 0  # held
    time_passes(services.FOLLOW_UP_HOLD.total_seconds())
    assert services.dispatch_due() == 1
    assert runs("paid-email") == 1
    assert OutboxMessage.objects.get(key="paid:email").status == "done"


def test_the_same_job_outside_a_worker_publishes_its_email_at_once(
    celery_eager, django_capture_on_commit_callbacks
):
    pk = urgent_job("in-process")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run(pk, ticket=0) == "done"  # as the embedded default runs it

    assert runs("in-process-email") == 1


def test_the_dispatcher_hands_on_a_backlog_batch_after_batch_in_one_run(celery_eager):
    for number in range(5):
        outbox.enqueue(jobs.record, key=f"backlog-{number}", kind="email", label="backlog")  # never published
    time_passes(services.PUBLISH_GRACE.total_seconds() + 1)

    assert services.dispatch_due(batch_size=2) == 5
    assert runs("backlog") == 5
