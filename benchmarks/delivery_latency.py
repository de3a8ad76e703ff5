"""Latency of a seat count's push: from the paid change's commit to the org receiving it.

    .venv/bin/python benchmarks/delivery_latency.py [--changes 200] [--warmup 10]

Starts a webhook receiver on 127.0.0.1 and one real Celery worker process (the app's
production command: `celery -A seatmgr worker -l info --concurrency 2`), seeds one
organization whose connected org is that receiver (signed webhook), then, one change
at a time: opens a seat change and signs it (not timed), confirms its payment with
`subscriptions.seat_changes.seat_change_apply(via="payment")` (quantity, version and
SeatSync row in one transaction, the task enqueued on commit) and times how long the
receiver waits for the signed POST carrying the new count. The next change starts
once the previous one is applied ("Your new seat count is live" sent).

Prints p50/p95/max of commit → received (goals: p50 <= 50 ms, p95 <= 250 ms), and,
for information, payment → received (the applying transaction included), commit →
`delay()` returned, and commit → the worker recording the delivery. Exit status 1
when a goal is missed or a push is missing, duplicated or wrongly signed.

DATABASE_URL and REDIS_URL default to postgres://postgres@127.0.0.1:5432/seatmgr_bench_delivery
and redis://127.0.0.1:6379/13 (loopback only); the database is created when missing
and migrated; the queue is purged before and after. Bounded (`--timeout`, 300 s);
the worker is always stopped (TERM, then KILL), also on an error, Ctrl-C or SIGTERM.

`delivery_drain.py` reuses the receiver, worker and set-up below.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seatmgr_bench_delivery"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}
BENCH_INCLUDE = "benchmarks.bench_tasks"

ORG_SLUG = "bench-delivery-latency"
PLAN_CODE = "documents-bench-delivery-monthly"
GOAL_P50_MS, GOAL_P95_MS = 50.0, 250.0
SHARED_SERVICES = {"postgres", "redis-server"}


# --- Environment ---------------------------------------------------------------------


def configure_environment() -> None:
    """The driver and the workers share these (a worker is started with os.environ):
    the same database, Redis and SECRET_KEY (the webhook secrets are encrypted with a
    key derived from it)."""
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    for name in ("DATABASE_URL", "REDIS_URL"):
        host = urlsplit(os.environ[name]).hostname or ""
        if host not in LOOPBACK:
            sys.exit(f"{name} must point at this machine (loopback), not {host!r}.")
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["DEBUG"] = "0"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    # A stray proxy setting must not route loopback POSTs elsewhere.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def setup_django() -> None:
    """Create the database when missing, set Django up, migrate."""
    import django
    from django.core.management import call_command

    from benchmarks.licence_check import ensure_database

    ensure_database()
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def purge_queue() -> int:
    from seatmgr.celery import app

    return app.control.purge()


def busy_cpu_percent(seconds: float = 1.0) -> float:
    from benchmarks.licence_check import busy_cpu_percent as busy

    return busy(seconds)


def cpu_ticks_by_process() -> dict[int, tuple[str, int, int]]:
    from benchmarks.licence_check import cpu_ticks_by_process as ticks

    return ticks()


def cpu_shares(before: dict, after: dict, seconds: float, our_groups: set[int]) -> tuple[float, float]:
    """% of all cores used meanwhile by processes other than ours (this driver and the
    workers' process groups), and by PostgreSQL and Redis (shared with others)."""
    others = services = 0
    for pid, (name, group, ticks) in after.items():
        if pid == os.getpid() or group in our_groups:
            continue
        used = ticks - before.get(pid, (name, group, 0))[2]
        if used <= 0:
            continue
        if name in SHARED_SERVICES:
            services += used
        else:
            others += used
    capacity = seconds * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
    return 100 * others / capacity, 100 * services / capacity


def group_cpu_seconds(before: dict, after: dict, groups: set[int]) -> float:
    """CPU seconds (user + system) used meanwhile by the processes of these groups."""
    ticks = sum(
        t - before.get(pid, (name, group, 0))[2] for pid, (name, group, t) in after.items() if group in groups
    )
    return ticks / os.sysconf("SC_CLK_TCK")


class Deadline:
    """The whole run is bounded: SIGALRM raises TimeoutError (the `finally` blocks
    stop the workers); SIGTERM exits the same way."""

    def __init__(self, seconds: int):
        self.seconds = seconds

    def __enter__(self):
        def expired(*_):
            raise TimeoutError(f"The benchmark did not finish within {self.seconds} s.")

        self._previous = (
            signal.signal(signal.SIGALRM, expired),
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143)),
        )
        signal.alarm(self.seconds)
        return self

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self._previous[0])
        signal.signal(signal.SIGTERM, self._previous[1])


