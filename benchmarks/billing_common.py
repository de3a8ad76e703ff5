"""What the billing benchmarks share: the environment (loopback PostgreSQL and Redis
only, production-like settings), the bench database, a localstripe, gunicorn, and
percentiles. Not a benchmark itself."""

import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seatmgr_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}

# Test-mode keys for the benchmark's own localstripe; never real ones.
STRIPE_SECRET_KEY = "sk_test_seatmgr_bench"  # noqa: S105
STRIPE_PUBLISHABLE_KEY = "pk_test_seatmgr_bench"
STRIPE_WEBHOOK_SECRET = "whsec_seatmgr_bench"  # noqa: S105


def configure_environment(*, queue_prefix: str) -> None:
    """Bench database and Redis (loopback only), DEBUG off, and Celery queues of the
    benchmark's own (its urgent, email and batch queues are named with `queue_prefix`),
    so that its tasks mix with nobody's and can be dropped after."""
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    for name in ("DATABASE_URL", "REDIS_URL"):
        host = urlsplit(os.environ[name]).hostname or ""
        if host not in LOOPBACK:
            sys.exit(f"{name} must point at this machine (loopback), not {host!r}.")
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["CELERY_QUEUE_PREFIX"] = queue_prefix
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def prepare_database() -> None:
    """Create the bench database when missing, migrate it, and set Django up."""
    from benchmarks.licence_check import ensure_database

    ensure_database()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True, env=os.environ
    )
    import django

    django.setup()


def drop_queues() -> None:
    """Delete what the benchmark left in its Celery queues (Redis lists of those names)."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(os.environ["REDIS_URL"]).delete(*settings.CELERY_QUEUES_BY_KIND.values())


def busy_cpu_percent(seconds: float = 1.0) -> float:
    """How busy the machine's CPUs are (all processes), from /proc/stat: numbers taken
    on a busy machine are low and noisy."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(n) for n in stat.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total_before, idle_before = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    total = total_after - total_before
    return 100.0 * (1 - (idle_after - idle_before) / total) if total else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Process:
    """A child process in its own session, stopped (TERM, then KILL) with all its
    children; its output goes to a log file shown when it fails to start."""

    def __init__(self, name: str, command: list[str], env: dict | None = None):
        self.name, self.command = name, command
        self.env = {**os.environ, **(env or {})}
        self.log_path = Path(tempfile.mkstemp(prefix=f"seatmgr-bench-{name}-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self, ready, timeout: float = 60) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_path.read_text()}")
            if ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n{self.log_path.read_text()}")

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


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, urllib.error.URLError):
        return False


def start_localstripe() -> tuple[Process, str]:
    """A localstripe of the benchmark's own (nothing kept on disk)."""
    port = free_port()
    server = Process("localstripe", [sys.executable, "-m", "billing.localstripe_server", "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    server.start(lambda: answers(url + "/js.stripe.com/v3/"))
    return server, url


def start_stripe_standin(upstream: str) -> tuple[Process, str]:
    """The strict Stripe stand-in (`stripe_standin/`) in front of `upstream`, the
    benchmark's localstripe: the same Stripe the tests and `scripts/run` use."""
    port = free_port()
    server = Process(
        "stripe-standin",
        [sys.executable, "-m", "stripe_standin", "--port", str(port), "--upstream", upstream],
    )
    url = f"http://127.0.0.1:{port}"
    server.start(lambda: answers(url + "/_standin/faults"))
    return server, url


def stripe_environment(api_base: str = "") -> dict[str, str]:
    env = {
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": STRIPE_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
    }
    if api_base:
        env["STRIPE_API_BASE"] = api_base
    return env


def start_gunicorn(workers: int = 2) -> tuple[Process, str]:
    """The app under gunicorn, sync workers, loopback only (as docker-compose runs it)."""
    port = free_port()
    server = Process(
        "gunicorn",
        [
            sys.executable, "-m", "gunicorn", "seatmgr.wsgi:application",
            "--workers", str(workers), "--worker-class", "sync", "--no-control-socket",
            "--bind", f"127.0.0.1:{port}",
        ],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    server.start(lambda: answers(url + "/bench/bare/"))
    return server, url
