"""Delivering SeatSync outbox rows to connected orgs.

Guarantees:
- Pushes for one subscription happen one at a time (a PostgreSQL advisory lock held
  for the push), and a row is pushed only if no newer version exists for its
  subscription: a newer count always wins, an older one is never pushed after it.
- Each row is pushed until it lands (at least once; the delivery id stays the same
  across retries so receivers can deduplicate). Every attempt is recorded.
- Failures back off exponentially with jitter (2 s, 4 s, 8 s … capped at 10 min) and
  go on for as long as it takes; the account manager is told after repeated failures.
- A lost task, a killed worker or a Redis restart only delays a push:
  `seat_syncs_requeue` (periodic) finds pending rows whose next attempt is overdue.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from subscriptions import notifications, seat_changes, signals
from subscriptions.models import Organization, SeatSync, Subscription

from .connectors import Push, PushFailed, connector_for
from .models import ConnectedOrg, SeatSyncAttempt

FIRST_RETRY_SECONDS = 2
MAX_RETRY_SECONDS = 600
ALERT_AFTER_ATTEMPTS = 5
# A pending row whose retry is this overdue lost its task: requeue it.
REQUEUE_GRACE = timedelta(seconds=30)
REQUEUE_BATCH = 500
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


def _lock_subscription_pushes(subscription_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, subscription_id])


def _connected_org(organization_id: int) -> ConnectedOrg:
    """In SQL for the same reason as `_PUSH_ROW_SQL` (every push reads it)."""
    rows = ConnectedOrg.objects.raw(
        "SELECT * FROM licensing_connectedorg WHERE organization_id = %s", [organization_id]
    )
    connected_org = next(iter(rows), None)
    return connected_org or ConnectedOrg(organization_id=organization_id, kind=ConnectedOrg.Kind.BUILT_IN)


# The row to push, locked, with what the push carries and the newest-wins answers, in
# one statement. Written as SQL because this is the hot path of every push: building
# the same query through the ORM cost more CPU (about 3.5 ms) than everything else a
# push does besides the HTTP call (see BENCHMARKS.md, "Pushing seat counts").
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
         AS older_pending
FROM subscriptions_seatsync s
JOIN subscriptions_organization org ON org.id = s.organization_id
JOIN subscriptions_subscription sub ON sub.id = s.subscription_id
JOIN subscriptions_plan pl ON pl.id = sub.plan_id
JOIN subscriptions_product prod ON prod.id = pl.product_id
LEFT JOIN subscriptions_seatchange sc ON sc.id = s.seat_change_id
WHERE s.id = %s AND s.subscription_id = %s
"""


def _locked_push_row(seat_sync_id: int, subscription_id: int) -> SeatSync | None:
    """The SeatSync, row-locked, with `organization_slug`, `product_code`,
    `seat_change_number`, `newer_exists` and `older_pending` set on it."""
    sql = _PUSH_ROW_SQL
    if connection.features.has_select_for_update_of:
        sql += "FOR UPDATE OF s"
    elif connection.features.has_select_for_update:
        sql += "FOR UPDATE"
    rows = SeatSync.objects.raw(sql, [SeatSync.Status.PENDING, seat_sync_id, subscription_id])
    return next(iter(rows), None)


