"""Celery tasks of licensing: thin, each calls one service."""

from celery import shared_task

from . import delivery


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver_seat_sync(self, seat_sync_id: int, subscription_id: int | None = None) -> str:
    """Push one SeatSync; on failure, retry after the service's backoff. (Run eagerly,
    in the embedded default, a failed push waits for `seat_syncs_requeue`.)"""
    result = delivery.seat_sync_deliver(seat_sync_id=seat_sync_id, subscription_id=subscription_id)
    if result.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=result.retry_in)
    return result.outcome


@shared_task
def requeue_seat_syncs() -> int:
    """Periodic: re-enqueue pending pushes whose task was lost."""
    return delivery.seat_syncs_requeue(enqueue=deliver_seat_sync.delay)


@shared_task
def apply_live_seat_changes() -> int:
    """Periodic: seat changes left `applying` although the org has their count."""
    return delivery.seat_changes_sweep_live()
