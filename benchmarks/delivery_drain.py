"""How fast queued pushes drain, beside a bare Celery task that only POSTs; and the
worker's memory beside a bare Celery worker with Django loaded.

    .venv/bin/python benchmarks/delivery_drain.py [--rows 1000] [--rounds 2]

Seeds 1,000 organizations, each with a live subscription and a signed-webhook
connected org pointing at one local receiver (127.0.0.1), then with 1 and then 2
worker processes (the app's worker, `celery -A seatmgr worker -l info --concurrency 2`,
plus `--include benchmarks.bench_tasks`), alternating, `--rounds` times each:

- `bare`: 1,000 `benchmarks.bench_tasks.post_to_receiver` tasks enqueued at once;
  each only POSTs a small JSON body to the receiver (one `requests.post`);
- `deliver`: 1,000 pending SeatSync rows, one per subscription (a new version each
  round, so newest-wins supersedes none), and their 1,000
  `licensing.tasks.deliver_seat_sync` tasks enqueued at once; each pushes a signed
  webhook through the app's delivery service and records it.

A batch's time runs from the first `delay()` to the last POST received (`bare`) or
the last row recorded delivered (`deliver`). Prints rows/s per batch and the ratio
deliver/bare per worker count (goal >= 0.5). Then a bare Celery worker with Django
loaded and none of the app's tasks (`celery -A benchmarks.bench_tasks:bare_app
worker`, same options) drains the bare task once, and the RSS (ps) of each worker
(main process + its pool of 2) after its runs is compared (goal: the app's worker
<= 1.3x the bare one). Exit status 1 when a goal is missed or a push went wrong.

DATABASE_URL / REDIS_URL as `delivery_latency.py` (loopback only, database
created and migrated when missing, queue purged before and after). Bounded
(`--timeout`, 600 s); workers are always stopped, also on an error or a signal.
"""

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
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
    busy_cpu_percent,
    clean_up,
    configure_environment,
    cpu_shares,
    cpu_ticks_by_process,
    drop_organizations,
    group_cpu_seconds,
    purge_queue,
    setup_django,
    worker_environment_shown,
)

DRAIN_PREFIX = "bench-drain-"
GOAL_RATIO = 0.5
GOAL_MEMORY_RATIO = 1.3


@dataclass
class Batch:
    workers: int
    kind: str  # bare | deliver
    round: int
    rows: int
    seconds: float
    others_cpu: float  # % of all cores used by other processes meanwhile
    services_cpu: float  # % of all cores used by PostgreSQL and Redis meanwhile
    worker_cpu: float  # CPU seconds used by the workers (main and pool processes)
    stolen_cpu: float  # % of all cores the virtual machine's host took meanwhile (steal)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


# --- Seed ----------------------------------------------------------------------------------


def seed(rows: int, receiver_url: str, prefix: str = DRAIN_PREFIX) -> list[tuple[int, int]]:
    """`rows` organizations (slugs starting with `prefix`, earlier runs' dropped) with a
    live subscription and a webhook connected org each. Returns (organization id,
    subscription id) pairs."""
    from django.db import transaction
    from django.utils import timezone

    from licensing.connectors import webhook
    from licensing.models import ConnectedOrg
    from subscriptions.models import Organization, Subscription

    drop_organizations(prefix)
    tag, now, plan = secrets.token_hex(3), timezone.now(), bench_plan()
    with transaction.atomic():
        organizations = Organization.objects.bulk_create(
            Organization(
                name=f"Drain {i:04d} Ltd",
                slug=f"{prefix}{tag}-{i:04d}",
                billing_email=f"billing{i}@drain.bench.example",
            )
            for i in range(rows)
        )
        ConnectedOrg.objects.bulk_create(
            ConnectedOrg(
                organization=organization,
                kind=ConnectedOrg.Kind.WEBHOOK,
                webhook_url=receiver_url,
                webhook_secret=webhook.new_secret(),
            )
            for organization in organizations
        )
        subscriptions = Subscription.objects.bulk_create(
            Subscription(
                organization=organization,
                plan=plan,
                quantity=10,
                admin_email=f"admin{i}@drain.bench.example",
                status=Subscription.Status.ACTIVE,
                current_period_start=now - timedelta(days=10),
                current_period_end=now + timedelta(days=20),
                activated_at=now - timedelta(days=10),
            )
            for i, organization in enumerate(organizations)
        )
    return [(s.organization_id, s.pk) for s in subscriptions]