def push_for(seat_sync: SeatSync) -> Push:
    """`seat_sync` as `_locked_push_row` returns it."""
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
    concurrently: the second run finds the row delivered or waits its turn.
    `subscription_id` (when the caller knows it) saves a lookup."""
    if subscription_id is None:
        subscription_id = (
            SeatSync.objects.filter(pk=seat_sync_id).values_list("subscription_id", flat=True).first()
        )
        if subscription_id is None:
            return DeliveryResult("skipped")
    with transaction.atomic():
        _lock_subscription_pushes(subscription_id)
        seat_sync = _locked_push_row(seat_sync_id, subscription_id)
        if seat_sync is None or seat_sync.status != SeatSync.Status.PENDING:
            return DeliveryResult("skipped")
        if seat_sync.newer_exists:
            SeatSync.objects.filter(pk=seat_sync.pk).update(status=SeatSync.Status.SUPERSEDED)
            _applied_on_commit(seat_sync)
            return DeliveryResult("superseded")
        started = timezone.now()
        try:
            connector_for(_connected_org(seat_sync.organization_id)).push(push_for(seat_sync))
        except PushFailed as failure:
            return _record_failure(seat_sync, started, failure)
        return _record_delivery(seat_sync, started)


def _record_failure(seat_sync: SeatSync, started: datetime, failure: PushFailed) -> DeliveryResult:
    now = timezone.now()
    attempts = seat_sync.attempts + 1  # the row is locked: nobody else counts meanwhile
    delay = retry_delay(attempts)
    retry_at = now + timedelta(seconds=delay)
    _record_attempt(seat_sync, started=started, finished=now, error=failure.message, retry_at=retry_at)
    if attempts == ALERT_AFTER_ATTEMPTS:
        seat_sync_id, error = seat_sync.pk, failure.message
        transaction.on_commit(
            lambda: signals.seat_sync_failing.send(SeatSync, seat_sync_id=seat_sync_id, error=error)
        )
    return DeliveryResult("failed", retry_in=delay, error=failure.message)


def _record_delivery(seat_sync: SeatSync, started: datetime) -> DeliveryResult:
    _record_attempt(seat_sync, started=started, finished=timezone.now())
    # Anything older still waiting is now moot: the org has a newer count.
    if seat_sync.older_pending:
        older = SeatSync.objects.filter(
            subscription_id=seat_sync.subscription_id,
            version__lt=seat_sync.version,
            status=SeatSync.Status.PENDING,
        )
        for stale in older.only("pk", "seat_change_id"):
            _applied_on_commit(stale)
        older.update(status=SeatSync.Status.SUPERSEDED)
    _applied_on_commit(seat_sync)
    return DeliveryResult("delivered")


# An attempt's outcome on the row, and its line in the log; in SQL for the reason
# given at `_PUSH_ROW_SQL` (through the ORM, these two cost 0.6 ms of CPU, in SQL 0.1).
# A column added to SeatSync or SeatSyncAttempt with a default must be added here too.
_OUTCOME_SQL = """
UPDATE subscriptions_seatsync
SET status = %s, attempts = attempts + 1, last_error = %s, next_attempt_at = %s, delivered_at = %s
WHERE id = %s
"""
_ATTEMPT_SQL = """
INSERT INTO licensing_seatsyncattempt (seat_sync_id, started_at, finished_at, outcome, error)
VALUES (%s, %s, %s, %s, %s)
"""


def _record_attempt(
    seat_sync: SeatSync, *, started: datetime, finished: datetime, error: str = "", retry_at=None
) -> None:
    """Delivered (no `error`), or failed with `error` and to be retried at `retry_at`."""
    delivered, error = not error, error[:500]
    when = connection.ops.adapt_datetimefield_value
    status = SeatSync.Status.DELIVERED if delivered else SeatSync.Status.PENDING
    outcome = SeatSyncAttempt.Outcome.DELIVERED if delivered else SeatSyncAttempt.Outcome.FAILED
    with connection.cursor() as cursor:
        cursor.execute(
            _OUTCOME_SQL, [status, error, when(retry_at), when(finished if delivered else None), seat_sync.pk]
        )
        cursor.execute(_ATTEMPT_SQL, [seat_sync.pk, when(started), when(finished), outcome, error])


def _applied_on_commit(seat_sync: SeatSync) -> None:
    """The seat change behind a delivered (or overtaken) count is applied: its new
    total, or a newer one, is live in the org."""
    if seat_sync.seat_change_id:
        seat_change_id = seat_sync.seat_change_id
        transaction.on_commit(lambda: seat_change_live(seat_change_id=seat_change_id))


def seat_change_live(*, seat_change_id: int) -> None:
    """applying → applied, and the admin's "Your new seat count is live" email, once."""
    if not seat_changes.seat_change_mark_applied(seat_change_id=seat_change_id):
        return
    seat_change = seat_changes.SeatChange.objects.select_related(
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
            "product": notifications.product_name(subscription),
        },
    )


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
