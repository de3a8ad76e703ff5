from django.db import models


class OutboxMessage(models.Model):
    """A side effect (an email, a Stripe call, a task) recorded in the transaction of
    the change it follows, and run after that commit until it is done.

    `job` is the dotted path of a module-level function, called with `kwargs`. The
    row is claimed (`claimed_until`, a lease) before its job runs, and `attempts`
    counts the claims: a message published for an older attempt no longer claims it,
    so a job runs once at a time, and a done row never runs again."""

    class Kind(models.TextChoices):
        URGENT = "urgent", "urgent"
        EMAIL = "email", "email"
        BATCH = "batch", "batch"

    key = models.CharField(max_length=200, unique=True)
    job = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    request_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # When the dispatcher next takes it, unless it is done or claimed by then.
    due_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # The parts of the job already done (the emails sent), so a retry skips them.
    parts_done = models.JSONField(default=list, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["due_at"],
                name="outbox_open_due",
                condition=models.Q(done_at__isnull=True, failed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def status(self) -> str:
        if self.done_at:
            return "done"
        if self.failed_at:
            return "failed"
        return "retrying" if self.attempts else "pending"
