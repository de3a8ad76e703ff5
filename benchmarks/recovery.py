"""Recovery after a Redis restart: how long until every pending side effect has landed.

    .venv/bin/python benchmarks/recovery.py [--changes 40] [--rounds 2]

Starts a Redis of its own on a free port (nothing saved to disk: what it held dies
with it), one real Celery worker (`celery -A seatmgr worker -l info --concurrency 2`),
one real beat (`celery -A seatmgr beat`, the schedule of CELERY_BEAT_SCHEDULE) and a
webhook receiver on 127.0.0.1; seeds `--changes` organizations, each with a live
subscription whose connected org is that receiver. Each round:

1. the worker is stopped; one paid seat change per subscription is committed
   (`seat_change_apply(via="payment")`): each writes its SeatSync row and queues its
   push in Redis, where nobody takes it;
2. Redis is SIGKILLed and started again at once (the queued pushes are gone), and the
   worker is started again;
3. the clock runs from Redis being back until every side effect of those changes has
   landed: each push delivered (its row `delivered`, the receiver holding it), each
   change `applied` and its "Your new seat count is live" email sent (kept in the
   database by benchmarks.settings).

What brings the lost pushes back is beat's `requeue-seat-syncs`: a pending row is
requeued once it is `licensing.delivery.REQUEUE_GRACE` overdue, at the task's next run.
Prints, per round, the recovery time, the number of items (pushes + emails) and the
pending rows' age at the restart (goal: recovery <= 60 s). No Stripe call nor receipt
is pending here: main queues them with no outbox (a Redis restart loses them for good;
see tests/faults/test_side_effects.py). Exit status 1 when a round misses the goal or
does not recover within `--timeout`.

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/seatmgr_bench_recovery
(loopback only; created when missing, migrated). Workers, beat and Redis are always
stopped, also on an error or a signal.
"""

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.delivery_latency import (  # noqa: E402 - after the path is set
    CeleryWorker,
    Deadline,
    Receiver,
    bench_plan,
    configure_environment,
    drop_organizations,
    setup_django,
    signed_increase,
)
from tests.faults.harness import Beat, RedisServer, wait_until  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seatmgr_bench_recovery"
ORG_SLUG = "bench-recovery-"
GOAL_SECONDS = 60.0
LIVE = "Your new seat count is live"


def seed(receiver_url: str, count: int) -> list:
    from django.db import transaction
    from django.utils import timezone

    from licensing.connectors import webhook
    from licensing.models import ConnectedOrg
    from subscriptions.models import Organization, Subscription

    now = timezone.now()
    drop_organizations(ORG_SLUG)
    run = secrets.token_hex(3)
    subscriptions = []
    with transaction.atomic():
        for i in range(count):
            organization = Organization.objects.create(
                name=f"Bench Recovery {i}",
                slug=f"{ORG_SLUG}{run}-{i}",
                billing_email=f"billing{i}@recovery.bench.example",
            )
            subscriptions.append(
                Subscription.objects.create(
                    organization=organization,
                    plan=bench_plan(),
                    quantity=10,
                    admin_email=f"admin{i}@recovery.bench.example",
                    status=Subscription.Status.ACTIVE,
                    current_period_start=now - timedelta(days=10),
                    current_period_end=now + timedelta(days=20),
                    activated_at=now - timedelta(days=10),
                )
            )
            ConnectedOrg.objects.create(
                organization=organization,
                kind=ConnectedOrg.Kind.WEBHOOK,
                webhook_url=receiver_url,
                webhook_secret=webhook.new_secret(),
            )
    return subscriptions


