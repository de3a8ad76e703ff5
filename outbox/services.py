"""The outbox: side effects written in the caller's transaction and run after commit.

`enqueue` writes the row (a duplicate key changes nothing) and, on commit, publishes
one Celery task for it to the queue of its kind (`settings.CELERY_QUEUES_BY_KIND`),
or runs it in this process where tasks run in-process (eager) or its kind is in
`OUTBOX_IN_PROCESS_KINDS`. Nothing that happens after the commit is raised to the
caller: a publish that fails (the broker is down) is logged, and the dispatcher
(`dispatch_due`, every few seconds) runs whatever was not done, after failures with
exponential backoff, until the job succeeds or `MAX_ATTEMPTS` claims have failed
(then the row is marked failed, and listed as such in the admin).

A job runs outside any transaction or lock of the caller, with the request id of
the request that queued it, and under a lease: a process that dies mid-job leaves
the row to be claimed again once the lease expires.

Work of another kind that an urgent job queues in a worker (a paid change's receipt,
its card-on-file update, its "now live" email) is not published by that job: it is
due `FOLLOW_UP_HOLD` later and the dispatcher hands it on, so that a burst of paid
changes is not slowed by its own emails (BENCHMARKS.md, "Bursts of paid changes").
"""

import json
import logging
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, InterfaceError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from observability import request_id

from .models import OutboxMessage

logger = logging.getLogger(__name__)

# A message not done this long after its commit is taken by the dispatcher (its
# publication was lost, or the broker was down).
PUBLISH_GRACE = timedelta(seconds=10)
# A message the dispatcher published and nobody claimed is published again after this.
REPUBLISH_AFTER = timedelta(seconds=30)
# A claim lasts this long: the task's time limit (outbox/tasks.py) is shorter.
LEASE = timedelta(seconds=75)
MAX_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 600
DISPATCH_BATCH = 200
# A dispatcher run hands on batch after batch while they come full, for this long at
# most (beat runs it every 5 s).
DISPATCH_SECONDS = 3.0
# Follow-up work of another kind queued by an urgent job in a worker waits this long
# before the dispatcher may hand it on (within its next run): with beat's 5 s, a
# receipt is sent 2 to 7 s after its payment, after the burst it came with.
FOLLOW_UP_HOLD = timedelta(seconds=2)


@dataclass
class Running:
    """The message whose job runs now in this thread (see `current`)."""

    pk: int
    key: str
    kind: str
    in_worker: bool  # run by a worker's task (not in the process that queued it)
    parts_done: list[str]
    parts_seen: int = 0
    new_parts: list[str] = field(default_factory=list)


_current: ContextVar[Running | None] = ContextVar("outbox_current", default=None)


def current() -> Running | None:
    return _current.get()


def in_worker_job(kind: str) -> bool:
    """Whether this thread runs an outbox job of `kind` in a worker, where its
    follow-up work of the same urgency may run at once instead of being queued."""
    running = _current.get()
    return running is not None and running.in_worker and running.kind == kind


def job_path(job: Callable | str) -> str:
    """The dotted path a row stores; only a module-level function can be one."""
    path = job if isinstance(job, str) else f"{job.__module__}.{job.__qualname__}"
    try:
        found = import_string(path)
    except ImportError as error:
        raise ValueError(f"outbox job {path!r} is not importable: {error}") from None
    if not callable(found) or (not isinstance(job, str) and found is not job):
        raise ValueError(f"outbox job {path!r} is not a module-level function")
    return path


