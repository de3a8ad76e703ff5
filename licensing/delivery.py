"""Delivering SeatSync outbox rows to connected orgs.

Guarantees:
- Pushes for one subscription happen one at a time, and a row is pushed only if no
  newer version exists for its subscription: a newer count always wins, an older one is
  never pushed after it. The turn is a PostgreSQL advisory lock held by the session, not
  by a transaction: the row is read under it, the HTTP call is made with no transaction
  open (no row lock, no snapshot held while a slow org takes its time), and the outcome
  is recorded in a short transaction of its own before the lock is released. A process
  that dies mid-push closes its connection, which releases the lock.
- Each row is pushed until it lands (at least once; the delivery id stays the same
  across retries so receivers can deduplicate). Every attempt is recorded.
- A seat change becomes `applied` (and its admin is told "live", through the outbox:
  exactly once) only when the org has acknowledged its count or a newer one, in the
  transaction that records that delivery.
  A row overtaken by a newer count is superseded without being sent, and its change
  waits for the newer count to land. `seat_changes_sweep_live` (periodic) applies any
  change left `applying` whose count, or a newer one, was delivered.
- Failures back off exponentially with jitter (2 s, 4 s, 8 s … capped at 10 min) and
  go on for as long as it takes; the account manager is told after repeated failures.
- A lost task, a killed worker or a Redis restart only delays a push:
  `seat_syncs_requeue` (periodic) finds pending rows whose next attempt is overdue.
"""

import logging
import random
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

import outbox
from audit.services import audit_record
from subscriptions import notifications, seat_changes, signals
from subscriptions.models import Organization, SeatChange, SeatSync, Subscription

from .connectors import Push, PushFailed, connector_for
from .models import ConnectedOrg, SeatSyncAttempt

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 2
MAX_RETRY_SECONDS = 600
ALERT_AFTER_ATTEMPTS = 5
# A pending row whose retry is this overdue lost its task: requeue it.
REQUEUE_GRACE = timedelta(seconds=30)
REQUEUE_BATCH = 500
SWEEP_BATCH = 200
ADVISORY_LOCK_NAMESPACE = 0x5EA7  # "seat"


@dataclass(frozen=True)
class DeliveryResult:
    outcome: str  # delivered | superseded | failed | skipped
    retry_in: float | None = None
    error: str = ""


def retry_delay(attempts: int, *, rng: random.Random = random) -> float:  # type: ignore[assignment]
    """Seconds before attempt `attempts + 1`: exponential, capped, with jitter
    (between half and all of the exponential step, so workers don't retry in step)."""
    step = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0))
    return step * rng.uniform(0.5, 1.0)


def connected_org_for(organization: Organization) -> ConnectedOrg:
    """The organization's connector; built-in when none was set up."""
    return _connected_org(organization.pk)


@contextmanager
def _subscription_pushes_turn(subscription_id: int):
    """This subscription's turn to push: a session-level advisory lock, so it lasts
    across the short transactions and the HTTP call between them (a transaction-level
    one would need a transaction open for the whole push). Released on the way out, or
    by PostgreSQL when the connection goes. Call outside any transaction."""
    if connection.vendor != "postgresql":
        yield
        return
    key = [ADVISORY_LOCK_NAMESPACE, subscription_id]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        except DatabaseError:
            # The connection is broken, and its lock went with its session; when it is
            # not (an error inside a caller's transaction), closing it is what releases
            # the lock, and the caller's own error is the one to see.
            if not connection.in_atomic_block:
                connection.close()


def _connected_org(organization_id: int) -> ConnectedOrg:
    """In SQL for the same reason as `_PUSH_ROW_SQL` (every push reads it)."""
    rows = ConnectedOrg.objects.raw(
        "SELECT * FROM licensing_connectedorg WHERE organization_id = %s", [organization_id]
    )
    connected_org = next(iter(rows), None)
    return connected_org or ConnectedOrg(organization_id=organization_id, kind=ConnectedOrg.Kind.BUILT_IN)


