"""Recovery after a Redis restart: how long until every pending side effect has landed.

    .venv/bin/python benchmarks/recovery.py [--changes 40] [--rounds 2]

Starts a Redis of its own on a free port (nothing saved to disk: what it held dies
with it), one real Celery worker (`celery -A seatmgr worker -l info --concurrency 2`),
one real beat (`celery -A seatmgr beat`, the schedule of CELERY_BEAT_SCHEDULE) and a
webhook receiver on 127.0.0.1; seeds `--changes` organizations, each with a live
subscription whose connected org is that receiver and whose renewals a Stripe
subscription bills (the strict Stripe stand-in, `stripe_standin`, in front of a
localstripe of its own). Each round:

1. the worker is stopped; one seat change per subscription is signed (its "signed"
   email to the account manager is an outbox row) and paid
   (`seat_change_apply(via="payment")`): each writes its SeatSync row and queues its
   push, and its Stripe quantity sync is an outbox row; all of it queued in Redis,
   where nobody takes it;
2. Redis is SIGKILLed and started again at once (what it held is gone), and the
   worker is started again;
3. the clock runs from Redis being back until every side effect of those changes has
   landed: each push delivered (its row `delivered`, the receiver holding it), each
   change `applied` and its "Your new seat count is live" email sent, each Stripe
   subscription billing the new quantity, and every email that was pending at the
   restart sent (emails are kept in the database by benchmarks.settings, through the
   outbox as in production).

What brings the lost side effects back is beat: `requeue-seat-syncs` requeues a
pending push once it is `licensing.delivery.REQUEUE_GRACE` overdue, and
`dispatch-outbox` runs every outbox row (email, Stripe call) whose message was lost
once `outbox.services.PUBLISH_GRACE` has passed. Prints, per round, the recovery time,
the number of items (pushes + live emails + Stripe quantities + pending emails) and
the pending rows' age at the restart (goal: recovery <= 60 s). Exit status 1 when a
round misses the goal or does not recover within `--timeout`.

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
from tests.stripe_server import (  # noqa: E402
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    LocalStripe,
)
from tests.stripe_standin.fixtures import start_standin  # noqa: E402
from tests.stripe_standin.fixtures import stop as stop_standin  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seatmgr_bench_recovery"
ORG_SLUG = "bench-recovery-"
GOAL_SECONDS = 60.0
LIVE = "Your new seat count is live"


def seed(receiver_url: str, count: int, localstripe) -> list:
    from django.db import transaction
    from django.utils import timezone

    from licensing.connectors import webhook
    from licensing.models import ConnectedOrg
    from subscriptions.models import Organization, Subscription
    from tests.billing.factories import give_card_on_file, stripe_subscription

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
    for subscription in subscriptions:  # renewals billed by Stripe, as after a first payment
        give_card_on_file(localstripe, subscription)
        stripe_subscription(localstripe, subscription)
    return subscriptions


def stripe_quantity(localstripe, subscription) -> int:
    found = localstripe.get(f"/v1/subscriptions/{subscription.stripe_subscription_id}")
    return found["items"]["data"][0]["quantity"]


def landed(round_: dict, localstripe) -> tuple[int, int]:
    """(side effects landed, side effects in all) for one round's changes."""
    from devmail.models import StoredEmail
    from outbox.models import OutboxMessage
    from subscriptions.models import SeatChange, SeatSync

    change_ids, subscriptions = round_["change_ids"], round_["subscriptions"]
    delivered = SeatSync.objects.filter(pk__in=round_["sync_ids"], status=SeatSync.Status.DELIVERED).count()
    applied = SeatChange.objects.filter(pk__in=change_ids, state=SeatChange.State.APPLIED).count()
    emails = StoredEmail.objects.filter(
        subject=LIVE, to__in=round_["admins"], created_at__gte=round_["since"]
    ).count()
    pending = OutboxMessage.objects.filter(pk__in=round_["pending_emails"], done_at__isnull=False)
    pending_sent = pending.count()
    # Stripe is asked only once the rest has landed (one request per subscription).
    billed = 0
    if delivered == applied == emails == len(change_ids):
        quantities = zip(subscriptions, round_["quantities"], strict=True)
        billed = sum(stripe_quantity(localstripe, s) == q for s, q in quantities)
    done = delivered + min(applied, emails) + billed + pending_sent
    return done, 3 * len(change_ids) + len(round_["pending_emails"])


def one_round(subscriptions, redis_server, worker, timeout: float, localstripe) -> dict:
    from django.utils import timezone

    from outbox.models import OutboxMessage
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
    pending = OutboxMessage.objects.filter(created_at__gte=since, done_at__isnull=True)
    round_ = {
        "since": since,
        "change_ids": change_ids,
        "sync_ids": sync_ids,
        "subscriptions": subscriptions,
        "quantities": [c.new_quantity for c in changes],
        "admins": [s.admin_email for s in subscriptions],
        "pending_emails": list(pending.filter(kind="email").values_list("pk", flat=True)),
    }
    stripe_calls = pending.filter(job="billing.jobs.sync_stripe_quantity").count()
    oldest = min(SeatSync.objects.filter(pk__in=sync_ids).values_list("created_at", flat=True))

    redis_server.restart()
    back = time.monotonic()
    age = (timezone.now() - oldest).total_seconds()
    worker.start()
    recovered = wait_until(
        lambda: (lambda done, total: done == total)(*landed(round_, localstripe)),
        timeout=timeout,
        interval=0.5,
    )
    seconds = time.monotonic() - back
    done, total = landed(round_, localstripe)
    return {
        "seconds": seconds,
        "recovered": recovered,
        "done": done,
        "items": total,
        "age": age,
        "pending_emails": len(round_["pending_emails"]),
        "stripe_calls": stripe_calls,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=40, help="pending changes per round (default 40)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--timeout", type=int, default=180, help="bound on one round's recovery, s")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    workdir = tempfile.mkdtemp(prefix="seatmgr-bench-recovery-")
    standin_process, standin = start_standin(workdir)
    localstripe = LocalStripe(standin)
    os.environ.update(
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=standin.url,
    )
    redis_server = RedisServer()
    redis_server.start()
    os.environ["REDIS_URL"] = redis_server.url
    configure_environment()
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
            subscriptions = seed(receiver.url, args.changes, localstripe)
            worker.start()
            beat.start()
            print(f"Redis {redis_server.url} (its own), database {os.environ['DATABASE_URL']}")
            print(
                f"requeue-seat-syncs every {requeue_every:.0f} s, "
                f"REQUEUE_GRACE {REQUEUE_GRACE.total_seconds():.0f} s"
            )
            for number in range(1, args.rounds + 1):
                result = one_round(subscriptions, redis_server, worker, args.timeout, localstripe)
                results.append(result)
                print(
                    f"round {number}: {result['done']}/{result['items']} items "
                    f"({args.changes} pushes + {args.changes} live emails + {args.changes} Stripe "
                    f"quantities from {result['stripe_calls']} pending syncs + "
                    f"{result['pending_emails']} pending emails) landed "
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
        stop_standin(standin_process)
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"Worker and beat logs kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
