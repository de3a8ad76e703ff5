"""Seat counts reach connected orgs through faults of the worker, Redis, PostgreSQL and the
org itself, with a real worker, beat and Redis (tests/faults/conftest.py).

Each test ends with nothing lost: every org has its subscription's newest count, no
older count arrived after a newer one, every change is applied and its admin got one
"now live" email. A lost task is found again by beat's requeue: a pending push overdue
by `REQUEUE_GRACE`, found at its next run (`requeue-seat-syncs` in
CELERY_BEAT_SCHEDULE); RECOVERY is the deadline stated for that.
"""

import pytest

from subscriptions.models import SeatChange, SeatSync
from tests.factories import paid_seat_change

from .harness import LIVE, RECOVERY, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def settled(subscription, org) -> bool:
    """The org has the subscription's count, nothing of it is waiting to be pushed, and
    every change of it is applied."""
    subscription.refresh_from_db()
    seats = org.seats()
    return (
        bool(seats)
        and seats[-1] == subscription.quantity
        and not SeatSync.objects.filter(subscription=subscription, status=SeatSync.Status.PENDING).exists()
        and not SeatChange.objects.filter(subscription=subscription, state=SeatChange.State.APPLYING).exists()
    )


def live_emails(stack, subscription) -> list:
    return [
        m for m in stack.smtp.messages if m["Subject"].strip() == LIVE and m["To"] == subscription.admin_email
    ]


def assert_nothing_lost(stack, pairs, changes_per_subscription) -> None:
    """Per org: counts in order, all signed correctly; per subscription: every change
    applied, and its admin told exactly once per change (the email is an outbox row of
    the transaction that applies the change)."""
    for subscription, org in pairs:
        versions = org.versions()
        assert versions == sorted(versions), "an older count arrived after a newer one"
        assert org.forged == 0
        expected = changes_per_subscription[subscription.pk]
        assert SeatChange.objects.filter(subscription=subscription, state="applied").count() == expected
    # Emails are sent just after the commit that applies their change; one whose send
    # failed (a dropped connection) is retried by the outbox after its backoff.
    told = wait_until(
        lambda: all(len(live_emails(stack, s)) >= changes_per_subscription[s.pk] for s, _ in pairs),
        timeout=RECOVERY,
    )
    sent = {s.admin_email: len(live_emails(stack, s)) for s, _ in pairs}
    assert told, sent
    for subscription, _ in pairs:
        assert len(live_emails(stack, subscription)) == changes_per_subscription[subscription.pk], sent


def test_a_worker_killed_mid_push_leaves_the_org_with_the_count_and_one_live_email(stack):
    subscription, org = stack.subscription_with_org(quantity=3)
    org.switch("hold")
    paid_seat_change(subscription, 5)
    assert wait_until(lambda: org.in_flight == 1, timeout=20)  # the push is in the org's hands

    stack.supervisor.kill_worker()  # and the supervisor starts it again, as compose would
    org.switch("accept")  # the org applies it, but nobody is there to hear it answered

    assert wait_until(lambda: settled(subscription, org), timeout=RECOVERY), org.seats()
    assert org.seats()[-1] == 5
    assert len({d.webhook_id for d in org.accepted}) == 1  # the same push, redelivered
    assert_nothing_lost(stack, [(subscription, org)], {subscription.pk: 1})


def test_pushes_during_two_redis_restarts_all_land(stack):
    pairs = [stack.subscription_with_org(quantity=3, admin_email=f"admin{i}@acme.example") for i in range(3)]
    counts = {s.pk: 0 for s, _ in pairs}

    def change_each(new_quantity):
        for subscription, _ in pairs:
            paid_seat_change(subscription, new_quantity)
            counts[subscription.pk] += 1

    change_each(4)
    stack.redis.kill()  # the queued and in-flight tasks are gone with it
    change_each(6)  # committed while Redis is down: their tasks cannot even be queued
    stack.redis.start()
    change_each(7)
    stack.redis.kill()
    change_each(5)  # the newest counts: only beat's requeue can bring them now
    stack.redis.start()

    assert wait_until(lambda: all(settled(s, o) for s, o in pairs), timeout=RECOVERY), [
        o.seats() for _, o in pairs
    ]
    for _, org in pairs:
        assert org.seats()[-1] == 5
    assert_nothing_lost(stack, pairs, counts)


