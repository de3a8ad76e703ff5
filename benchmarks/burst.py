"""A burst of paid changes beside one at a time: from the payment's success to the
connected org receiving the new count.

    .venv/bin/python benchmarks/burst.py [--burst 100] [--singles 30] [--rounds 1]
        [--shapes compose,one-worker] [--urgent-concurrency 4]

For each shape of workers and round, seeds `--singles` + `--burst` organizations,
each with a live subscription and a signed-webhook connected org pointing at one local
receiver (127.0.0.1), and for each a signed increase awaiting payment with its Payment
(not timed). A change is paid the way Stripe tells us: its `payment_intent.succeeded`
webhook, signed, is recorded by `billing.webhooks.stripe_event_record` (what the
webhook view calls; the clock starts just before), which queues `process_stripe_event`
on commit; an urgent worker marks the payment succeeded, applies the change (quantity,
SeatSync row) and, right after its commit, pushes the count; the receipt and the
card-on-file update it queued wait for the dispatcher (`FOLLOW_UP_HOLD`), which beat
runs, as in compose. The clock stops when the receiver gets the signed POST; each
receipt is timed too (payment → receipt sent).

- one at a time: `--singles` changes, each paid once the previous one was applied;
- burst: `--burst` changes paid at once (their webhooks recorded back to back).

Shapes, alternating round after round: `compose`, the workers as docker-compose.yml
runs them, with beat: one for the urgent queue (`-Q urgent --concurrency 4`, or
`--urgent-concurrency`) and one for emails and batch work (`-Q email,batch
--concurrency 2`, with compose's CPU weight: a quarter of the urgent one's, set here
on its session's autogroup, `BACKGROUND_AUTOGROUP_NICE`); `one-worker`, one worker
(concurrency 2) for every queue, the shape
before the queues were split. Prints, per trial, p50/p95/max of payment → org received
(and → paid and applied, → delivery recorded) and the workers' CPU during the burst;
then per shape the p50/p95 over its rounds and the ratio burst/one at a time. Goal:
the compose shape's burst p95 <= 1 s. Exit status 1 when it is missed or a push is
missing, duplicated or wrongly signed.

DATABASE_URL / REDIS_URL as `delivery_latency.py` (loopback only, database created and
migrated when missing); the Celery queues are the run's own (`CELERY_QUEUE_PREFIX`
bench-burst-), purged before and after. Bounded (`--timeout`, 600 s); workers are
always stopped, also on an error or a signal.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import billing_common, billing_webhook  # noqa: E402 - after the path is set
from benchmarks.delivery_drain import seed  # noqa: E402
from benchmarks.delivery_latency import (  # noqa: E402
    CeleryWorker,
    Deadline,
    Receiver,
    busy_cpu_percent,
    clean_up,
    configure_environment,
    cpu_shares,
    cpu_ticks_by_process,
    group_cpu_seconds,
    percentile,
    purge_queue,
    setup_django,
    signed_increase,
    worker_environment_shown,
)
from tests.faults.harness import Beat  # noqa: E402

BURST_PREFIX = "bench-burst-"
GOAL_P95_MS = 1000.0
URGENT_CONCURRENCY = 4  # as docker-compose.yml's worker-urgent (tests/test_deployment.py)


# docker-compose.yml gives the background worker cpu_shares 256 (the urgent one has the
# default, 1024). Here each worker runs in a session of its own, and the kernel weighs
# sessions (autogroups) against each other by the autogroup's nice value: nice 6 is a
# weight of 272 against 1024 at nice 0, the same quarter.
BACKGROUND_AUTOGROUP_NICE = 6


def shape_workers(shape: str, urgent_concurrency: int) -> list[tuple[str, str | None, int, int]]:
    """(name, kinds of work it serves (None: every queue), concurrency, autogroup nice)
    of each worker."""
    if shape == "one-worker":
        return [("burst-all", None, 2, 0)]
    return [
        ("burst-urgent", "urgent", urgent_concurrency, 0),
        ("burst-background", "email,batch", 2, BACKGROUND_AUTOGROUP_NICE),
    ]


def weigh(worker: CeleryWorker, nice: int) -> str:
    """Give the worker's session (autogroup) its CPU weight; what was done, shown."""
    if not nice:
        return ""
    autogroup = Path(f"/proc/{worker.process.pid}/autogroup")
    try:
        autogroup.write_text(str(nice))
        return f" (CPU weight: {autogroup.read_text().strip()}, as compose's cpu_shares)"
    except OSError as error:
        return f" (CPU weight NOT set, {error}: the background worker competes at full weight)"


