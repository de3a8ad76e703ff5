"""The Stripe library's own log of every request stays out of ours."""

import logging
import uuid

import pytest

from billing.gateways import stripe_gateway

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_localstripe")]


def test_a_stripe_call_writes_no_request_or_response_line_to_the_log(caplog):
    with caplog.at_level(logging.INFO):
        customer_id = stripe_gateway().customer_create(
            email="ada@acme.example", name="Acme", metadata={}, idempotency_key=uuid.uuid4().hex
        )

    assert customer_id.startswith("cus_")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("stripe")] == []