def test_pushes_while_postgresql_connections_are_terminated_all_land(stack):
    pairs = [stack.subscription_with_org(quantity=3, admin_email=f"admin{i}@acme.example") for i in range(3)]
    counts = {s.pk: 0 for s, _ in pairs}

    with stack.terminate_backends(every=(0.2, 0.8)) as terminator:
        for new_quantity in (4, 6, 8, 5):
            for subscription, _ in pairs:
                paid_seat_change(subscription, new_quantity)
                counts[subscription.pk] += 1
        # Keep cutting while the worker is at it.
        wait_until(lambda: terminator.terminated >= 6, timeout=15)
    assert terminator.terminated >= 1

    assert wait_until(lambda: all(settled(s, o) for s, o in pairs), timeout=RECOVERY), [
        o.seats() for _, o in pairs
    ]
    for _, org in pairs:
        assert org.seats()[-1] == 5
    assert_nothing_lost(stack, pairs, counts)


def test_a_slow_org_holds_up_neither_its_own_pushes_for_good_nor_other_orgs(stack):
    slow_subscription, slow_org = stack.subscription_with_org(quantity=3, admin_email="slow@acme.example")
    subscription, org = stack.subscription_with_org(quantity=3, admin_email="quick@acme.example")
    slow_org.switch("hold", delay=45)  # answers only when released (or after 45 s)
    paid_seat_change(slow_subscription, 5)
    assert wait_until(lambda: slow_org.in_flight == 1, timeout=20)

    for new_quantity in (4, 6, 8):
        paid_seat_change(subscription, new_quantity)
    # The other org gets every count while the slow org still has the first push open.
    assert wait_until(lambda: settled(subscription, org), timeout=30), org.seats()
    assert slow_org.in_flight == 1 and slow_org.accepted == []

    slow_org.switch("slow", delay=3)  # from now on it answers every push after 3 s
    paid_seat_change(slow_subscription, 7)
    assert wait_until(lambda: settled(slow_subscription, slow_org), timeout=RECOVERY), slow_org.seats()
    assert slow_org.seats()[-1] == 7
    pairs = [(slow_subscription, slow_org), (subscription, org)]
    assert_nothing_lost(stack, pairs, {slow_subscription.pk: 2, subscription.pk: 3})


def test_an_org_refusing_then_failing_then_slow_gets_only_the_newest_count_once_it_answers(stack):
    subscription, org = stack.subscription_with_org(quantity=3, admin_email="ada@acme.example")
    org.switch("refuse")  # connections refused
    older = paid_seat_change(subscription, 5)
    older_sync = SeatSync.objects.get(seat_change=older)
    assert wait_until(lambda: SeatSync.objects.get(pk=older_sync.pk).attempts >= 2, timeout=30)
    org.switch("error")  # 500 to everything
    newer = paid_seat_change(subscription, 8)
    newer_sync = SeatSync.objects.get(seat_change=newer)
    assert wait_until(lambda: SeatSync.objects.get(pk=newer_sync.pk).attempts >= 2, timeout=30)
    assert org.requests >= 1 and org.accepted == []
    # Nothing is "live" while the org has not accepted a count.
    assert set(SeatChange.objects.filter(subscription=subscription).values_list("state", flat=True)) == {
        "applying"
    }
    assert live_emails(stack, subscription) == []

    org.switch("slow", delay=2)
    assert wait_until(lambda: settled(subscription, org), timeout=RECOVERY), org.seats()
    assert org.seats() == [8]  # the older count was overtaken, never sent after the newer
    assert_nothing_lost(stack, [(subscription, org)], {subscription.pk: 2})
    assert all("now has 8 users" in m.get_content() for m in live_emails(stack, subscription))
