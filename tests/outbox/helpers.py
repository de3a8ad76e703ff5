from datetime import timedelta

from django.db.models import F

from audit.models import AuditEvent
from outbox.models import OutboxMessage


def time_passes(seconds: float) -> None:
    """Every outbox message's clock moves `seconds` into the past: what was due later
    is due now, and leases run out."""
    delta = timedelta(seconds=seconds)
    OutboxMessage.objects.update(due_at=F("due_at") - delta, created_at=F("created_at") - delta)
    OutboxMessage.objects.filter(claimed_until__isnull=False).update(claimed_until=F("claimed_until") - delta)


def runs(label: str) -> int:
    return AuditEvent.objects.filter(action=f"test.outbox.{label}").count()
