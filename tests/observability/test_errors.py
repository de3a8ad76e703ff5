"""Each error is logged once: a bug in a page or an API endpoint yields exactly one
error record, with its traceback (Django's "Internal Server Error"
on `django.request`; the API used to add a second one of its own)."""

import logging

import pytest
from django.test import Client

from seatmgr.log_redaction import redact_link_tokens

pytestmark = [pytest.mark.urls("tests.observability.urls"), pytest.mark.django_db]


@pytest.mark.parametrize("path", ["/l/some-token/broken/", "/api/v1/broken/"])
def test_a_bug_is_logged_once_with_its_traceback(path, caplog):
    caplog.set_level(logging.INFO)

    response = Client(raise_request_exception=False).get(path, headers={"X-Request-Id": "bug-1"})

    assert response.status_code == 500
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    (error,) = errors
    assert error.name == "django.request"
    # The link's token is redacted, as on every line (seatmgr/log_redaction.py).
    assert error.getMessage() == f"Internal Server Error: {redact_link_tokens(path)}"
    assert error.exc_info and "a bug while serving" in str(error.exc_info[1])


def test_the_api_still_answers_a_bug_in_its_error_shape():
    response = Client(raise_request_exception=False).get("/api/v1/broken/", headers={"X-Request-Id": "bug-2"})

    assert response.status_code == 500
    assert response.json() == {
        "code": "server_error",
        "detail": "Something went wrong on our side; it has been logged.",
        "request_id": "bug-2",
    }