def pending_rows(subscriptions: list[tuple[int, int]], version: int) -> list[int]:
    """One pending SeatSync per subscription, at `version` (the subscription's quantity
    and version move with it, as `seat_change_apply` does). Returns their ids."""
    from django.db import transaction

    from subscriptions.models import SeatSync, Subscription

    with transaction.atomic():
        Subscription.objects.filter(pk__in=[s for _, s in subscriptions]).update(
            quantity=10 + version, seats_version=version
        )
        created = SeatSync.objects.bulk_create(
            SeatSync(
                organization_id=organization_id,
                subscription_id=subscription_id,
                quantity=10 + version,
                version=version,
            )
            for organization_id, subscription_id in subscriptions
        )
    return [row.pk for row in created]


# --- Batches -------------------------------------------------------------------------------


def steal_ticks() -> int:
    """CPU time the host took from this virtual machine so far (/proc/stat "steal"):
    the noise no process here can see."""
    with open("/proc/stat") as stat:
        return int(stat.readline().split()[8])


def bare_body(i: int) -> str:
    """About the size of a push's body."""
    return json.dumps(
        {
            "organization": f"{DRAIN_PREFIX}{i:04d}",
            "product": "documents",
            "seats": 11,
            "seat_change": None,
            "version": 1,
            "occurred_at": "2026-01-01T00:00:00+00:00",
        },
        separators=(",", ":"),
    )


class Runner:
    def __init__(self, receiver: Receiver, subscriptions: list[tuple[int, int]], rows: int):
        self.receiver, self.subscriptions, self.rows = receiver, subscriptions, rows
        self.version = 0
        self.our_groups: set[int] = set()
        self.problems: list[str] = []

    def _timed(self, workers: int, kind: str, round_: int, rows: int, run) -> Batch:
        cpu_before, steal_before = cpu_ticks_by_process(), steal_ticks()
        started = time.monotonic()
        run()
        seconds = time.monotonic() - started
        cpu_after, steal_after = cpu_ticks_by_process(), steal_ticks()
        others, services = cpu_shares(cpu_before, cpu_after, seconds, self.our_groups)
        worker_cpu = group_cpu_seconds(cpu_before, cpu_after, self.our_groups)
        capacity = seconds * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
        stolen = 100 * (steal_after - steal_before) / capacity
        return Batch(workers, kind, round_, rows, seconds, others, services, worker_cpu, stolen)

    def bare(self, workers: int, round_: int, rows: int | None = None) -> Batch:
        from benchmarks.bench_tasks import post_to_receiver

        rows = rows or self.rows
        target = self.receiver.count + rows
        bodies = [bare_body(i) for i in range(rows)]

        def run():
            for body in bodies:
                post_to_receiver.delay(self.receiver.url, body)
            if not self.receiver.wait_for_count(target, timeout=120):
                raise RuntimeError(f"bare: {target - self.receiver.count} POSTs missing after 120 s")

        batch = self._timed(workers, "bare", round_, rows, run)
        self._settled(target, "bare")
        return batch

    def deliver(self, workers: int, round_: int, rows: int | None = None) -> Batch:
        from licensing.models import SeatSyncAttempt
        from licensing.tasks import deliver_seat_sync
        from subscriptions.models import SeatSync

        rows = rows or self.rows
        self.version += 1
        ids = pending_rows(self.subscriptions[:rows], self.version)
        # As the app enqueues them (the seat_sync_created signal carries both ids).
        pairs = list(SeatSync.objects.filter(pk__in=ids).values_list("pk", "subscription_id"))
        target = self.receiver.count + rows

        def run():
            for pk, subscription_id in pairs:
                deliver_seat_sync.delay(pk, subscription_id)
            if not self.receiver.wait_for_count(target, timeout=120):
                raise RuntimeError(f"deliver: {target - self.receiver.count} pushes missing after 120 s")
            deadline = time.monotonic() + 60
            delivered = SeatSync.objects.filter(pk__in=ids, status=SeatSync.Status.DELIVERED)
            while delivered.count() < rows:
                if time.monotonic() > deadline:
                    raise RuntimeError("deliver: rows not recorded delivered after 60 s")
                time.sleep(0.005)

        batch = self._timed(workers, "deliver", round_, rows, run)
        self._settled(target, "deliver")
        failed = SeatSyncAttempt.objects.filter(seat_sync_id__in=ids).exclude(outcome="delivered").count()
        if failed:
            self.problems.append(f"{failed} failed attempts in deliver round {round_} ({workers} workers)")
        return batch

    def _settled(self, target: int, kind: str) -> None:
        time.sleep(0.2)  # a duplicate would show up here
        if self.receiver.count != target:
            self.problems.append(f"{kind}: the receiver got {self.receiver.count - target} POSTs too many")


