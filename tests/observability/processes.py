"""A real Celery worker and a real beat for the observability tests, beating every
second into a heartbeat directory of their own (and the tests' Redis)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seatmgr.celery import app as celery_app
from tests import celery_worker

ROOT = Path(__file__).resolve().parents[2]


class Beat:
    def __init__(self, env: dict, directory: Path):
        self.env = env
        self.log_path = celery_worker.LOG_DIR / "celery-beat-observability.log"
        self.schedule = directory / "celerybeat-schedule"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        celery_worker.LOG_DIR.mkdir(exist_ok=True)
        with open(self.log_path, "ab") as log:
            command = [
                "celery",
                "-A",
                "seatmgr",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.schedule),
            ]
            self.process = subprocess.Popen(
                [sys.executable, "-m", *command],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def heartbeat_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("heartbeat")


def _env(heartbeat_dir: Path, **extra) -> dict:
    return {"HEARTBEAT_INTERVAL": "1", "HEARTBEAT_DIR": str(heartbeat_dir), **extra}


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, request, heartbeat_dir):
    """A worker logging JSON lines, so that the tests can read them."""
    with django_db_blocker.unblock():
        database_url = celery_worker.test_database_url()
    celery_app.control.purge()
    process = celery_worker.Worker(database_url, name=request.module.__name__.rsplit(".", 1)[-1])
    process.env.update(_env(heartbeat_dir, LOG_FORMAT="json"))
    process.start()
    yield process
    if process.process.poll() is None:  # a test may have stopped it already
        process.stop()
    celery_app.control.purge()


@pytest.fixture(scope="module")
def beat(worker, heartbeat_dir):
    process = Beat({**worker.env, **_env(heartbeat_dir)}, heartbeat_dir)
    process.start()
    yield process
    process.stop()


def wait_for(condition, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"still not {what} after {seconds} s"
        time.sleep(0.2)
