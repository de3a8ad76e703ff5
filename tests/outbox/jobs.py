"""Jobs the outbox tests queue (importable by dotted path, in the worker too)."""

from django.core.mail import EmailMessage

from audit.models import AuditEvent


def record(*, label: str) -> None:
    """A side effect anyone can count: one audit row per run."""
    AuditEvent.objects.create(action=f"test.outbox.{label}", actor_label="outbox test")


def fail(*, label: str) -> None:
    record(label=label)
    raise RuntimeError(f"{label}: the far side said no")


def two_emails(*, to: list[str]) -> None:
    """One message per address, each sent on its own."""
    for address in to:
        EmailMessage(subject=f"Hello {address}", body="Two of a kind.", to=[address]).send()


def pay_and_follow_up(*, label: str) -> None:
    """An urgent job that queues work of its own urgency and an email, as a paid
    change queues its push and its receipt."""
    import outbox

    record(label=label)
    outbox.enqueue(record, key=f"{label}:urgent", kind="urgent", label=f"{label}-urgent")
    outbox.enqueue(record, key=f"{label}:email", kind="email", label=f"{label}-email")
