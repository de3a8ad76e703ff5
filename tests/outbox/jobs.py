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
