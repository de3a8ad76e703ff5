"""One request id joins a web request to every line it logs and every task it queues:
set by middleware (the caller's own when sane), echoed in `X-Request-Id`, carried in
the task's headers to a real Celery worker, whose JSON log lines name it."""

import json
import re
import secrets

import pytest
from django.test import Client

from tests.factories import SubscriptionFactory
from tests.observability.processes import heartbeat_dir, wait_for, worker  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_answer_echoes_a_sane_caller_id_or_makes_one():
    client = Client()

    given = client.get("/accounts/login/", headers={"X-Request-Id": "trace-1234"})
    unsafe = client.get("/accounts/login/", headers={"X-Request-Id": "<script>alert(1)</script>"})
    made = client.get("/health/")

    assert given["X-Request-Id"] == "trace-1234"
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe["X-Request-Id"])
    assert (
        re.fullmatch(r"[0-9a-f]{32}", made["X-Request-Id"]) and made["X-Request-Id"] != unsafe["X-Request-Id"]
    )


def test_an_api_error_names_the_same_id_as_its_header():
    response = Client().get("/api/v1/users/", headers={"X-Request-Id": "api-trace-9"})

    assert response.status_code == 401
    assert response["X-Request-Id"] == response.json()["request_id"] == "api-trace-9"


def log_entries(worker) -> list[dict]:  # noqa: F811
    lines = worker.log_path.read_text(errors="replace").splitlines()
    # Celery prints its start-up banner to stdout; every logged line is one JSON object.
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_a_task_queued_by_a_request_runs_and_logs_under_its_request_id(worker):  # noqa: F811
    subscription = SubscriptionFactory()
    rid = f"retrieve-{secrets.token_hex(8)}"

    response = Client().post(
        "/links/retrieve/", {"email": subscription.admin_email}, headers={"X-Request-Id": rid}
    )

    assert response.status_code == 200 and response["X-Request-Id"] == rid
    done = wait_for(
        lambda: [
            entry
            for entry in log_entries(worker)
            if entry["request_id"] == rid
            and "send_retrieved_links" in entry["message"]
            and "succeeded" in entry["message"]
        ],
        "logged by the worker",
    )
    assert done[0]["level"] == "INFO" and done[0]["logger"] == "celery.app.trace"
    assert set(done[0]) >= {"time", "level", "logger", "message", "request_id"}


def test_a_task_nobody_queued_from_a_request_logs_under_its_own_task_id(worker):  # noqa: F811
    from subscriptions.tasks import expire_seat_change_quotes

    result = expire_seat_change_quotes.delay()

    wait_for(
        lambda: [
            entry
            for entry in log_entries(worker)
            if entry["request_id"] == result.id and "succeeded" in entry["message"]
        ],
        "logged by the worker",
    )
