"""Push every pending seat count now, in this process (the embedded default has no
worker or beat to retry failed pushes)."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from licensing import delivery


class Command(BaseCommand):
    help = "Push every pending seat count to its connected org now."

    def handle(self, *args, **options):
        outcomes = []

        def push(seat_sync_id: int) -> None:
            outcomes.append(delivery.seat_sync_deliver(seat_sync_id=seat_sync_id).outcome)

        # Every pending row, even one whose next attempt is not due yet: a person asked.
        everything_due = (
            timezone.now() + delivery.REQUEUE_GRACE + timedelta(seconds=delivery.MAX_RETRY_SECONDS)
        )
        delivery.seat_syncs_requeue(now=everything_due, enqueue=push)
        summary = ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes))) or "nothing pending"
        self.stdout.write(summary)