def landed(change_ids: list[int], sync_ids: list[int], admins: list[str], since) -> tuple[int, int]:
    """(side effects landed, side effects in all) for one round's changes."""
    from devmail.models import StoredEmail
    from subscriptions.models import SeatChange, SeatSync

    delivered = SeatSync.objects.filter(pk__in=sync_ids, status=SeatSync.Status.DELIVERED).count()
    applied = SeatChange.objects.filter(pk__in=change_ids, state=SeatChange.State.APPLIED).count()
    emails = StoredEmail.objects.filter(subject=LIVE, to__in=admins, created_at__gte=since).count()
    return delivered + min(applied, emails), 2 * len(change_ids)


def one_round(subscriptions, redis_server, worker, timeout: float) -> dict:
    from django.utils import timezone

    from subscriptions import seat_changes
    from subscriptions.models import SeatSync

    worker.stop()
    since = timezone.now()
    changes = []
    for subscription in subscriptions:
        subscription.refresh_from_db()
        change = signed_increase(subscription, subscription.quantity + 1)
        seat_changes.seat_change_apply(seat_change=change, via="payment")
        changes.append(change)
    change_ids = [c.pk for c in changes]
    sync_ids = list(SeatSync.objects.filter(seat_change_id__in=change_ids).values_list("pk", flat=True))
    admins = [s.admin_email for s in subscriptions]
    oldest = min(SeatSync.objects.filter(pk__in=sync_ids).values_list("created_at", flat=True))

    redis_server.restart()
    back = time.monotonic()
    age = (timezone.now() - oldest).total_seconds()
    worker.start()
    recovered = wait_until(
        lambda: (lambda done, total: done == total)(*landed(change_ids, sync_ids, admins, since)),
        timeout=timeout,
        interval=0.2,
    )
    seconds = time.monotonic() - back
    done, total = landed(change_ids, sync_ids, admins, since)
    return {"seconds": seconds, "recovered": recovered, "done": done, "items": total, "age": age}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=40, help="pending changes per round (default 40)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--timeout", type=int, default=180, help="bound on one round's recovery, s")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_server = RedisServer()
    redis_server.start()
    os.environ["REDIS_URL"] = redis_server.url
    configure_environment()
    workdir = tempfile.mkdtemp(prefix="seatmgr-bench-recovery-")
    receiver = Receiver()
    worker = CeleryWorker("bench-recovery", workdir, include=None)
    beat = Beat(dict(os.environ), name="bench-recovery")
    beat.log_path = Path(workdir) / "beat.log"
    results, ok = [], False
    try:
        with Deadline(60 + args.rounds * (args.timeout + 60)):
            setup_django()
            from licensing.delivery import REQUEUE_GRACE
            from seatmgr.celery import app

            requeue_every = app.conf.beat_schedule["requeue-seat-syncs"]["schedule"]
            subscriptions = seed(receiver.url, args.changes)
            worker.start()
            beat.start()
            print(f"Redis {redis_server.url} (its own), database {os.environ['DATABASE_URL']}")
            print(
                f"requeue-seat-syncs every {requeue_every:.0f} s, "
                f"REQUEUE_GRACE {REQUEUE_GRACE.total_seconds():.0f} s"
            )
            for number in range(1, args.rounds + 1):
                result = one_round(subscriptions, redis_server, worker, args.timeout)
                results.append(result)
                print(
                    f"round {number}: {result['done']}/{result['items']} items "
                    f"({args.changes} pushes + {args.changes} live emails) landed "
                    f"{result['seconds']:.1f} s after Redis was back; "
                    f"pending rows were {result['age']:.1f} s old at the restart"
                )
            ok = all(r["recovered"] and r["seconds"] <= GOAL_SECONDS for r in results)
            worst = max(r["seconds"] for r in results)
            verdict = "met" if ok else "MISSED"
            print(f"\nworst recovery {worst:.1f} s (goal <= {GOAL_SECONDS:.0f} s): {verdict}")
    finally:
        beat.stop()
        worker.stop()
        receiver.stop()
        try:
            drop_organizations(ORG_SLUG)
        except Exception as error:
            print(f"(cleanup: {error})")
        redis_server.stop()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"Worker and beat logs kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
