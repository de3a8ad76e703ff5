"""Push every pending seat count now, in this process (the embedded default has no
worker or beat to retry failed pushes)."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from licensing import delivery


class Command(BaseCommand):
    help = "Push every pending seat count to its connected org now."

    def handle(self, *args, **options):
        outcomes = []

        def push(seat_sync_id: int) -> None:
            outcomes.append(delivery.seat_sync_deliver(seat_sync_id=seat_sync_id).outcome)

        delivery.seat_syncs_requeue(now=timezone.now() + delivery.REQUEUE_GRACE, enqueue=push)
        summary = ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes))) or "nothing pending"
        self.stdout.write(summary)
