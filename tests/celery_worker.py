"""A real Celery worker process on the test database and the tests' Redis.

Started per test module that asks for it (never eager mode): the worker imports the
project like production does, connects to pytest-django's test database through
DATABASE_URL, and consumes every queue (seatmgr/settings.py CELERY_QUEUES_BY_KIND: urgent,
email, batch), purged first; or only the `queues` it is given, as production's workers do.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from seatmgr.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / "test-artifacts"


class Worker:
    def __init__(self, database_url: str, name: str, queues: list[str] | None = None):
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "OUTBOX_IN_PROCESS_KINDS": "",
        }
        self.name = name
        self.queues = queues or list(celery_app.conf.task_queues)
        self.process: subprocess.Popen | None = None
        LOG_DIR.mkdir(exist_ok=True)
        self.log_path = LOG_DIR / f"celery-worker-{name}.log"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process; `wait_ready()` waits until it consumes (several workers can
        be launched first, then waited for together)."""
        log = open(self.log_path, "a")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "seatmgr",
                "worker",
                "--concurrency",
                "2",
                "--pool",
                "prefork",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"{self.name}@%h",
                "--queues",
                ",".join(self.queues),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() reaches the pool too
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The Celery worker exited; see {self.log_path}")
            if " ready." in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"The Celery worker did not become ready; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no chance to finish or acknowledge anything."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reset_log()

    def stop(self) -> None:
        self.ask_to_stop()
        self.wait_stopped()

    def ask_to_stop(self) -> None:
        """SIGTERM (warm shutdown); `wait_stopped()` waits for it, then kills."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def wait_stopped(self) -> None:
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._reset_log()

    def _reset_log(self) -> None:
        # `start()` waits for " ready." in the log: keep only what follows.
        self.log_path.rename(self.log_path.with_suffix(f".{int(time.time() * 1000)}.log"))


def wait_until(condition, timeout: float = 30.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False): what a
    worker does, it does in its own time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker, request):
    with django_db_blocker.unblock():
        database_url = test_database_url()
    celery_app.control.purge()
    worker = Worker(database_url, name=request.module.__name__.rsplit(".", 1)[-1])
    worker.start()
    yield worker
    worker.stop()
    celery_app.control.purge()
