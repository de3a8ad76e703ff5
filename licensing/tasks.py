"""Celery tasks of licensing: thin, each calls one service."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

import outbox

from . import delivery


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver_seat_sync(self, seat_sync_id: int, subscription_id: int | None = None) -> str:
    """Push one SeatSync; on failure, retry after the service's backoff. A database
    connection lost meanwhile (PostgreSQL restarted, the connection terminated) is
    retried within seconds on a new one, rather than left to the requeue. (Run eagerly,
    in the embedded default, a failed push waits for `seat_syncs_requeue`.)"""
    try:
        result = delivery.seat_sync_deliver(seat_sync_id=seat_sync_id, subscription_id=subscription_id)
    except (OperationalError, InterfaceError) as error:
        if self.request.is_eager:
            raise
        raise self.retry(exc=error, countdown=min(60, 2**self.request.retries)) from error
    if result.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=result.retry_in)
    return result.outcome


def deliver_after_commit(seat_sync_id: int, subscription_id: int | None) -> None:
    """A new count was committed: push it. In an urgent outbox job run by a worker (a
    paid change just processed) the push runs here and now, the next thing the customer
    waits for: a task of its own would cost another worker process's hand-off, a broker
    round trip and an ack, more CPU than the push itself (BENCHMARKS.md, "Bursts of paid
    changes"). Anywhere else (a web request, a batch job, tasks run in-process) it is
    queued. A push that fails here is retried by its task after the service's backoff; a
    database error leaves it to a task at once (and to `requeue_seat_syncs` if even
    that is lost)."""
    if not outbox.in_worker_job("urgent"):
        deliver_seat_sync.delay(seat_sync_id, subscription_id)
        return
    try:
        result = delivery.seat_sync_deliver(seat_sync_id=seat_sync_id, subscription_id=subscription_id)
    except (OperationalError, InterfaceError):
        deliver_seat_sync.delay(seat_sync_id, subscription_id)
        return
    if result.retry_in is not None:
        deliver_seat_sync.apply_async((seat_sync_id, subscription_id), countdown=result.retry_in)


@shared_task
def requeue_seat_syncs() -> int:
    """Periodic: re-enqueue pending pushes whose task was lost."""
    return delivery.seat_syncs_requeue(enqueue=deliver_seat_sync.delay)


@shared_task
def apply_live_seat_changes() -> int:
    """Periodic: seat changes left `applying` although the org has their count."""
    return delivery.seat_changes_sweep_live()
