"""Load test of the licence check against a bare Django view, under gunicorn.

    .venv/bin/python benchmarks/licence_check.py [--duration 10] [--rounds 2] [--other-users N]
        [--writes-per-second W]

Seeds one organization (a live Documents subscription, 1,000 org users of whom
half hold a licence, one API key) in its own database, starts gunicorn (2 sync
workers, loopback only) and runs `wrk -t2 -c32 --latency` against, in turn:

- `bare`: `/bench/bare/`, a Django JSON view with no database and no auth;
- `check`: `GET /api/v1/licences/check?product=documents&email=<licensed user>`
  with `Authorization: Api-Key <key>`: the same question on every request, so
  after the warm-up every answer is a cache hit;
- `check-miss`: the same endpoint with an email never asked before on every
  request (benchmarks/check_miss.lua): every answer is a cache miss and one SQL query.

The three alternate, `--rounds` times, so noise falls on all of them. Each worker
counts its SQL queries (benchmarks/gunicorn_conf.py), which shows how many requests
really were hits; each run also reports the CPU other processes used meanwhile
(the machine is shared: numbers taken while it is busy are low and noisy). The
output starts with a short sha256 of each file on the hot path, to tell which
version of the code was measured. `--other-users N` adds another tenant with N org
users, for the miss path. `--writes-per-second W` edits org users of other
organizations (any in the database but the bench one: run it on a `seed_scale`
database for 10,000 of them) W times a second, through `licensing.services`, during
every run, bare ones included: their invalidations must leave the bench
organization's cached answers alone. Goals: `check` serves >= 0.8 of `bare`'s requests/s, with
p99 <= 15 ms at 32 connections; the exit status is 1 when one is missed.

DATABASE_URL and REDIS_URL default to postgres://postgres@127.0.0.1:5432/seatmgr_bench
and redis://127.0.0.1:6379/9; both must be on this machine. The database is created
when missing and migrated. gunicorn is always stopped at the end.
"""

import argparse
import contextlib
import hashlib
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seatmgr_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}

ORG_SLUG = "bench-licence-check"
OTHER_SLUG = "bench-other-tenant"
USERS = 1_000
PRODUCT = "documents"
CHECK_PATH = "/api/v1/licences/check"
BARE_PATH = "/bench/bare/"
GOAL_RATIO = 0.8
GOAL_P99_MS = 15.0
THREADS, CONNECTIONS = 2, 32

MISS_LUA = Path(__file__).resolve().parent / "check_miss.lua"


# --- Environment, database, seed ---------------------------------------------------