# The row to push, with what the push carries, the newest-wins answers and whether a
# delivery would apply a seat change, in one statement. Written as SQL because this is
# the hot path of every push: building the same query through the ORM cost more CPU
# (about 3.5 ms) than everything else a push does besides the HTTP call (see
# BENCHMARKS.md, "Pushing seat counts").
_PUSH_ROW_SQL = """
SELECT s.*,
       org.slug AS organization_slug,
       prod.code AS product_code,
       sc.number AS seat_change_number,
       EXISTS (SELECT 1 FROM subscriptions_seatsync newer
               WHERE newer.subscription_id = s.subscription_id AND newer.version > s.version)
         AS newer_exists,
       EXISTS (SELECT 1 FROM subscriptions_seatsync older
               WHERE older.subscription_id = s.subscription_id AND older.version < s.version
                 AND older.status = %s)
         AS older_pending,
       EXISTS (SELECT 1 FROM subscriptions_seatchange c
               JOIN subscriptions_seatsync its ON its.seat_change_id = c.id
               WHERE c.subscription_id = s.subscription_id AND c.state = %s
                 AND its.version <= s.version)
         AS changes_to_apply
FROM subscriptions_seatsync s
JOIN subscriptions_organization org ON org.id = s.organization_id
JOIN subscriptions_subscription sub ON sub.id = s.subscription_id
JOIN subscriptions_plan pl ON pl.id = sub.plan_id
JOIN subscriptions_product prod ON prod.id = pl.product_id
LEFT JOIN subscriptions_seatchange sc ON sc.id = s.seat_change_id
WHERE s.id = %s AND s.subscription_id = %s
"""


def _push_row(seat_sync_id: int, subscription_id: int) -> SeatSync | None:
    """The SeatSync with `organization_slug`, `product_code`, `seat_change_number`,
    `newer_exists`, `older_pending` and `changes_to_apply` set on it. Read in the
    subscription's turn, which every writer of a row's status holds: no row lock needed."""
    rows = SeatSync.objects.raw(
        _PUSH_ROW_SQL,
        [SeatSync.Status.PENDING, SeatChange.State.APPLYING, seat_sync_id, subscription_id],
    )
    return next(iter(rows), None)


def push_for(seat_sync: SeatSync) -> Push:
    """`seat_sync` as `_push_row` returns it."""
    return Push(
        delivery_id=f"seatsync_{seat_sync.pk}",
        organization=seat_sync.organization_slug,
        product=seat_sync.product_code,
        seats=seat_sync.quantity,
        seat_change=seat_sync.seat_change_number,
        version=seat_sync.version,
        occurred_at=seat_sync.created_at,
    )


def seat_sync_deliver(*, seat_sync_id: int, subscription_id: int | None = None) -> DeliveryResult:
    """Push one SeatSync (see the module's guarantees). Safe to run twice or
    concurrently: the second run finds the row delivered or waits its turn. Call it
    outside any transaction: none is open while the org is called.
    `subscription_id` (when the caller knows it) saves a lookup."""
    if subscription_id is None:
        subscription_id = (
            SeatSync.objects.filter(pk=seat_sync_id).values_list("subscription_id", flat=True).first()
        )
        if subscription_id is None:
            return DeliveryResult("skipped")
    with _subscription_pushes_turn(subscription_id):
        seat_sync = _push_row(seat_sync_id, subscription_id)
        if seat_sync is None or seat_sync.status != SeatSync.Status.PENDING:
            return DeliveryResult("skipped")
        if seat_sync.newer_exists:
            # Not sent, and its change is not applied: that waits for the newer count.
            SeatSync.objects.filter(pk=seat_sync.pk).update(status=SeatSync.Status.SUPERSEDED)
            return DeliveryResult("superseded")
        connector = connector_for(_connected_org(seat_sync.organization_id))
        started = timezone.now()
        try:
            connector.push(push_for(seat_sync))
        except PushFailed as failure:
            return _record_failure(seat_sync, started, failure)
        return _record_delivery(seat_sync, started)


def _record_failure(seat_sync: SeatSync, started: datetime, failure: PushFailed) -> DeliveryResult:
    now = timezone.now()
    attempts = seat_sync.attempts + 1  # in the subscription's turn: nobody else counts meanwhile
    delay = retry_delay(attempts)
    retry_at = now + timedelta(seconds=delay)
    with transaction.atomic():
        _record_attempt(seat_sync, started=started, finished=now, error=failure.message, retry_at=retry_at)
        if attempts == ALERT_AFTER_ATTEMPTS:
            seat_sync_id, error = seat_sync.pk, failure.message
            transaction.on_commit(
                lambda: signals.seat_sync_failing.send(SeatSync, seat_sync_id=seat_sync_id, error=error),
                robust=True,
            )
    return DeliveryResult("failed", retry_in=delay, error=failure.message)


