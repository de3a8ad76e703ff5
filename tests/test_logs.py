"""Unique links' tokens never reach a log: runserver and gunicorn (as docker-compose
runs it) are started for real, asked for `/l/<token>/…`, and their logs read, in the
default text format and with LOG_FORMAT=json (one JSON object per line, each with the
request id of the request it is about)."""

import http.client
import json
import logging
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from observability.logging import JsonFormatter, RequestIdFilter
from seatmgr.log_redaction import RedactLinkTokens
from subscriptions import links
from subscriptions.models import CapabilityLink
from tests import celery_worker
from tests.factories import SubscriptionFactory
from tests.test_deployment import interpolate

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


UNKNOWN_TOKEN = secrets.token_urlsafe(32)


@pytest.fixture
def token() -> str:
    subscription = SubscriptionFactory()
    _, raw = links.link_issue(
        subscription=subscription, action=CapabilityLink.Action.CHANGE_SEATS, email=subscription.admin_email
    )
    return raw


def serve(command: list[str], port: int, log_path: Path, paths_and_referers, **env) -> str:
    """Run `command` (a server on `port`), GET each path (with its Referer, and the
    request id `rid-<n>` for the n-th), stop the server, and return everything it wrote."""
    env = {
        **os.environ,
        "DATABASE_URL": celery_worker.test_database_url(),
        "DEBUG": "1",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        for number, (path, referer) in enumerate(paths_and_referers):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"X-Request-Id": f"rid-{number}", **({"Referer": referer} if referer else {})}
            connection.request("GET", path, headers=headers)
            connection.getresponse().read()
            connection.close()
        time.sleep(0.3)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    return log_path.read_text()


def requests_for(token: str, port: int) -> list[tuple[str, str]]:
    return [
        (f"/l/{token}/", ""),
        (f"/l/{token}/change/", ""),
        # A page reached through the link loads its assets with the link as Referer.
        ("/static/css/app.css", f"http://127.0.0.1:{port}/l/{token}/change/"),
        # An invitation's token (it redirects to sign-in, with the path in `next=`), and
        # allauth's confirmation key.
        (f"/subscriptions/invitations/{token}/", ""),
        (f"/accounts/confirm-email/{token}/", ""),
        # A link that is not (or no longer) valid: 404, logged as "Not Found: <path>".
        (f"/l/{UNKNOWN_TOKEN}/changes/S-0/agreement.pdf", ""),
    ]


def assert_redacted(log: str, token: str) -> None:
    assert token not in log and UNKNOWN_TOKEN not in log
    assert "GET /l/<redacted>/change/ HTTP/1.1" in log
    assert "GET /subscriptions/invitations/<redacted>/ HTTP/1.1" in log
    assert "GET /accounts/confirm-email/<redacted>/ HTTP/1.1" in log
    assert "Not Found: /l/<redacted>/changes/S-0/agreement.pdf" in log


def test_runserver_logs_link_paths_without_their_tokens(token, tmp_path):
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]

    log = serve(command, port, tmp_path / "runserver.log", requests_for(token, port))

    assert_redacted(log, token)
    # One line per request: Django's own console handler no longer doubles them.
    assert log.count("Not Found: /l/<redacted>/changes/S-0/agreement.pdf") == 1


def gunicorn_as_compose_runs_it() -> tuple[list[str], int]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = interpolate(compose["services"]["web"]["command"][-1])
    arguments = shlex.split(command[command.index("exec gunicorn ") + len("exec ") :])
    port = free_port()
    arguments[arguments.index("--bind") + 1] = f"127.0.0.1:{port}"
    arguments[arguments.index("--workers") + 1] = "1"
    return [sys.executable, "-m", *arguments], port


def test_gunicorn_as_compose_runs_it_logs_link_paths_without_their_tokens(token, tmp_path):
    command, port = gunicorn_as_compose_runs_it()

    log = serve(command, port, tmp_path / "gunicorn.log", requests_for(token, port))

    assert_redacted(log, token)
    assert f'"http://127.0.0.1:{port}/l/<redacted>/change/"' in log  # the Referer of the stylesheet
    # Each access line ends with its request's id; Django's own lines name it in brackets.
    assert re.search(r'"GET /l/<redacted>/change/ HTTP/1.1" \d+ .* rid-1$', log, re.MULTILINE)
    assert "[rid-5] Not Found: /l/<redacted>/changes/S-0/agreement.pdf" in log


def json_lines(log: str) -> list[dict]:
    """Every line a server logged, parsed; what is no JSON is only what was printed
    rather than logged (runserver's start-up banner)."""
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def assert_json_redacted(entries: list[dict], token: str) -> None:
    assert token not in json.dumps(entries) and UNKNOWN_TOKEN not in json.dumps(entries)
    for entry in entries:
        assert set(entry) >= {"time", "level", "logger", "message", "request_id"}
    by_request = {entry["request_id"]: entry for entry in entries if "GET /l/" in entry["message"]}
    assert "GET /l/<redacted>/change/ HTTP/1.1" in by_request["rid-1"]["message"]
    not_found = [entry for entry in entries if entry["message"].startswith("Not Found: /l/")]
    assert [(e["message"], e["level"], e["request_id"]) for e in not_found] == [
        ("Not Found: /l/<redacted>/changes/S-0/agreement.pdf", "WARNING", "rid-5")
    ]


def test_runserver_logs_json_lines_with_request_ids_and_without_tokens(token, tmp_path):
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]

    log = serve(command, port, tmp_path / "runserver.log", requests_for(token, port), LOG_FORMAT="json")

    assert_json_redacted(json_lines(log), token)


def test_gunicorn_logs_json_lines_with_request_ids_and_without_tokens(token, tmp_path):
    command, port = gunicorn_as_compose_runs_it()

    log = serve(command, port, tmp_path / "gunicorn.log", requests_for(token, port), LOG_FORMAT="json")

    entries = [json.loads(line) for line in log.splitlines()]  # every line is JSON
    assert_json_redacted(entries, token)
    assert {"gunicorn.error", "gunicorn.access", "django.request"} <= {entry["logger"] for entry in entries}


def test_a_traceback_in_a_json_line_is_redacted_too():
    token = secrets.token_urlsafe(32)
    try:
        raise RuntimeError(f"could not render /l/{token}/change/")
    except RuntimeError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error: %s",
            (f"/l/{token}/change/",),
            sys.exc_info(),
        )

    RedactLinkTokens().filter(record)
    RequestIdFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))

    assert token not in json.dumps(entry)
    assert entry["message"] == "Internal Server Error: /l/<redacted>/change/"
    assert "RuntimeError: could not render /l/<redacted>/change/" in entry["exception"]


def test_a_traceback_logged_for_a_link_path_is_redacted_too():
    token = secrets.token_urlsafe(32)
    try:
        raise RuntimeError(f"could not render /l/{token}/change/")
    except RuntimeError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error: %s",
            (f"/l/{token}/change/",),
            sys.exc_info(),
        )

    RedactLinkTokens().filter(record)
    text = logging.Formatter().format(record)

    assert token not in text
    assert "Internal Server Error: /l/<redacted>/change/" in text
    assert "RuntimeError: could not render /l/<redacted>/change/" in text