# --- Main ----------------------------------------------------------------------------------


def start_workers(names: list[str], workdir: str, runner: Runner, **kwargs) -> list[CeleryWorker]:
    workers = [CeleryWorker(name, workdir, **kwargs) for name in names]
    try:
        for worker in workers:
            worker.start()
            runner.our_groups.add(worker.process.pid)
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    return workers


def show_memory(label: str, memory: dict) -> str:
    pool = " + ".join(f"{m:.0f}" for m in memory["pool"])
    return f"| {label} | {memory['main']:.0f} | {pool} | {memory['total']:.0f} | {memory['pss']:.0f} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows (and bare tasks) per batch")
    parser.add_argument("--rounds", type=int, default=2, help="batches of each kind per worker count")
    parser.add_argument("--warmup", type=int, default=50, help="tasks of each kind before measuring")
    parser.add_argument("--timeout", type=int, default=600, help="bound on the whole run, s (default 600)")
    args = parser.parse_args()

    configure_environment()
    workdir = tempfile.mkdtemp(prefix="seatmgr-bench-drain-")
    receiver = Receiver()
    running: list[CeleryWorker] = []
    batches: list[Batch] = []
    memory: dict[str, dict] = {}
    commands: dict[str, str] = {}
    ok = False
    try:
        with Deadline(args.timeout):
            setup_django()
            busy = busy_cpu_percent()
            print(f"CPU busy before starting: {busy:.0f}% of {os.cpu_count()} cores")
            if busy > 10:
                print("WARNING: the machine is busy; the numbers below will be noisy and low.")
            started = time.monotonic()
            subscriptions = seed(args.rows, receiver.url)
            print(f"Seeded {len(subscriptions):,} organizations in {time.monotonic() - started:.1f} s")
            runner = Runner(receiver, subscriptions, args.rows)
            purge_queue()

            for count in (1, 2):
                names = [f"bench-drain-{count}w{n + 1}" for n in range(count)]
                running = start_workers(names, workdir, runner)
                commands[f"{count} worker(s)"] = running[0].shown()
                runner.bare(count, 0, args.warmup)
                runner.deliver(count, 0, args.warmup)
                for round_ in range(1, args.rounds + 1):
                    for kind in ("bare", "deliver"):
                        batch = getattr(runner, kind)(count, round_)
                        batches.append(batch)
                        print(
                            f"  {count} worker(s), round {round_}, {kind}: {batch.rate:,.0f} rows/s "
                            f"({batch.seconds:.2f} s; other processes' CPU {batch.others_cpu:.0f}%, "
                            f"stolen by the host {batch.stolen_cpu:.0f}%)",
                            flush=True,
                        )
                for worker in running:
                    memory[f"app worker {worker.name}, after its runs"] = worker.memory()
                for worker in running:
                    worker.stop()
                running = []

            running = start_workers(
                ["bench-bare-django"], workdir, runner, app="benchmarks.bench_tasks:bare_app", include=None
            )
            commands["bare worker"] = running[0].shown()
            memory["bare worker with Django, at ready"] = running[0].memory()
            runner.bare(0, 0, args.warmup)
            bare_worker_batch = runner.bare(0, 1)
            memory["bare worker with Django, after its runs"] = running[0].memory()
            running[0].stop()
            running = []
            print(f"  bare worker with Django, bare: {bare_worker_batch.rate:,.0f} rows/s")

            print(f"\nworkers: {worker_environment_shown()}")
            for label, command in commands.items():
                print(f"  {label}: {command}")
            ok = report(batches, bare_worker_batch, memory, runner.problems)
    finally:
        for worker in running:
            worker.stop()
        clean_up(receiver, DRAIN_PREFIX, workdir, ok)
    return 0 if ok else 1