def enqueue(job: Callable | str, *, key: str, kind: str, **kwargs) -> int | None:
    """Record `job(**kwargs)` to run once, after the caller's transaction commits (at
    once outside a transaction; held for the dispatcher when an urgent job in a worker
    queues work of another kind); returns the message's id. `key` is the side effect's
    idempotency key: a second message with the same key is not recorded (None).
    `kwargs` must be JSON."""
    if kind not in settings.CELERY_QUEUES_BY_KIND:
        raise ValueError(f"unknown outbox kind {kind!r}")
    path = job_path(job)
    now = timezone.now()
    held = kind != OutboxMessage.Kind.URGENT and in_worker_job(OutboxMessage.Kind.URGENT)
    # One statement, no savepoint: a duplicate key inserts nothing and returns no row.
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            [
                key[:200],
                path,
                json.dumps(kwargs, cls=DjangoJSONEncoder),
                kind,
                request_id.get()[:100],
                now,
                now + (FOLLOW_UP_HOLD if held else PUBLISH_GRACE),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    pk = row[0]
    if not held:
        transaction.on_commit(lambda: publish(pk, kind=kind, ticket=0), robust=True)
    return pk


_INSERT_SQL = f"""
    INSERT INTO {OutboxMessage._meta.db_table}
        (key, job, kwargs, kind, request_id, created_at, due_at, attempts, last_error, parts_done)
    VALUES (%s, %s, %s, %s, %s, %s, %s, 0, '', '[]')
    ON CONFLICT (key) DO NOTHING
    RETURNING id
"""  # noqa: S608 - the table name is the model's own


def _runs_in_process(kind: str) -> bool:
    from .tasks import run_message

    return bool(run_message.app.conf.task_always_eager) or kind in settings.OUTBOX_IN_PROCESS_KINDS


def publish(pk: int, *, kind: str, ticket: int) -> bool:
    """Hand message `pk` (for claim number `ticket`) to a worker, or run it here when
    this process runs it in-process. Never raises: a failure is logged once, and the
    dispatcher takes the message later."""
    from .tasks import run_message

    if _runs_in_process(kind):
        run(pk, ticket=ticket)
        return True
    try:
        run_message.apply_async(args=[pk, ticket], queue=settings.CELERY_QUEUES_BY_KIND[kind], retry=False)
    except Exception as error:
        logger.warning(
            "outbox message %s not published (%s); the dispatcher will run it", pk, error.__class__.__name__
        )
        return False
    return True


def _claim(pk: int, ticket: int, now: datetime) -> OutboxMessage | None:
    """Take message `pk` for claim number `ticket` under a lease, and read it: one
    statement (every job of every kind starts here)."""
    when = connection.ops.adapt_datetimefield_value
    until = when(now + LEASE)
    claimed = OutboxMessage.objects.raw(_CLAIM_SQL, [until, until, ticket + 1, pk, ticket, when(now)])
    return next(iter(claimed), None)


# `COALESCE(done_at, failed_at) IS NULL`, not `done_at IS NULL AND failed_at IS NULL`:
# written that way, PostgreSQL may pick the dispatcher's partial index of open messages
# (outbox_open_due) over the primary key, and a claim then reads every open message: 4.4
# ms instead of 0.3 with 10,000 of them (a burst of emails), each claim of a backlog
# slower as it grows (BENCHMARKS.md, "Bursts of paid changes").
_CLAIM_SQL = f"""
    UPDATE {OutboxMessage._meta.db_table}
    SET claimed_until = %s, due_at = %s, attempts = %s
    WHERE id = %s AND attempts = %s AND COALESCE(done_at, failed_at) IS NULL
      AND (claimed_until IS NULL OR claimed_until < %s)
    RETURNING *
"""  # noqa: S608 - the table name is the model's own


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def run(pk: int, *, ticket: int, in_worker: bool = False) -> str:
    """Claim message `pk` for claim number `ticket`, run its job, record the outcome
    (`in_worker`: this is a worker's task). Returns "done", "retrying", "failed" or
    "skipped" (done already, claimed by someone else, or a stale ticket). Never raises
    the job's error."""
    message = _claim(pk, ticket, timezone.now())
    if message is None:
        return "skipped"
    running = Running(
        pk=message.pk,
        key=message.key,
        kind=message.kind,
        in_worker=in_worker,
        parts_done=list(message.parts_done),
    )
    running_token = _current.set(running)
    id_token = request_id.set(message.request_id)
    try:
        import_string(message.job)(**message.kwargs)
    except Exception as error:
        return _record_failure(message, error)
    finally:
        request_id.reset(id_token)
        _current.reset(running_token)
    done = {"done_at": timezone.now(), "claimed_until": None, "last_error": ""}
    if message.kind == OutboxMessage.Kind.EMAIL:
        done["kwargs"] = {}  # an email's arguments may hold unique links or sign-in codes
    _record(message, done)
    return "done"


# How many connections a job's outcome is tried on (see `_reconnecting`).
RECONNECT_TRIES = 4


def _record(message: OutboxMessage, updates: dict) -> None:
    """Store a job's outcome on its row (safe to repeat)."""
    rows = OutboxMessage.objects.filter(pk=message.pk, attempts=message.attempts)
    _reconnecting(lambda: rows.update(**updates))


def _reconnecting(query: Callable):
    """Run `query` (a read, or a write safe to repeat). A job that failed because its
    database connection dropped (PostgreSQL restarted, the connection terminated) left
    this process with a broken connection: outside a transaction, `query` is run again
    on a new one, so that a claimed row records its outcome (and is retried after its
    backoff) instead of waiting for its lease to expire. Recording that an email was
    sent goes the same way: each try lost here is an email its retry sends again."""
    for _ in range(RECONNECT_TRIES - 1):
        try:
            return query()
        except (DatabaseError, InterfaceError):
            if connection.in_atomic_block:
                raise
            connection.close()
    return query()


def part_done(running: Running, part: str) -> None:
    """Record that `part` of the running job is done (an email sent), at once and
    outside any transaction, so that a retry of the job skips it."""
    running.parts_done.append(part)
    rows = OutboxMessage.objects.filter(pk=running.pk)
    _reconnecting(lambda: rows.update(parts_done=running.parts_done))


def _record_failure(message: OutboxMessage, error: Exception) -> str:
    now = timezone.now()
    detail = "".join(traceback.format_exception(error))[-4000:]
    failed = message.attempts >= MAX_ATTEMPTS
    updates = {"claimed_until": None, "last_error": detail}
    if failed:
        updates["failed_at"] = now
    else:
        updates["due_at"] = now + backoff(message.attempts)
    _record(message, updates)
    if failed:
        logger.error(
            "outbox message %s (%s) failed %s times, given up: %r",
            message.key,
            message.job,
            message.attempts,
            error,
        )
        return "failed"
    logger.warning(
        "outbox message %s (%s) failed (attempt %s), retried in %ss: %r",
        message.key,
        message.job,
        message.attempts,
        int(backoff(message.attempts).total_seconds()),
        error,
    )
    return "retrying"


def dispatch_due(*, now: datetime | None = None, batch_size: int = DISPATCH_BATCH) -> int:
    """Periodic: publish (or, in-process, run) the messages that are due: never
    published or lost (past `PUBLISH_GRACE`), held (`FOLLOW_UP_HOLD`), waiting for a
    retry, or claimed by a process whose lease expired; `batch_size` at a time, batch
    after batch while they come full, for `DISPATCH_SECONDS` at most. Returns how many
    it handed on."""
    started, handed = time.monotonic(), 0
    while True:
        handed_now, full = _dispatch_batch(now or timezone.now(), batch_size)
        handed += handed_now
        if not full or time.monotonic() - started >= DISPATCH_SECONDS:
            return handed


def _dispatch_batch(now: datetime, batch_size: int) -> tuple[int, bool]:
    """Hand on up to `batch_size` due messages: (how many, whether all of a full batch)."""
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(
                Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
                done_at__isnull=True,
                failed_at__isnull=True,
                due_at__lte=now,
            )
            .order_by("due_at")
            .values_list("pk", "kind", "attempts")[:batch_size]
        )
        if rows:
            OutboxMessage.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
                due_at=now + REPUBLISH_AFTER
            )
    handed = 0
    for pk, kind, attempts in rows:
        if not publish(pk, kind=kind, ticket=attempts):
            break  # the broker is down: the rest wait for the next run
        handed += 1
    return handed, handed == batch_size


