"""Delivery under concurrency, on PostgreSQL with real connections and a real local
receiver: no transaction stays open while the org is called, and pushes of one
subscription still take turns, newest last."""

import threading
import time

import pytest
from django.core import mail
from django.db import connection

from licensing import delivery
from subscriptions.models import SeatChange, SeatSync
from tests.factories import paid_seat_change

pytestmark = pytest.mark.django_db(transaction=True)

# Advisory locks in this database only (pg_locks shows the whole server's).
# pg_locks shows the whole server's locks: only this database's, with their sessions' state.
ADVISORY_LOCKS_SQL = """
SELECT l.classid, l.objid, l.granted, a.state
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@pytest.fixture
def subscription(webhook_subscription):
    return webhook_subscription


class Delivering(threading.Thread):
    """`seat_sync_deliver` in a thread of its own, with its own database connection."""

    def __init__(self, seat_sync: SeatSync):
        super().__init__(daemon=True)
        self.seat_sync_id = seat_sync.pk
        self.outcome = None

    def run(self):
        try:
            self.outcome = delivery.seat_sync_deliver(seat_sync_id=self.seat_sync_id).outcome
        except Exception as unexpected:
            self.outcome = f"error: {unexpected!r}"
        finally:
            connection.close()


def sync_of(change: SeatChange) -> SeatSync:
    return SeatSync.objects.get(seat_change=change)


def other_backends(state: str) -> list[str]:
    """What the other connections to this database are doing in `state`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state = %s",
            [state],
        )
        return [row[0] for row in cursor.fetchall()]


def advisory_locks() -> list[tuple[int, int, bool, str]]:
    """(namespace, key, granted, state of the session) of each advisory lock here."""
    with connection.cursor() as cursor:
        cursor.execute(ADVISORY_LOCKS_SQL)
        return cursor.fetchall()


def waiting_for_a_turn() -> int:
    return sum(1 for *_, granted, _ in advisory_locks() if not granted)


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_no_transaction_is_open_and_no_row_locked_while_the_org_is_called(subscription, receiver):
    change = paid_seat_change(subscription, 5)
    sync = sync_of(change)
    receiver.stall_next()
    push = Delivering(sync)
    push.start()
    assert receiver.wait_for(lambda r: len(r.received) == 1)  # the org is being called

    assert other_backends("idle in transaction") == []
    with connection.cursor() as cursor:
        # The row can be locked at once by anyone else: delivery holds no row lock.
        cursor.execute("BEGIN")
        cursor.execute("SELECT id FROM subscriptions_seatsync WHERE id = %s FOR UPDATE NOWAIT", [sync.pk])
        cursor.execute("ROLLBACK")
    # The subscription's turn is held, by a session that is idle, not in a transaction.
    assert advisory_locks() == [(delivery.ADVISORY_LOCK_NAMESPACE, subscription.pk, True, "idle")]

    receiver.release()
    push.join(timeout=30)
    assert push.outcome == "delivered"
    assert SeatChange.objects.get(pk=change.pk).state == SeatChange.State.APPLIED
    assert advisory_locks() == []  # the turn is given back


def test_two_versions_racing_reach_the_org_oldest_first_and_newest_last(subscription, receiver):
    older_change = paid_seat_change(subscription, 5)
    receiver.stall_next()
    older = Delivering(sync_of(older_change))
    older.start()
    assert receiver.wait_for(lambda r: len(r.received) == 1)  # 5 is on its way, slowly

    newer_change = paid_seat_change(subscription, 7)
    newer = Delivering(sync_of(newer_change))
    newer.start()
    assert wait_until(lambda: waiting_for_a_turn() == 1)  # 7 waits: it must not overtake 5
    time.sleep(0.2)
    assert len(receiver.received) == 1
    assert SeatChange.objects.get(pk=older_change.pk).state == SeatChange.State.APPLYING

    receiver.release()
    older.join(timeout=30)
    newer.join(timeout=30)

    assert (older.outcome, newer.outcome) == ("delivered", "delivered")
    assert [r.json["seats"] for r in receiver.accepted] == [5, 7]
    assert [r.json["version"] for r in receiver.accepted] == [1, 2]
    assert {c.state for c in SeatChange.objects.filter(subscription=subscription)} == {"applied"}
    assert sorted(m.body.split(" now has ")[1].split(" users")[0] for m in mail.outbox) == ["5", "7"]


def test_the_same_push_run_twice_at_once_reaches_the_org_once(subscription, receiver):
    sync = sync_of(paid_seat_change(subscription, 5))
    receiver.stall_next()
    first, second = Delivering(sync), Delivering(sync)
    first.start()
    assert receiver.wait_for(lambda r: len(r.received) == 1)
    second.start()
    assert wait_until(lambda: waiting_for_a_turn() == 1)
    receiver.release()
    first.join(timeout=30)
    second.join(timeout=30)

    assert (first.outcome, second.outcome) == ("delivered", "skipped")
    assert len(receiver.received) == 1
    assert [m.subject for m in mail.outbox] == ["Your new seat count is live"]