def configure_environment() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    for name in ("DATABASE_URL", "REDIS_URL"):
        host = urlsplit(os.environ[name]).hostname or ""
        if host not in LOOPBACK:
            sys.exit(f"{name} must point at this machine (loopback), not {host!r}.")
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def ensure_database() -> None:
    import dj_database_url
    import psycopg2
    from psycopg2 import sql

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    connection = psycopg2.connect(
        dbname="postgres",
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
            if cursor.fetchone() is None:
                print(f"Creating database {config['NAME']}")
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
    finally:
        connection.close()


def drop_organization(slug: str) -> None:
    """Delete a bench organization and everything in it. Org users and licences go
    in one statement each: the ORM would load each row and send a signal per row."""
    from licensing.models import LicenceAssignment, OrgUser
    from subscriptions.models import Organization

    for model in (LicenceAssignment, OrgUser):
        queryset = model.objects.filter(organization__slug=slug)
        queryset._raw_delete(queryset.db)
    Organization.objects.filter(slug=slug).delete()


def seed_other_tenant(users: int) -> None:
    """Another organization with `users` org users (none licensed), or none at all:
    the licence check must not get slower with other tenants' users."""
    from django.db import transaction

    from licensing.models import OrgUser
    from subscriptions.models import Organization

    with transaction.atomic():
        drop_organization(OTHER_SLUG)
        if users:
            organization = Organization.objects.create(
                name="Other tenant", slug=OTHER_SLUG, billing_email="billing@other.example"
            )
            OrgUser.objects.bulk_create(
                (
                    OrgUser(organization=organization, name=f"Other {i}", email=f"other{i}@other.example")
                    for i in range(users)
                ),
                batch_size=5000,
            )


def seed(other_users: int = 0) -> tuple[str, str, str]:
    """The bench organization, afresh. Returns (API key, a licensed email, an
    unlicensed email)."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from licensing.models import LicenceAssignment, OrgUser
    from subscriptions import hot_cache
    from subscriptions.models import ApiKey, Organization, Plan, Product, Subscription, hash_secret

    seed_other_tenant(other_users)
    now = timezone.now()
    with transaction.atomic():
        drop_organization(ORG_SLUG)
        product, _ = Product.objects.get_or_create(code=PRODUCT, defaults={"name": "Documents"})
        plan, _ = Plan.objects.get_or_create(
            code=f"{PRODUCT}-bench-monthly",
            defaults={
                "product": product,
                "name": "Documents monthly",
                "interval": Plan.Interval.MONTH,
                "unit_amount": 1500,
                "max_seats": 10 * USERS,
            },
        )
        organization = Organization.objects.create(
            name="Bench Ltd", slug=ORG_SLUG, billing_email="billing@bench.example"
        )
        subscription = Subscription.objects.create(
            organization=organization,
            plan=plan,
            quantity=USERS,
            admin_email="admin@bench.example",
            status=Subscription.Status.ACTIVE,
            current_period_start=now - timedelta(days=10),
            current_period_end=now + timedelta(days=20),
            activated_at=now - timedelta(days=10),
        )
        users = OrgUser.objects.bulk_create(
            OrgUser(
                organization=organization,
                name=f"Bench User {i:04d}",
                email=f"user{i:04d}@bench.example",
                status=OrgUser.Status.ACTIVE,
            )
            for i in range(USERS)
        )
        LicenceAssignment.objects.bulk_create(
            LicenceAssignment(organization=organization, subscription=subscription, org_user=user)
            for user in users[::2]
        )
        raw_key = ApiKey.generate_raw()
        ApiKey.objects.create(
            organization=organization,
            name="bench",
            prefix=raw_key[:10],
            key_hash=hash_secret(raw_key),
        )
    hot_cache.invalidate([hot_cache.EVERYTHING])  # bulk_create sends no signals
    with connection.cursor() as cursor:  # no dead rows, fresh statistics: as autovacuum keeps them
        for model in (OrgUser, LicenceAssignment, Subscription, ApiKey):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return raw_key, users[0].email, users[1].email


class OtherTenantsWriting:
    """Edits org users of organizations other than the bench one, `rate` times a
    second, in a thread, as their admins would (each edit commits and invalidates its
    organization's cached answers)."""

    def __init__(self, rate: float):
        import threading

        self.rate, self.writes, self.stop = rate, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from django.db import connection

        from licensing import services
        from licensing.models import OrgUser

        others = list(
            OrgUser.objects.exclude(organization__slug=ORG_SLUG).order_by("organization_id", "pk")[::97][:500]
        )
        if not others:
            raise RuntimeError(
                "No other organization's org users to edit: use --other-users or a seeded database"
            )
        started = self.started = time.monotonic()
        while not self.stop.wait(max(0.0, started + self.writes / self.rate - time.monotonic())):
            org_user = others[self.writes % len(others)]
            services.org_user_update(
                org_user=org_user,
                name=f"{org_user.name.split(' ·')[0]} · {self.writes}",
                actor_label="benchmark",
            )
            self.writes += 1
        connection.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.seconds = time.monotonic() - self.started


def busy_cpu_percent(seconds: float = 1.0) -> float:
    """How busy the machine's CPUs are (all processes), from /proc/stat."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(n) for n in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total_before, idle_before = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    total = total_after - total_before
    return 100.0 * (1 - (idle_after - idle_before) / total) if total else 0.0


HOT_PATH_FILES = (
    "licensing/api.py",
    "licensing/emails.py",
    "licensing/selectors.py",
    "subscriptions/api_auth.py",
    "subscriptions/api_http.py",
    "subscriptions/api_throttling.py",
    "subscriptions/hot_cache.py",
    "seatmgr/settings.py",
    "seatmgr/urls.py",
)


def code_fingerprint() -> str:
    """Which version of the hot path was measured: short sha256 of each file on it
    (the working tree, committed or not)."""
    return ", ".join(
        f"{name} {hashlib.sha256((ROOT / name).read_bytes()).hexdigest()[:8]}"
        for name in HOT_PATH_FILES
        if (ROOT / name).exists()
    )


# --- gunicorn ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, port: int, stats_dir: str, log_path: str):
        self.port, self.stats_dir, self.log_path = port, stats_dir, log_path
        self.process: subprocess.Popen | None = None
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "seatmgr.wsgi:application",
            "--config",
            str(ROOT / "benchmarks" / "gunicorn_conf.py"),
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--no-control-socket",
            "--bind",
            f"127.0.0.1:{port}",
        ]

    def start(self) -> None:
        env = {**os.environ, "BENCH_STATS_DIR": self.stats_dir}
        with open(self.log_path, "wb") as log:
            # Its own session: stopping it reaches the master and both workers.
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{Path(self.log_path).read_text()}")
            if len(self.worker_pids()) == 2:
                try:
                    get(self.url(BARE_PATH), timeout=1)
                    return
                except (OSError, urllib.error.URLError):
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start:\n{Path(self.log_path).read_text()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def worker_pids(self) -> list[int]:
        return [int(p.stem) for p in Path(self.stats_dir).glob("*.queries")]

    def queries(self) -> int:
        total = 0
        for path in Path(self.stats_dir).glob("*.queries"):
            data = path.read_bytes()
            if len(data) == 8:
                total += struct.unpack("<Q", data)[0]
        return total

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass


def get(url: str, headers: dict | None = None, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- wrk -----------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    path: str
    headers: tuple[str, ...] = ()
    lua: Path | None = None


@dataclass
class Result:
    scenario: str
    round: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    queries: int
    others_cpu: str = ""
    others_share: float = 0.0

    @property
    def queries_per_request(self) -> float:
        return self.queries / self.requests if self.requests else 0.0


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_latency(text: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    if not match:
        raise ValueError(f"No {percentile}% latency in wrk's output:\n{text}")
    return float(match.group(1)) * UNITS_MS[match.group(2)]


def parse_wrk(text: str) -> dict:
    requests_per_s = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", text, re.MULTILINE)
    if not requests_per_s or not total:
        raise ValueError(f"Unexpected wrk output:\n{text}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {
        "requests_per_s": float(requests_per_s.group(1)),
        "p50_ms": parse_latency(text, "50"),
        "p99_ms": parse_latency(text, "99"),
        "requests": int(total.group(1)),
        "errors": errors,
    }


def wrk_command(server: Gunicorn, scenario: Scenario, duration: int) -> list[str]:
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency"]
    for header in scenario.headers:
        command += ["-H", header]
    if scenario.lua:
        command += ["-s", str(scenario.lua.relative_to(ROOT))]
    command.append(server.url(scenario.path))
    if scenario.lua:
        command += ["--", secrets.token_hex(4)]  # fresh emails on every run
    return command


def cpu_ticks_by_process() -> dict[int, tuple[str, int, int]]:
    """pid -> (name, process group, user+system CPU ticks so far), from /proc."""
    processes = {}
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_path.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        processes[int(stat_path.parent.name)] = (name, int(fields[2]), int(fields[11]) + int(fields[12]))
    return processes


SHARED_SERVICES = {"postgres", "redis-server"}
DISTURBED_PERCENT = 5


def others_cpu(
    before: dict, after: dict, seconds: float, ours: set[int], our_group: int
) -> tuple[float, str]:
    """CPU used during a run, in % of all cores, by processes other than this
    benchmark's (with the biggest users), then by PostgreSQL and Redis, which are
    shared: in `bare` and `check` runs the benchmark itself barely uses them."""
    by_name: dict[str, int] = {}
    for pid, (name, group, ticks) in after.items():
        if pid in ours or group == our_group:
            continue
        used = ticks - before.get(pid, (name, group, 0))[2]
        if used > 0:
            by_name[name] = by_name.get(name, 0) + used
    capacity = seconds * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)

    def share(ticks: int) -> float:
        return 100 * ticks / capacity

    others = {name: ticks for name, ticks in by_name.items() if name not in SHARED_SERVICES}
    shared = sum(ticks for name, ticks in by_name.items() if name in SHARED_SERVICES)
    top = sorted(others.items(), key=lambda item: -item[1])[:3]
    named = ", ".join(f"{name} {share(ticks):.0f}%" for name, ticks in top if share(ticks) >= 1)
    others_share = share(sum(others.values()))
    return others_share, (
        f"{others_share:.0f}%" + (f" ({named})" if named else "") + f"; PostgreSQL+Redis {share(shared):.0f}%"
    )


def run_wrk(server: Gunicorn, scenario: Scenario, duration: int, round_: int) -> Result:
    command = wrk_command(server, scenario, duration)
    queries_before = server.queries()
    cpu_before, started = cpu_ticks_by_process(), time.monotonic()
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as wrk:
        try:
            stdout, _ = wrk.communicate(timeout=duration + 30)
        except BaseException:  # overrun, Ctrl-C, SIGTERM: no wrk left behind
            wrk.kill()
            raise
    if wrk.returncode:
        raise RuntimeError(f"wrk failed ({wrk.returncode}): {stdout}")
    elapsed = time.monotonic() - started
    others_share, others = others_cpu(
        cpu_before, cpu_ticks_by_process(), elapsed, {os.getpid(), wrk.pid}, server.process.pid
    )
    time.sleep(0.2)  # let the last requests' counters land
    parsed = parse_wrk(stdout)
    return Result(
        scenario=scenario.name,
        round=round_,
        queries=server.queries() - queries_before,
        others_cpu=others,
        others_share=others_share,
        **parsed,
    )


def shown(command: list[str], raw_key: str) -> str:
    """The command as one would type it in a shell, without the API key."""
    return shlex.join(part.replace(raw_key, "<key>") for part in command)


# --- Report --------------------------------------------------------------------------


def report(results: list[Result], scenarios: list[Scenario]) -> bool:
    print(
        "\n| Run | Endpoint | Requests/s | p50 (ms) | p99 (ms) | SQL queries/request | Errors "
        "| CPU of other processes; of PostgreSQL+Redis |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r.round} | {r.scenario} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.queries_per_request:.3f} | {r.errors} | {r.others_cpu} |"
        )

    def of(name: str) -> list[Result]:
        return [r for r in results if r.scenario == name]

    bare_rps = statistics.mean(r.requests_per_s for r in of("bare"))
    print("\n| Endpoint | Mean requests/s | Ratio to bare | Worst p99 (ms) |")
    print("|---|---:|---:|---:|")
    for scenario in scenarios:
        runs = of(scenario.name)
        rps = statistics.mean(r.requests_per_s for r in runs)
        worst_p99 = max(r.p99_ms for r in runs)
        print(f"| {scenario.name} | {rps:,.0f} | {rps / bare_rps:.2f} | {worst_p99:.2f} |")

    check_runs = of("check")
    ratio = statistics.mean(r.requests_per_s for r in check_runs) / bare_rps
    worst_p99 = max(r.p99_ms for r in check_runs)
    errors = sum(r.errors for r in results)
    ratio_ok, p99_ok = ratio >= GOAL_RATIO, worst_p99 <= GOAL_P99_MS
    print(
        f"\nGoal: check/bare >= {GOAL_RATIO}: {ratio:.2f} {'met' if ratio_ok else 'MISSED'}; "
        f"check p99 <= {GOAL_P99_MS:.0f} ms at {CONNECTIONS} connections: {worst_p99:.2f} ms "
        f"{'met' if p99_ok else 'MISSED'}; failed requests: {errors}."
    )
    disturbed = [f"{r.round} {r.scenario}" for r in results if r.others_share > DISTURBED_PERCENT]
    if disturbed:
        print(
            f"UNRELIABLE: other processes used more than {DISTURBED_PERCENT}% of the CPUs during "
            f"{', '.join(disturbed)}; run again on a quiet machine."
        )
    return ratio_ok and p99_ok and errors == 0 and not disturbed


# --- Main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="times each endpoint is run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per endpoint")
    parser.add_argument("--no-miss", action="store_true", help="skip the cache-miss runs")
    parser.add_argument(
        "--other-users",
        type=int,
        default=0,
        help="org users of another tenant in the database (default 0)",
    )
    parser.add_argument(
        "--writes-per-second",
        type=float,
        default=0,
        help="edits of other organizations' org users per second during every run (default 0)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk).")

    configure_environment()
    ensure_database()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    raw_key, licensed_email, unlicensed_email = seed(args.other_users)
    print(f"Seeded {USERS:,} org users (half licensed); another tenant: {args.other_users:,} org users")
    auth = f"Authorization: Api-Key {raw_key}"
    scenarios = [
        Scenario("bare", BARE_PATH),
        Scenario("check", f"{CHECK_PATH}?product={PRODUCT}&email={licensed_email}", (auth,)),
    ]
    if not args.no_miss:
        scenarios.append(Scenario("check-miss", CHECK_PATH, (auth,), MISS_LUA))

    workdir = tempfile.mkdtemp(prefix="seatmgr-bench-")
    server = Gunicorn(free_port(), workdir, os.path.join(workdir, "gunicorn.log"))
    previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        busy = busy_cpu_percent()
        print(f"Code measured (sha256): {code_fingerprint()}")
        print(f"CPU busy before starting: {busy:.0f}% of {os.cpu_count()} cores")
        if busy > 10:
            print("WARNING: the machine is busy; the numbers below will be noisy and low.")
        server.start()
        print(f"gunicorn: {shown(server.command, raw_key)} (port {server.port})")
        key_header = {"Authorization": f"Api-Key {raw_key}"}
        for email, expected in ((licensed_email, b"true"), (unlicensed_email, b"false")):
            status, body = get(server.url(f"{CHECK_PATH}?product={PRODUCT}&email={email}"), key_header)
            if status != 200 or expected not in body:
                raise RuntimeError(f"Check for {email} answered {status} {body!r}")

        writing = contextlib.nullcontext()
        if args.writes_per_second:
            writing = OtherTenantsWriting(args.writes_per_second)
            print(f"Other organizations' org users edited {args.writes_per_second:g} times a second")
        with writing:
            results = measure(server, scenarios, args)
        if args.writes_per_second:
            print(
                f"Edits made during the runs: {writing.writes:,} in {writing.seconds:.0f} s "
                f"({writing.writes / writing.seconds:.1f} a second)"
            )
        print("\nwrk commands (one round):")
        for scenario in scenarios:
            print(f"  {shown(wrk_command(server, scenario, args.duration), raw_key)}")
        ok = report(results, scenarios)
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous_sigterm)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def measure(server: Gunicorn, scenarios: list[Scenario], args) -> list[Result]:
    """Every scenario's warm-up, then `--rounds` rounds of them in turn."""
    for scenario in scenarios:
        run_wrk(server, scenario, args.warmup, round_=0)
    results = []
    for round_ in range(1, args.rounds + 1):
        for scenario in scenarios:
            result = run_wrk(server, scenario, args.duration, round_)
            results.append(result)
            print(
                f"  round {round_} {scenario.name}: {result.requests_per_s:,.0f} req/s, "
                f"p99 {result.p99_ms:.2f} ms, other processes' CPU {result.others_cpu}",
                flush=True,
            )
    return results


if __name__ == "__main__":
    sys.exit(main())
