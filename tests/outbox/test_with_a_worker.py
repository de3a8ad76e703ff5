"""The outbox with a real Celery worker on Redis: a committed message runs in the
worker once; with the broker down at the commit of an approval (in the web
process), the approval stands, and the dispatcher later has the worker send its
email exactly once."""

import time

import pytest
from django.db import transaction

import outbox
from devmail.models import StoredEmail
from outbox import services
from outbox.models import OutboxMessage
from subscriptions.models import SeatChange
from tests.backoffice.conftest import Accounts
from tests.celery_worker import celery_worker  # noqa: F401 - the fixture

from . import jobs
from .helpers import runs, time_passes

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the worker did not get there")
        time.sleep(0.1)


def done(key: str) -> bool:
    return OutboxMessage.objects.filter(key=key, done_at__isnull=False).exists()


def test_a_committed_message_runs_once_in_the_worker(celery_worker, settings):  # noqa: F811
    settings.OUTBOX_IN_PROCESS_KINDS = []
    with transaction.atomic():
        outbox.enqueue(jobs.record, key="worker-once", kind="urgent", label="worker-once")

    wait_until(lambda: done("worker-once"))
    assert runs("worker-once") == 1
    time_passes(3600)
    assert services.dispatch_due() == 0


def test_an_approval_with_the_broker_down_at_commit_gets_its_email_once_from_the_worker(
    celery_worker,  # noqa: F811
    settings,
    client,
    broker_down,
):
    settings.OUTBOX_IN_PROCESS_KINDS = []
    accounts = Accounts()
    client.force_login(accounts.am)
    response = client.post(f"/backoffice/changes/{accounts.decrease.number}/approve/", follow=True)

    assert response.status_code == 200
    assert SeatChange.objects.get(pk=accounts.decrease.pk).state != SeatChange.State.AWAITING_APPROVAL
    key = f"seat-change-approved:{accounts.decrease.pk}"
    assert not done(key)

    broker_down()  # Redis is reachable again
    time_passes(services.PUBLISH_GRACE.total_seconds() + 1)
    assert services.dispatch_due() >= 1
    wait_until(lambda: done(key))
    approvals = StoredEmail.objects.filter(subject__startswith="Approved:")
    assert list(approvals.values_list("to", flat=True)) == ["ada@customer.example"]

    time_passes(3600)
    services.dispatch_due()  # a done message is never handed on again
    assert approvals.count() == 1