# --- The org: a webhook receiver on loopback -------------------------------------------


class Receiver:
    """Answers 204 to every POST and counts them; with `keep`, also keeps each one's
    arrival time (monotonic and wall clock), headers and body."""

    def __init__(self, keep: bool = False):
        self.keep = keep
        self.count = 0
        self.items: list[tuple[float, float, dict, bytes]] = []
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                arrived, wall = time.monotonic(), time.time()
                with receiver.condition:
                    receiver.count += 1
                    if receiver.keep:
                        headers = {k.lower(): v for k, v in self.headers.items()}
                        receiver.items.append((arrived, wall, headers, body))
                    receiver.condition.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/seatmgr"

    def wait_for_count(self, count: int, timeout: float) -> bool:
        with self.condition:
            return self.condition.wait_for(lambda: self.count >= count, timeout=timeout)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- Celery workers ----------------------------------------------------------------------


class CeleryWorker:
    """One `celery worker` process (prefork pool, concurrency 2) in its own session,
    logging to a file; `stop()` reaches the pool too. It consumes every queue, or only
    `queues` (a comma-separated list, as `-Q` takes it)."""

    def __init__(
        self,
        name: str,
        log_dir: str,
        app: str = "seatmgr",
        include: str | None = BENCH_INCLUDE,
        queues: str | None = None,
        concurrency: int = 2,
    ):
        self.name = name
        self.concurrency = concurrency
        self.log_path = Path(log_dir) / f"{name}.log"
        self.command = [sys.executable, "-m", "celery", "-A", app, "worker", "-l", "info"]
        if queues:
            self.command += ["-Q", queues]
        self.command += ["--concurrency", str(concurrency), "--pool", "prefork", "--hostname", f"{name}@%h"]
        if include:
            self.command += ["--include", include]
        self.process: subprocess.Popen | None = None

    def shown(self) -> str:
        return " ".join(["celery", *self.command[3:]])

    def start(self, timeout: float = 60) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The Celery worker {self.name} exited:\n{self.log_tail()}")
            ready = " ready." in self.log_path.read_text(errors="replace")
            if ready and len(self.pids()) == 1 + self.concurrency:  # the main process and its pool
                return
            time.sleep(0.1)
        raise RuntimeError(f"The Celery worker {self.name} did not become ready:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _ps(self) -> list[tuple[int, int, int]]:
        """(pid, ppid, RSS in KiB) of the worker and its pool processes, from ps."""
        if self.process is None or self.process.poll() is not None:
            return []
        pid = str(self.process.pid)
        out = subprocess.run(
            ["ps", "-o", "pid=,ppid=,rss=", "-p", pid, "--ppid", pid],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        return [tuple(int(n) for n in line.split()) for line in out.splitlines() if line.strip()]

    def pids(self) -> list[int]:
        return [pid for pid, _, _ in self._ps()]

    def memory(self) -> dict:
        """RSS (ps) of the main process, of each pool process and in all, in MiB; and
        PSS in all (shared pages split between the processes sharing them)."""
        rows = self._ps()
        main = [rss for pid, _, rss in rows if pid == self.process.pid]
        pool = sorted(rss for pid, _, rss in rows if pid != self.process.pid)
        pss = 0
        for pid, _, _ in rows:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            except OSError:
                pass
        return {
            "main": sum(main) / 1024,
            "pool": [rss / 1024 for rss in pool],
            "total": (sum(main) + sum(pool)) / 1024,
            "pss": pss / 1024,
        }

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass


def worker_environment_shown() -> str:
    return (
        "DJANGO_SETTINGS_MODULE=benchmarks.settings DEBUG=0 SECRET_KEY=<random> "
        f"DATABASE_URL={os.environ['DATABASE_URL']} REDIS_URL={os.environ['REDIS_URL']}"
    )


# --- Seed ----------------------------------------------------------------------------------


def bench_plan():
    from subscriptions.models import Plan, Product

    product, _ = Product.objects.get_or_create(code="documents", defaults={"name": "Documents"})
    plan, _ = Plan.objects.get_or_create(
        code=PLAN_CODE,
        defaults={
            "product": product,
            "name": "Documents monthly (bench)",
            "interval": Plan.Interval.MONTH,
            "unit_amount": 1500,
            "currency": "eur",
            "min_seats": 1,
            "max_seats": 100_000,
        },
    )
    return plan


def drop_organizations(slug_prefix: str) -> None:
    """Delete earlier runs' bench organizations and all that is theirs (audit events
    stay: they are append-only). Best effort: each run seeds under a new slug, so an
    organization that cannot be deleted (say, a model whose migration is not written
    yet) is only left behind, and said so."""
    from django.db import DatabaseError, transaction

    from subscriptions.models import Organization

    try:
        with transaction.atomic():
            Organization.objects.filter(slug__startswith=slug_prefix).delete()
    except DatabaseError as error:
        print(f"(could not delete earlier bench organizations {slug_prefix}*: {str(error).splitlines()[0]})")


def seed(receiver_url: str):
    """The bench organization afresh: a live subscription of 10 seats whose connected
    org is the receiver. Returns (subscription, webhook secret)."""
    from django.db import transaction
    from django.utils import timezone

    from licensing.connectors import webhook
    from licensing.models import ConnectedOrg
    from subscriptions.models import Organization, Subscription

    now = timezone.now()
    secret = webhook.new_secret()
    drop_organizations(ORG_SLUG)
    with transaction.atomic():
        organization = Organization.objects.create(
            name="Bench Delivery Ltd",
            slug=f"{ORG_SLUG}-{secrets.token_hex(3)}",
            billing_email="billing@delivery.bench.example",
        )
        subscription = Subscription.objects.create(
            organization=organization,
            plan=bench_plan(),
            quantity=10,
            admin_email="admin@delivery.bench.example",
            status=Subscription.Status.ACTIVE,
            current_period_start=now - timedelta(days=10),
            current_period_end=now + timedelta(days=20),
            activated_at=now - timedelta(days=10),
        )
        ConnectedOrg.objects.create(
            organization=organization,
            kind=ConnectedOrg.Kind.WEBHOOK,
            webhook_url=receiver_url,
            webhook_secret=secret,
        )
    return subscription, secret


# --- One change ----------------------------------------------------------------------------


def signed_increase(subscription, new_quantity: int):
    """A seat change to `new_quantity`, signed and awaiting payment (as the factory
    `tests.factories.paid_seat_change` makes them)."""
    from django.db import transaction
    from django.utils import timezone

    from billing.proration import quote_seat_change
    from subscriptions import seat_changes

    subscription.refresh_from_db()
    quote = quote_seat_change(
        unit_amount=subscription.plan.unit_amount,
        currency=subscription.plan.currency,
        old_quantity=subscription.quantity,
        new_quantity=new_quantity,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        at=timezone.now(),
    )
    change = seat_changes.seat_change_create(
        subscription=subscription,
        new_quantity=new_quantity,
        quote=quote,
        renewal_amount=subscription.plan.unit_amount * new_quantity,
        licences_in_use=0,
    )
    with transaction.atomic():
        seat_changes.seat_change_mark_signed(
            seat_change=change, signer_name="Ada Bench", signer_email="ada@delivery.bench.example"
        )
    return change


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def measure(subscription, receiver: Receiver, changes: int, start_quantity: int) -> list[dict]:
    """Apply `changes` paid increases one after the other; for each, the times (ms) from
    the commit and from the payment to the receiver's POST, and more."""
    from django.db import transaction

    from subscriptions import seat_changes
    from subscriptions.models import SeatChange, SeatSync

    samples = []
    for i in range(changes):
        change = signed_increase(subscription, start_quantity + i + 1)
        marks: dict[str, float] = {}
        seen = len(receiver.items)

        paid = time.monotonic()
        with transaction.atomic():
            # Registered first, so it runs first on commit: before the task is enqueued.
            transaction.on_commit(
                lambda marks=marks: marks.update(commit=time.monotonic(), commit_wall=time.time())
            )
            seat_changes.seat_change_apply(seat_change=change, via="payment")
        enqueued = time.monotonic()

        sync = SeatSync.objects.filter(seat_change=change).get()
        with receiver.condition:
            arrived = receiver.condition.wait_for(lambda seen=seen: len(receiver.items) > seen, timeout=30)
            item = receiver.items[seen] if arrived else None
        if item is None:
            raise RuntimeError(f"Push {i + 1} (version {sync.version}) did not arrive within 30 s.")
        pushed = json.loads(item[3])
        if (pushed["version"], pushed["seats"]) != (sync.version, sync.quantity):
            raise RuntimeError(f"Push {i + 1}: expected version {sync.version}, received {pushed}")

        deadline = time.monotonic() + 30
        while SeatChange.objects.filter(pk=change.pk, state=SeatChange.State.APPLIED).count() == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Seat change {change.number} was not applied within 30 s.")
            time.sleep(0.002)
        sync.refresh_from_db()
        samples.append(
            {
                "commit_to_received": (item[0] - marks["commit"]) * 1000,
                "paid_to_received": (item[0] - paid) * 1000,
                "commit_to_enqueued": (enqueued - marks["commit"]) * 1000,
                "commit_to_recorded": (sync.delivered_at.timestamp() - marks["commit_wall"]) * 1000,
                "sync_id": sync.pk,
            }
        )
    return samples


def check_pushes(receiver: Receiver, secret: str, sync_ids: list[int]) -> list[str]:
    """Every push arrived once, correctly signed, with its SeatSync's webhook-id."""
    from licensing.connectors import webhook

    problems = []
    ids = [headers.get("webhook-id") for _, _, headers, _ in receiver.items]
    for _, _, headers, body in receiver.items:
        if not webhook.verify(secret=secret, headers=headers, body=body, tolerance=3600):
            problems.append(f"bad signature on {headers.get('webhook-id')}")
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        problems.append(f"received more than once: {sorted(duplicated)}")
    missing = {f"seatsync_{pk}" for pk in sync_ids} - set(ids)
    if missing:
        problems.append(f"never received: {sorted(missing)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=200, help="measured changes (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="changes before measuring (default 10)")
    parser.add_argument("--timeout", type=int, default=300, help="bound on the whole run, s (default 300)")
    args = parser.parse_args()

    configure_environment()
    workdir = tempfile.mkdtemp(prefix="seatmgr-bench-delivery-")
    receiver = Receiver(keep=True)
    worker = CeleryWorker("bench-latency", workdir)
    ok = False
    try:
        with Deadline(args.timeout):
            setup_django()
            busy = busy_cpu_percent()
            print(f"CPU busy before starting: {busy:.0f}% of {os.cpu_count()} cores")
            if busy > 10:
                print("WARNING: the machine is busy; the numbers below will be noisy and high.")
            subscription, secret = seed(receiver.url)
            purge_queue()
            worker.start()
            print(f"worker: {worker_environment_shown()} {worker.shown()}")
            print(f"receiver: {receiver.url}; database {os.environ['DATABASE_URL']}")

            measure(subscription, receiver, args.warmup, start_quantity=10)
            cpu_before, started = cpu_ticks_by_process(), time.monotonic()
            samples = measure(subscription, receiver, args.changes, start_quantity=10 + args.warmup)
            elapsed = time.monotonic() - started
            others, services = cpu_shares(cpu_before, cpu_ticks_by_process(), elapsed, {worker.process.pid})
            problems = check_pushes(receiver, secret, [s["sync_id"] for s in samples])
            ok = report(samples, problems, elapsed)
            print(
                f"CPU used meanwhile by other processes: {others:.0f}%, by PostgreSQL+Redis "
                f"(this run's and others'): {services:.0f}% of {os.cpu_count()} cores"
            )
    finally:
        worker.stop()
        clean_up(receiver, ORG_SLUG, workdir, ok)
    return 0 if ok else 1


def clean_up(receiver: Receiver, slug_prefix: str, workdir: str, ok: bool) -> None:
    """After a run (the workers stopped): the receiver stopped, the queues purged, the
    bench organizations dropped; the workers' logs kept unless all went well."""
    receiver.stop()
    try:
        purge_queue()
        drop_organizations(slug_prefix)
    except Exception as error:
        print(f"(cleanup: {error})")
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"Worker logs kept in {workdir}")


def report(samples: list[dict], problems: list[str], elapsed: float) -> bool:
    rows = [
        ("commit → received (goal)", "commit_to_received"),
        ("payment → received", "paid_to_received"),
        ("commit → delay() returned", "commit_to_enqueued"),
        ("commit → delivery recorded", "commit_to_recorded"),
    ]
    print(f"\n{len(samples)} paid changes, one at a time, one worker (concurrency 2), {elapsed:.0f} s in all")
    print("\n| Interval | p50 (ms) | p95 (ms) | max (ms) | mean (ms) |")
    print("|---|---:|---:|---:|---:|")
    for label, key in rows:
        values = [s[key] for s in samples]
        print(
            f"| {label} | {percentile(values, 50):.1f} | {percentile(values, 95):.1f} "
            f"| {max(values):.1f} | {statistics.mean(values):.1f} |"
        )
    latency = [s["commit_to_received"] for s in samples]
    p50, p95 = percentile(latency, 50), percentile(latency, 95)
    p50_ok, p95_ok = p50 <= GOAL_P50_MS, p95 <= GOAL_P95_MS
    print(
        f"\nGoal: p50 <= {GOAL_P50_MS:.0f} ms: {p50:.1f} ms {'met' if p50_ok else 'MISSED'}; "
        f"p95 <= {GOAL_P95_MS:.0f} ms: {p95:.1f} ms {'met' if p95_ok else 'MISSED'}; "
        f"pushes: {'all once, correctly signed' if not problems else '; '.join(problems)}."
    )
    print(f"(at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    return p50_ok and p95_ok and not problems


if __name__ == "__main__":
    sys.exit(main())