def _record_delivery(seat_sync: SeatSync, started: datetime) -> DeliveryResult:
    """The org has this count: the row is delivered, anything older still waiting is
    moot (superseded), and every change it or an older row carried is applied, all in
    one transaction (one statement when there is nothing but the attempt to write)."""
    finished = timezone.now()
    if not (seat_sync.older_pending or seat_sync.changes_to_apply):
        _record_attempt(seat_sync, started=started, finished=finished)
        return DeliveryResult("delivered")
    with transaction.atomic():
        _record_attempt(seat_sync, started=started, finished=finished)
        if seat_sync.older_pending:
            SeatSync.objects.filter(
                subscription_id=seat_sync.subscription_id,
                version__lt=seat_sync.version,
                status=SeatSync.Status.PENDING,
            ).update(status=SeatSync.Status.SUPERSEDED)
        if seat_sync.changes_to_apply:
            _apply_live_changes(
                subscription_id=seat_sync.subscription_id, version=seat_sync.version, seats=seat_sync.quantity
            )
    return DeliveryResult("delivered")


def _apply_live_changes(*, subscription_id: int, version: int, seats: int) -> list[int]:
    """In the caller's transaction: the org has `seats` at `version`; the changes this
    makes applied, each admin told once: the email is an outbox row of that transaction
    (one key per change), so a connection dropped right after the commit delays it
    and never loses it."""
    moved = seat_changes.seat_changes_mark_live(subscription_id=subscription_id, version=version)
    for seat_change_id in moved:
        outbox.enqueue(
            tell_admin_live,
            key=f"seat-count-live:{seat_change_id}",
            kind="email",
            seat_change_id=seat_change_id,
            seats=seats,
        )
    return moved


# An attempt's outcome on the row, and its line in the log; in SQL for the reason
# given at `_PUSH_ROW_SQL` (through the ORM, these two cost 0.6 ms of CPU, in SQL 0.1),
# and on PostgreSQL both in one statement, atomic by itself, so that a delivery with
# nothing else to record needs no transaction (three round trips fewer a push).
# A column added to SeatSync or SeatSyncAttempt with a default must be added to all three.
_OUTCOME_SQL = """
UPDATE subscriptions_seatsync
SET status = %s, attempts = attempts + 1, last_error = %s, next_attempt_at = %s, delivered_at = %s
WHERE id = %s
"""
_ATTEMPT_SQL = """
INSERT INTO licensing_seatsyncattempt (seat_sync_id, started_at, finished_at, outcome, error)
VALUES (%s, %s, %s, %s, %s)
"""
_OUTCOME_AND_ATTEMPT_SQL = """
WITH outcome AS (
  UPDATE subscriptions_seatsync
  SET status = %s, attempts = attempts + 1, last_error = %s, next_attempt_at = %s, delivered_at = %s
  WHERE id = %s
  RETURNING id
)
INSERT INTO licensing_seatsyncattempt (seat_sync_id, started_at, finished_at, outcome, error)
SELECT id, %s, %s, %s, %s FROM outcome
"""


def _record_attempt(
    seat_sync: SeatSync, *, started: datetime, finished: datetime, error: str = "", retry_at=None
) -> None:
    """Delivered (no `error`), or failed with `error` and to be retried at `retry_at`:
    both writes or neither, even outside a transaction."""
    delivered, error = not error, error[:500]
    when = connection.ops.adapt_datetimefield_value
    status = SeatSync.Status.DELIVERED if delivered else SeatSync.Status.PENDING
    outcome = SeatSyncAttempt.Outcome.DELIVERED if delivered else SeatSyncAttempt.Outcome.FAILED
    row = [status, error, when(retry_at), when(finished if delivered else None), seat_sync.pk]
    attempt = [when(started), when(finished), outcome, error]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_OUTCOME_AND_ATTEMPT_SQL, row + attempt)
        return
    with transaction.atomic(), connection.cursor() as cursor:  # SQLite: no UPDATE in WITH
        cursor.execute(_OUTCOME_SQL, row)
        cursor.execute(_ATTEMPT_SQL, [seat_sync.pk, *attempt])


