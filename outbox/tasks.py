"""Celery tasks of the outbox: thin. `run_message` runs one message; `dispatch_due`
(every few seconds, CELERY_BEAT_SCHEDULE) hands on what was not done; `prune_done_messages`
(daily) deletes what was done a month ago."""

from celery import shared_task

from . import services


# Shorter than the claim's lease (services.LEASE), so that a job cut off by the time
# limit is not still running when another process claims it again.
@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def run_message(message_id: int, ticket: int) -> str:
    return services.run(message_id, ticket=ticket, in_worker=True)


@shared_task
def dispatch_due() -> int:
    return services.dispatch_due()


@shared_task
def prune_done_messages() -> int:
    return services.prune_done()