def report(batches: list[Batch], bare_worker: Batch, memory: dict, problems: list[str]) -> bool:
    print(
        "\n| Workers | Task | Round | Rows | Seconds | Rows/s | Worker CPU ms/row "
        "| CPU of other processes; PostgreSQL+Redis; stolen by the host |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for b in batches:
        print(
            f"| {b.workers} | {b.kind} | {b.round} | {b.rows:,} | {b.seconds:.2f} | {b.rate:,.0f} "
            f"| {1000 * b.worker_cpu / b.rows:.1f} "
            f"| {b.others_cpu:.0f}%; {b.services_cpu:.0f}%; {b.stolen_cpu:.0f}% |"
        )

    print("\n| Workers | bare rows/s | deliver rows/s | deliver / bare | worker CPU ms/row: bare, deliver |")
    print("|---:|---:|---:|---:|---|")
    ratios = []
    for count in (1, 2):

        def of(kind, count=count):
            return [b for b in batches if b.workers == count and b.kind == kind]

        bare = statistics.mean(b.rate for b in of("bare"))
        deliver = statistics.mean(b.rate for b in of("deliver"))
        cpu = {
            k: 1000 * sum(b.worker_cpu for b in of(k)) / sum(b.rows for b in of(k))
            for k in ("bare", "deliver")
        }
        ratios.append(deliver / bare)
        print(
            f"| {count} | {bare:,.0f} | {deliver:,.0f} | {deliver / bare:.2f} "
            f"| {cpu['bare']:.1f}, {cpu['deliver']:.1f} |"
        )
    print(f"(bare worker with Django, bare task: {bare_worker.rate:,.0f} rows/s)")

    print("\n| Worker | main RSS (MiB) | pool RSS (MiB) | RSS in all (MiB) | PSS in all (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for label, m in memory.items():
        print(show_memory(label, m))
    baseline = memory["bare worker with Django, after its runs"]["total"]
    app_rss = max(m["total"] for label, m in memory.items() if label.startswith("app worker"))
    memory_ratio = app_rss / baseline

    worst_ratio = min(ratios)
    ratio_ok, memory_ok = worst_ratio >= GOAL_RATIO, memory_ratio <= GOAL_MEMORY_RATIO
    print(
        f"\nGoal: deliver >= {GOAL_RATIO}x bare: {', '.join(f'{r:.2f}' for r in ratios)} (1, 2 workers) "
        f"{'met' if ratio_ok else 'MISSED'}; app worker RSS <= {GOAL_MEMORY_RATIO}x the bare one: "
        f"{app_rss:.0f} / {baseline:.0f} MiB = {memory_ratio:.2f}x {'met' if memory_ok else 'MISSED'}; "
        f"pushes: {'; '.join(problems) if problems else 'each once, none failed'}."
    )
    return ratio_ok and memory_ok and not problems


if __name__ == "__main__":
    sys.exit(main())
