"""The transactional outbox: every side effect that leaves the database (an email, a
Stripe call, a task) is a row written in the transaction of the change it follows,
and run after commit with retries (see `outbox.services`)."""


def enqueue(job, *, key: str, kind: str, **kwargs):
    """Record `job(**kwargs)` to run once after the caller's transaction commits; see
    `outbox.services.enqueue`."""
    from .services import enqueue as _enqueue

    return _enqueue(job, key=key, kind=kind, **kwargs)


def send_signal(signal: str, *, sender: str, key: str, kind: str, **kwargs):
    """Send the Django signal at dotted path `signal` (sender: the model's
    "app_label.Model"), with `kwargs`, once after commit, through the outbox: its
    receivers run in the outbox job, retried if one of them fails."""
    from .jobs import send_signal as job

    return enqueue(job, key=key, kind=kind, signal=signal, sender=sender, signal_kwargs=kwargs)


def in_worker_job(kind: str) -> bool:
    """Whether this thread runs an outbox job of `kind` in a worker; see
    `outbox.services.in_worker_job`."""
    from .services import in_worker_job as _in_worker_job

    return _in_worker_job(kind)