@dataclass
class Paid:
    """A change ready to be paid: its subscription, and the webhook that pays it."""

    subscription_id: int
    seat_change_id: int
    body: bytes
    started: float = 0.0  # monotonic, just before the webhook is recorded
    started_wall: float = 0.0


def prepare(subscriptions: list[tuple[int, int]], run: str) -> list[Paid]:
    """For each subscription, a signed increase awaiting payment, its Payment sent to
    Stripe, and the `payment_intent.succeeded` event Stripe would send for it."""
    from billing.models import Payment
    from subscriptions.models import Subscription

    prepared = []
    for number, (_, subscription_id) in enumerate(subscriptions):
        subscription = Subscription.objects.select_related("plan").get(pk=subscription_id)
        change = signed_increase(subscription, subscription.quantity + 1)
        event = billing_webhook.event(number, run, amount=change.amount_due)
        payment = Payment.objects.create(
            organization_id=change.organization_id,
            subscription=subscription,
            seat_change=change,
            amount=change.amount_due,
            currency=change.currency,
            attempts=1,
            stripe_payment_intent_id=event["data"]["object"]["id"],
        )
        event["data"]["object"]["metadata"]["seatmgr_payment"] = str(payment.pk)  # as ours carry it
        prepared.append(Paid(subscription_id, change.pk, json.dumps(event).encode()))
    return prepared


def pay(paid: Paid) -> None:
    """Stripe's webhook for this change arrives: verified, stored, processing queued."""
    from billing.webhooks import stripe_event_record

    signature = billing_webhook.signed(paid.body)
    paid.started, paid.started_wall = time.monotonic(), time.time()
    _, first = stripe_event_record(payload=paid.body, signature=signature)
    if not first:
        raise RuntimeError(f"The webhook of subscription {paid.subscription_id} was already recorded.")


def wait_applied(paid: Paid, timeout: float = 30) -> None:
    from subscriptions.models import SeatChange

    deadline = time.monotonic() + timeout
    while not SeatChange.objects.filter(pk=paid.seat_change_id, state=SeatChange.State.APPLIED).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Seat change {paid.seat_change_id} was not applied within {timeout:.0f} s.")
        time.sleep(0.005)


def receipts_sent(changes: list[Paid]) -> dict[int, datetime]:
    """subscription id -> when its payment's receipt was sent (the outbox job done)."""
    from billing.models import Payment
    from outbox.models import OutboxMessage

    payments = dict(
        Payment.objects.filter(seat_change_id__in=[p.seat_change_id for p in changes]).values_list(
            "pk", "subscription_id"
        )
    )
    done = OutboxMessage.objects.filter(
        key__in=[f"receipt:{pk}" for pk in payments], done_at__isnull=False
    ).values_list("key", "done_at")
    return {payments[int(key.split(":")[1])]: at for key, at in done}


def wait_receipts(changes: list[Paid], timeout: float = 60) -> None:
    """Until every change's receipt is sent (queued by the urgent job, handed on by the
    dispatcher that beat runs), or `timeout`; a missing one is reported by `samples`."""
    deadline = time.monotonic() + timeout
    while len(receipts_sent(changes)) < len(changes) and time.monotonic() < deadline:
        time.sleep(0.2)


def drop_outbox_leftovers() -> int:
    """Outbox messages an earlier run left undone (its queues purged, its organizations
    dropped): this run's dispatcher would hand them on in front of this run's."""
    from outbox.models import OutboxMessage

    deleted, _ = OutboxMessage.objects.filter(done_at__isnull=True).delete()
    return deleted


def one_at_a_time(changes: list[Paid], receiver: Receiver) -> None:
    for paid in changes:
        seen = receiver.count
        pay(paid)
        if not receiver.wait_for_count(seen + 1, timeout=30):
            raise RuntimeError(f"The push of subscription {paid.subscription_id} did not arrive within 30 s.")
        wait_applied(paid)


def burst(changes: list[Paid], receiver: Receiver) -> float:
    """Pay every change at once; returns how long recording their webhooks took (s)."""
    seen = receiver.count
    started = time.monotonic()
    for paid in changes:
        pay(paid)
    recorded = time.monotonic() - started
    if not receiver.wait_for_count(seen + len(changes), timeout=120):
        raise RuntimeError(f"Only {receiver.count - seen} of {len(changes)} pushes arrived within 120 s.")
    for paid in changes:
        wait_applied(paid)
    return recorded


