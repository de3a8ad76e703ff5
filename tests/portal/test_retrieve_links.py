""" "Retrieve my links" answers the same, as quickly, for a known and an unknown
address: the request only counts the attempt and queues a task, which looks the
address up and emails the links."""

import re
import time

import pytest
from django.core import mail

from devmail.models import StoredEmail
from subscriptions import links
from tests.celery_worker import celery_worker, wait_until  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/links/retrieve/"


def answer(response) -> tuple[int, bytes]:
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", response.content)
    return response.status_code, body


def test_known_and_unknown_addresses_get_the_same_bytes_and_the_worker_sends_the_links(
    client,
    activated,
    celery_worker,  # noqa: F811
):
    known = client.post(URL, {"email": "Ada@acme.example"})
    unknown = client.post(URL, {"email": "nobody@example.com"})

    assert answer(known) == answer(unknown)
    assert known.status_code == 200 and b"we're emailing the links" in known.content
    assert sorted(known.headers) == sorted(unknown.headers)
    # Nothing was sent by the request itself: the worker's email backend stores its mail.
    assert mail.outbox == []
    assert wait_until(lambda: StoredEmail.objects.filter(to="ada@acme.example").exists())
    (sent,) = StoredEmail.objects.all()
    assert sent.subject == "Your Opero Documents links"
    assert "/l/" in sent.body
    time.sleep(0.5)
    assert not StoredEmail.objects.filter(to="nobody@example.com").exists()


def test_in_the_embedded_default_the_task_runs_beside_the_request_not_in_it(client, activated, celery_eager):
    known = client.post(URL, {"email": "ada@acme.example"})
    unknown = client.post(URL, {"email": "nobody@example.com"})

    assert answer(known) == answer(unknown)
    assert wait_until(lambda: len(mail.outbox) == 1, timeout=10)
    time.sleep(0.3)
    assert [message.to for message in mail.outbox] == [["ada@acme.example"]]


def test_the_per_ip_limit_counts_the_real_client_behind_the_proxy(client, activated, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(links.RETRIEVE_LIMIT_PER_IP):
        # A forged left-most entry changes nothing: the proxy appended the real address.
        forged = f"10.9.{n}.1, 198.51.100.20"
        response = client.post(URL, {"email": f"person{n}@example.com"}, HTTP_X_FORWARDED_FOR=forged)
        assert response.status_code == 200

    refused = client.post(
        URL, {"email": "one-more@example.com"}, HTTP_X_FORWARDED_FOR="10.8.0.1, 198.51.100.20"
    )
    other_client = client.post(URL, {"email": "one-more@example.com"}, HTTP_X_FORWARDED_FOR="198.51.100.21")

    assert refused.status_code == 429
    assert other_client.status_code == 200


def test_without_a_trusted_proxy_a_forged_header_does_not_escape_the_limit(client, activated, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(links.RETRIEVE_LIMIT_PER_IP):
        client.post(URL, {"email": f"person{n}@example.com"}, HTTP_X_FORWARDED_FOR=f"10.9.{n}.1")

    response = client.post(URL, {"email": "one-more@example.com"}, HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert response.status_code == 429
