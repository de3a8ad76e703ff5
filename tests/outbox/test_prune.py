"""The outbox is a queue, not a log: what was done a month ago goes, nothing else."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from outbox import services
from outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


def message(key: str, *, age_days: int, done: bool = False, failed: bool = False) -> OutboxMessage:
    at = timezone.now() - timedelta(days=age_days)
    row = OutboxMessage.objects.create(key=key, job="outbox.jobs.send_signal", kind="email", due_at=at)
    OutboxMessage.objects.filter(pk=row.pk).update(
        created_at=at, done_at=at if done else None, failed_at=at if failed else None
    )
    return row


def test_messages_done_over_a_month_ago_are_deleted_and_every_other_is_kept():
    old_done = [message(f"old-done-{n}", age_days=40 + n, done=True) for n in range(5)]
    kept = [
        message("failed-long-ago", age_days=60, failed=True),  # an operator's to retry
        message("waiting-long-ago", age_days=45),  # still to run
        message("done-last-week", age_days=7, done=True),
        message("done-29-days-ago", age_days=29, done=True),
    ]

    deleted = services.prune_done(batch_size=2)  # batches along the ids, as at scale

    assert deleted == len(old_done)
    assert set(OutboxMessage.objects.values_list("key", flat=True)) == {row.key for row in kept}
    assert services.prune_done(batch_size=2) == 0


def test_the_daily_prune_is_scheduled_and_routed_to_batch_work():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "outbox.tasks.prune_done_messages" in scheduled
    assert (
        settings.CELERY_TASK_ROUTES["outbox.tasks.prune_done_messages"]["queue"]
        == (settings.CELERY_QUEUES_BY_KIND["batch"])
    )