def samples(changes: list[Paid], receiver: Receiver) -> tuple[list[dict], list[str]]:
    """Per change (ms): payment → org received, → paid (the webhook processed, change
    applied), → delivery recorded; and what went wrong with the pushes."""
    from billing.models import Payment
    from licensing.connectors import webhook
    from licensing.models import ConnectedOrg
    from subscriptions.models import SeatSync

    by_subscription = {paid.subscription_id: paid for paid in changes}
    syncs = {
        f"seatsync_{row.pk}": row
        for row in SeatSync.objects.filter(seat_change_id__in=[p.seat_change_id for p in changes])
    }
    secrets = dict(
        ConnectedOrg.objects.filter(organization__subscriptions__in=list(by_subscription)).values_list(
            "organization__subscriptions", "webhook_secret"
        )
    )
    paid_at = dict(
        Payment.objects.filter(seat_change_id__in=[p.seat_change_id for p in changes]).values_list(
            "subscription_id", "paid_at"
        )
    )
    receipts = receipts_sent(changes)
    problems, rows, received = [], [], set()
    for arrived, _, headers, body in receiver.items:
        sync = syncs.get(headers.get("webhook-id"))
        if sync is None:
            continue
        if sync.pk in received:
            problems.append(f"{headers['webhook-id']} received more than once")
            continue
        received.add(sync.pk)
        paid = by_subscription[sync.subscription_id]
        if not webhook.verify(
            secret=secrets[sync.subscription_id], headers=headers, body=body, tolerance=3600
        ):
            problems.append(f"bad signature on {headers['webhook-id']}")
        if json.loads(body)["seats"] != sync.quantity:
            problems.append(f"{headers['webhook-id']} carried the wrong count")
        rows.append(
            {
                "received": (arrived - paid.started) * 1000,
                "paid": (paid_at[sync.subscription_id].timestamp() - paid.started_wall) * 1000,
                "recorded": (sync.delivered_at.timestamp() - paid.started_wall) * 1000,
                "receipt": (receipts[paid.subscription_id].timestamp() - paid.started_wall) * 1000
                if paid.subscription_id in receipts
                else None,
            }
        )
    if len(received) != len(changes):
        problems.append(f"{len(changes) - len(received)} pushes never received")
    if len(receipts) != len(changes):
        problems.append(f"{len(changes) - len(receipts)} receipts not sent within a minute")
    return rows, problems


def burst_cpu(before: dict, seconds: float, workers: list[CeleryWorker], changes: int) -> str:
    """Where the CPU went while the burst was processed: each worker's (per change), and
    the share of all cores taken by PostgreSQL and Redis, and by other processes."""
    after = cpu_ticks_by_process()
    used = [
        f"{worker.name} {group_cpu_seconds(before, after, {worker.process.pid}):.1f} s "
        f"({group_cpu_seconds(before, after, {worker.process.pid}) * 1000 / changes:.0f} ms a change)"
        for worker in workers
    ]
    others, services = cpu_shares(before, after, seconds, {worker.process.pid for worker in workers})
    return (
        f"CPU during the burst ({seconds:.1f} s): {', '.join(used)}; PostgreSQL+Redis (this run's and "
        f"others') {services:.0f}%, other processes {others:.0f}% of {os.cpu_count()} cores"
    )


def summary(label: str, rows: list[dict]) -> list[str]:
    lines = []
    for key, name in (("received", "payment → org received"), ("paid", "payment → paid, applied"),
                      ("recorded", "payment → delivery recorded"),
                      ("receipt", "payment → receipt sent")):  # fmt: skip
        values = [row[key] for row in rows if row[key] is not None]
        if not values:
            continue
        lines.append(
            f"| {label}, {name} | {len(values)} | {percentile(values, 50):.0f} | "
            f"{percentile(values, 95):.0f} | {max(values):.0f} |"
        )
    return lines


@dataclass
class Trial:
    shape: str
    round: int
    singles: list[dict]
    burst: list[dict]
    problems: list[str]
    recorded: float  # s to record the burst's webhooks
    cpu: str