# Done messages are kept this long (to read in the admin, and so that a key seen again
# within it is still one side effect), then deleted: the table is a queue, not a log
# (the audit log is). Failed ones stay until an operator retries them.
KEEP_DONE = timedelta(days=30)
PRUNE_BATCH = 5000


def prune_done(*, now: datetime | None = None, batch_size: int = PRUNE_BATCH) -> int:
    """Periodic (daily): delete messages done more than KEEP_DONE ago, oldest first, in
    batches walked along the primary key (no index on `done_at` to keep up; ids grow
    with `created_at`), stopping at the first batch created after the cutoff. Each
    batch commits on its own, so a run killed half-way leaves the rest to the next.
    Returns how many were deleted."""
    cutoff = (now or timezone.now()) - KEEP_DONE
    deleted, after = 0, 0
    while True:
        batch = list(
            OutboxMessage.objects.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "created_at", "done_at")[:batch_size]
        )
        if not batch:
            return deleted
        old_done = [pk for pk, _, done_at in batch if done_at is not None and done_at < cutoff]
        if old_done:
            deleted += OutboxMessage.objects.filter(pk__in=old_done).delete()[0]
        if batch[-1][1] >= cutoff:
            return deleted  # the rest was created after the cutoff: nothing there is old enough
        after = batch[-1][0]


def retry_now(*, pks: list[int]) -> int:
    """An operator's "retry": failed (or waiting) messages become due again now, with
    a fresh count of attempts."""
    return OutboxMessage.objects.filter(pk__in=pks, done_at__isnull=True).update(
        failed_at=None, attempts=0, claimed_until=None, due_at=timezone.now()
    )