def tell_admin_live(*, seat_change_id: int, seats: int) -> None:
    """Outbox job: "Your new seat count is live", with the count the org has (`seats`: the change's
    own, or a newer one that overtook it)."""
    seat_change = SeatChange.objects.select_related(
        "subscription__plan__product", "subscription__organization"
    ).get(pk=seat_change_id)
    subscription = seat_change.subscription
    notifications.send(
        to=[subscription.admin_email],
        subject="Your new seat count is live",
        template="seat_count_live",
        context={
            "subscription": subscription,
            "seat_change": seat_change,
            "seats": seats,
            "product": notifications.product_name(subscription),
        },
    )


def seat_changes_sweep_live(*, batch_size: int = SWEEP_BATCH) -> int:
    """Periodic: every change still `applying` although its count, or a newer one of its
    subscription, was delivered (written by a process that stopped between the two)
    becomes applied, its admin told once. Bounded batch; returns how many it applied."""
    delivered_since = SeatSync.objects.filter(
        subscription_id=OuterRef("subscription_id"),
        status=SeatSync.Status.DELIVERED,
        version__gte=OuterRef("version"),
    )
    subscription_ids = list(
        SeatSync.objects.filter(seat_change__state=SeatChange.State.APPLYING)
        .filter(Exists(delivered_since))
        .order_by("subscription_id")
        .values_list("subscription_id", flat=True)
        .distinct()[:batch_size]
    )
    applied = 0
    for subscription_id in subscription_ids:
        live = (
            SeatSync.objects.filter(subscription_id=subscription_id, status=SeatSync.Status.DELIVERED)
            .order_by("-version")
            .values("version", "quantity")
            .first()
        )
        try:
            with transaction.atomic():
                moved = _apply_live_changes(
                    subscription_id=subscription_id, version=live["version"], seats=live["quantity"]
                )
        except DatabaseError:
            # Retried next run, without holding back the other subscriptions.
            logger.exception("Subscription %s: its live seat changes could not be applied.", subscription_id)
            continue
        applied += len(moved)
    return applied


def seat_syncs_requeue(*, now: datetime | None = None, enqueue) -> int:
    """Periodic: hand pending rows whose next attempt is overdue (their task was lost)
    to `enqueue(seat_sync_id)`. Bounded batch; duplicates are harmless."""
    now = now or timezone.now()
    overdue = now - REQUEUE_GRACE
    ids = list(
        SeatSync.objects.filter(status=SeatSync.Status.PENDING)
        .filter(Q(next_attempt_at__lte=overdue) | Q(next_attempt_at__isnull=True, created_at__lte=overdue))
        .order_by("created_at")
        .values_list("pk", flat=True)[:REQUEUE_BATCH]
    )
    for seat_sync_id in ids:
        enqueue(seat_sync_id)
    return len(ids)


@dataclass(frozen=True)
class TestPushOutcome:
    ok: bool
    detail: str


def test_push(*, organization: Organization, actor=None, request=None) -> TestPushOutcome:
    """Send each live subscription's current count to the connected org now, as staff's
    "send test push": nothing in seatmgr changes, and the org receives what it already
    should have (same version), so a receiver that deduplicates stays correct."""
    connector = connector_for(connected_org_for(organization))
    subscriptions = Subscription.objects.filter(
        organization=organization, status__in=(Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)
    ).select_related("plan__product", "organization")
    sent = []
    try:
        for subscription in subscriptions:
            connector.push(
                Push(
                    delivery_id=f"test_{subscription.pk}_{int(timezone.now().timestamp())}",
                    organization=organization.slug,
                    product=subscription.plan.product.code,
                    seats=subscription.quantity,
                    seat_change=None,
                    version=subscription.seats_version,
                    occurred_at=timezone.now(),
                )
            )
            sent.append(f"{subscription.plan.product.name}: {subscription.quantity}")
        outcome = TestPushOutcome(True, "Delivered — " + (", ".join(sent) or "no live subscriptions"))
    except PushFailed as failure:
        outcome = TestPushOutcome(False, failure.message)
    audit_record(
        action="connected_org.test_push",
        organization=organization,
        actor=actor,
        obj=organization,
        after={"ok": outcome.ok, "detail": outcome.detail},
        request=request,
    )
    return outcome
