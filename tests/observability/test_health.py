"""/health/ against real parts: PostgreSQL, Redis, a real Celery worker and a real beat
(tests/observability/processes.py), and a broker that is not there. It says "ok" or
"failing" per component and nothing more, in JSON for monitors."""

import json
import os
import socket
import subprocess
import sys

import pytest
from django.test import Client, override_settings

from tests.observability.processes import ROOT, beat, heartbeat_dir, wait_for, worker  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

EVERYTHING_OK = {"database": "ok", "cache": "ok", "broker": "ok", "worker": "ok", "beat": "ok"}


def health():
    response = Client().get("/health/")
    return response.status_code, json.loads(response.content)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again once this returns: nothing listens


def probe(component: str, **env) -> subprocess.CompletedProcess:
    """The containers' healthcheck command, as docker-compose.yml runs it."""
    return subprocess.run(
        [sys.executable, "seatmgr/healthcheck.py", component],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_health_is_ok_with_the_database_cache_broker_worker_and_beat_up(beat, heartbeat_dir):  # noqa: F811
    status, body = wait_for(lambda: (answer := health())[1]["checks"] == EVERYTHING_OK and answer, "ok")

    assert status == 200
    assert body == {"status": "ok", "checks": EVERYTHING_OK}
    response = Client().get("/health/")
    assert "no-cache" in response["Cache-Control"]
    # The containers' healthchecks see the heartbeat files of both.
    assert probe("worker", HEARTBEAT_DIR=str(heartbeat_dir), HEARTBEAT_INTERVAL="1").returncode == 0
    assert probe("beat", HEARTBEAT_DIR=str(heartbeat_dir), HEARTBEAT_INTERVAL="1").returncode == 0


def test_web_healthcheck_asks_health_as_the_proxy_would(live_server, beat):  # noqa: F811
    result = probe("web", HEALTHCHECK_URL=f"{live_server.url}/health/", ALLOWED_HOSTS="localhost")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_an_unreachable_broker_is_failing_and_nothing_says_where(beat, caplog):  # noqa: F811
    port = closed_port()
    wait_for(lambda: health()[1]["checks"] == EVERYTHING_OK, "ok")
    caplog.clear()

    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0"):
        response = Client().get("/health/")

    assert response.status_code == 503
    body = json.loads(response.content)
    assert body == {"status": "failing", "checks": {**EVERYTHING_OK, "broker": "failing"}}
    assert str(port) not in response.content.decode() and "redis" not in response.content.decode()
    # The operator finds why in the log, once, as a warning; no error for the 503 itself.
    assert [r.levelname for r in caplog.records if r.name.startswith(("health_check", "django"))] == [
        "WARNING"
    ]


def test_in_the_embedded_default_the_broker_and_worker_are_not_applicable(beat):  # noqa: F811
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        _, body = wait_for(lambda: (answer := health())[0] == 200 and answer, "ok")

    assert body["checks"] == {**EVERYTHING_OK, "broker": "not applicable", "worker": "not applicable"}


def test_a_stopped_beat_then_a_stopped_worker_go_stale(worker, beat, heartbeat_dir):  # noqa: F811
    wait_for(lambda: health()[1]["checks"] == EVERYTHING_OK, "ok")
    stale = {"HEARTBEAT_DIR": str(heartbeat_dir), "HEARTBEAT_STALE_AFTER": "3"}

    with override_settings(HEARTBEAT_STALE_AFTER=3):
        beat.stop()
        status, body = wait_for(
            lambda: (answer := health())[1]["checks"]["beat"] == "failing" and answer, "stale"
        )
        assert status == 503
        assert body["checks"] == {**EVERYTHING_OK, "beat": "failing"}
        assert probe("beat", **stale).returncode == 1
        assert probe("worker", **stale).returncode == 0

        worker.stop()
        wait_for(lambda: health()[1]["checks"]["worker"] == "failing", "stale")
        assert probe("worker", **stale).returncode == 1