def trial(shape: str, round_: int, changes: list[Paid], singles: int, args, workdir: str, receiver) -> Trial:
    """Start the shape's workers, pay `singles` changes one at a time then the rest at
    once, stop the workers."""
    from django.conf import settings

    purge_queue()
    workers, nices = [], []
    beat = Beat(dict(os.environ), name=f"bench-burst-{round_}")
    beat.log_path = Path(workdir) / f"beat-{round_}.log"
    try:
        for name, kinds, concurrency, nice in shape_workers(shape, args.urgent_concurrency):
            queues = kinds and ",".join(settings.CELERY_QUEUES_BY_KIND[kind] for kind in kinds.split(","))
            workers.append(
                CeleryWorker(
                    f"{name}-{round_}", workdir, include=None, queues=queues, concurrency=concurrency
                )
            )
            nices.append(nice)
        for worker, nice in zip(workers, nices, strict=True):
            worker.start()
            weighed = weigh(worker, nice)
            if round_ == 1:
                print(f"worker ({shape}): {worker_environment_shown()} {worker.shown()}{weighed}")
        beat.start()
        one_at_a_time(changes[:singles], receiver)
        cpu_before, started = cpu_ticks_by_process(), time.monotonic()
        recorded = burst(changes[singles:], receiver)
        cpu = burst_cpu(cpu_before, time.monotonic() - started, workers, len(changes) - singles)
        wait_receipts(changes)
    finally:
        beat.stop()
        for worker in workers:
            worker.stop()
    single_rows, single_problems = samples(changes[:singles], receiver)
    burst_rows, burst_problems = samples(changes[singles:], receiver)
    return Trial(shape, round_, single_rows, burst_rows, single_problems + burst_problems, recorded, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=100, help="changes paid at once (default 100)")
    parser.add_argument("--singles", type=int, default=30, help="changes paid one at a time (default 30)")
    parser.add_argument(
        "--shapes", default="compose,one-worker", help="workers, in turn (compose, one-worker)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="of each shape, alternating (default 1)")
    parser.add_argument(
        "--urgent-concurrency", type=int, default=URGENT_CONCURRENCY, help="of the urgent worker (compose)"
    )
    parser.add_argument("--timeout", type=int, default=600, help="bound on the whole run, s (default 600)")
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    if not set(shapes) <= {"compose", "one-worker"}:
        parser.error("--shapes: compose and/or one-worker")

    os.environ["CELERY_QUEUE_PREFIX"] = BURST_PREFIX
    os.environ.update(billing_common.stripe_environment())
    configure_environment()
    workdir = tempfile.mkdtemp(prefix="seatmgr-bench-burst-")
    receiver = Receiver(keep=True)
    ok = False
    try:
        with Deadline(args.timeout):
            setup_django()
            busy = busy_cpu_percent()
            print(f"CPU busy before starting: {busy:.0f}% of {os.cpu_count()} cores")
            if dropped := drop_outbox_leftovers():
                print(f"Dropped {dropped} outbox messages earlier runs left undone")
            per_trial = args.singles + args.burst
            runs = [(round_, shape) for round_ in range(1, args.rounds + 1) for shape in shapes]
            subscriptions = seed(per_trial * len(runs), receiver.url, prefix=BURST_PREFIX)
            changes = prepare(subscriptions, datetime.now(UTC).strftime("%H%M%S%f"))
            trials = [
                trial(
                    shape,
                    round_,
                    changes[i * per_trial : (i + 1) * per_trial],
                    args.singles,
                    args,
                    workdir,
                    receiver,
                )
                for i, (round_, shape) in enumerate(runs)
            ]
            ok = report(trials)
    finally:
        clean_up(receiver, BURST_PREFIX, workdir, ok)
    return 0 if ok else 1


def report(trials: list[Trial]) -> bool:
    """Each trial's table, then per shape over its rounds; the goal is the compose
    shape's burst p95 (over every round's changes)."""
    for t in trials:
        print(
            f"\nRound {t.round}, {t.shape}: {len(t.singles)} paid changes one at a time, then "
            f"{len(t.burst)} at once (their webhooks recorded in {t.recorded * 1000:.0f} ms)"
        )
        print("\n| measured | changes | p50 ms | p95 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        for line in summary("one at a time", t.singles) + summary(f"burst of {len(t.burst)}", t.burst):
            print(line)
        print(t.cpu)
    print(
        "\n| shape: payment → org received | one at a time, p50 / p95 ms | burst, p50 / p95 ms "
        "| p95 burst ÷ one |"
    )
    print("|---|---:|---:|---:|")
    goal_p95 = None
    for shape in dict.fromkeys(t.shape for t in trials):
        single = [row["received"] for t in trials if t.shape == shape for row in t.singles]
        burst_ = [row["received"] for t in trials if t.shape == shape for row in t.burst]
        p95 = percentile(burst_, 95)
        goal_p95 = p95 if shape == "compose" else goal_p95
        print(
            f"| {shape} | {percentile(single, 50):.0f} / {percentile(single, 95):.0f} | "
            f"{percentile(burst_, 50):.0f} / {p95:.0f} | {p95 / percentile(single, 95):.1f} |"
        )
    problems = [p for t in trials for p in t.problems]
    met = goal_p95 is not None and goal_p95 <= GOAL_P95_MS
    shown = "not run" if goal_p95 is None else f"{goal_p95:.0f} ms {'met' if met else 'MISSED'}"
    print(
        f"\nGoal: the compose shape's burst p95 <= {GOAL_P95_MS:.0f} ms: {shown}; pushes: "
        f"{'all once, correctly signed' if not problems else '; '.join(problems)}."
    )
    print(f"(at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    return met and not problems


if __name__ == "__main__":
    sys.exit(main())
