"""Seat counts reach the connected org through a real Celery worker process and Redis."""

import time

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from licensing import delivery
from licensing.tasks import deliver_seat_sync
from subscriptions.models import SeatChange, SeatSync
from tests.celery_worker import celery_worker, wait_until  # noqa: F401 - the fixture
from tests.factories import paid_seat_change

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def subscription(webhook_subscription):
    return webhook_subscription


def test_a_paid_change_reaches_the_org_once_correctly_signed(celery_worker, subscription, receiver):  # noqa: F811
    change = paid_seat_change(subscription, 5)

    assert receiver.wait_for(lambda r: len(r.accepted) == 1)
    (request,) = receiver.received
    secret = subscription.organization.connected_org.webhook_secret
    assert Webhook(secret).verify(request.body, request.headers)["seats"] == 5
    assert wait_until(lambda: SeatChange.objects.get(pk=change.pk).state == "applied")
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_an_org_that_is_down_for_a_while_gets_the_count_when_it_is_back(
    celery_worker,  # noqa: F811
    subscription,
    receiver,
):
    receiver.stop()
    paid_seat_change(subscription, 5)
    sync = SeatSync.objects.get(subscription=subscription)

    assert wait_until(lambda: SeatSync.objects.get(pk=sync.pk).attempts >= 2)
    receiver.start()

    assert receiver.wait_for(lambda r: len(r.accepted) >= 1)
    assert wait_until(lambda: SeatSync.objects.get(pk=sync.pk).status == "delivered")
    assert {r.headers["webhook-id"] for r in receiver.received} == {f"seatsync_{sync.pk}"}
    assert [r.json["seats"] for r in receiver.accepted] == [5]
    sync.refresh_from_db()
    assert sync.attempts >= 3
    assert sync.attempts_log.filter(outcome="failed").count() == sync.attempts - 1


def test_a_worker_killed_mid_push_loses_nothing(celery_worker, subscription, receiver):  # noqa: F811
    receiver.stall_next()
    paid_seat_change(subscription, 5)
    sync = SeatSync.objects.get(subscription=subscription)
    assert receiver.wait_for(lambda r: len(r.received) == 1)  # the push is in flight

    celery_worker.kill()
    receiver.release()
    assert SeatSync.objects.get(pk=sync.pk).status == "pending"
    celery_worker.start()
    # The periodic requeue finds the push whose task died with the worker.
    later = timezone.now() + delivery.REQUEUE_GRACE
    assert delivery.seat_syncs_requeue(now=later, enqueue=deliver_seat_sync.delay) >= 1

    assert wait_until(lambda: SeatSync.objects.get(pk=sync.pk).status == "delivered")
    assert {r.headers["webhook-id"] for r in receiver.received} == {f"seatsync_{sync.pk}"}
    assert receiver.accepted[-1].json == receiver.received[0].json  # at least once, same push


def test_two_changes_in_quick_succession_leave_the_newer_count(celery_worker, subscription, receiver):  # noqa: F811
    paid_seat_change(subscription, 5)
    paid_seat_change(subscription, 8)

    newest = SeatSync.objects.filter(subscription=subscription).latest("version")
    assert wait_until(lambda: SeatSync.objects.get(pk=newest.pk).status == "delivered")
    assert wait_until(
        lambda: not SeatSync.objects.filter(subscription=subscription, status="pending").exists()
    )
    seats = [r.json["seats"] for r in receiver.accepted]
    assert seats[-1] == 8
    assert 5 not in seats[seats.index(8) :]
    versions = [r.json["version"] for r in receiver.accepted]
    assert versions == sorted(versions)


def test_racing_changes_while_the_org_refuses_are_applied_only_when_it_accepts(
    celery_worker,  # noqa: F811
    subscription,
    receiver,
):
    from devmail.models import StoredEmail

    receiver.stop()  # connections refused
    first = paid_seat_change(subscription, 5)
    second = paid_seat_change(subscription, 8)
    older = SeatSync.objects.get(seat_change=first)
    newer = SeatSync.objects.get(seat_change=second)

    assert wait_until(lambda: SeatSync.objects.get(pk=newer.pk).attempts >= 2)
    assert wait_until(lambda: SeatSync.objects.get(pk=older.pk).status == "superseded")
    assert set(SeatChange.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True)) == {
        "applying"
    }
    assert not StoredEmail.objects.filter(subject="Your new seat count is live").exists()

    receiver.start()
    assert wait_until(
        lambda: (
            set(SeatChange.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True))
            == {"applied"}
        )
    )
    assert [r.json["seats"] for r in receiver.accepted] == [8]  # 5 never reached the org
    live = StoredEmail.objects.filter(subject="Your new seat count is live")
    assert wait_until(lambda: live.count() == 2)  # sent just after the commit
    assert sorted(m.body.split(" now has ")[1].split(" users")[0] for m in live) == ["8", "8"]
