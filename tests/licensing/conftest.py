"""A connected org that is a real signed-webhook receiver on 127.0.0.1, for the push tests."""

import pytest

from licensing.connectors import webhook
from licensing.models import ConnectedOrg
from tests.factories import SubscriptionFactory
from tests.receivers import WebhookReceiver


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.release()
    server.stop()


@pytest.fixture
def webhook_subscription(receiver):
    """A subscription (3 seats, admin ada@acme.example) whose organization's connected
    org is `receiver`."""
    subscription = SubscriptionFactory(quantity=3, admin_email="ada@acme.example")
    ConnectedOrg.objects.create(
        organization=subscription.organization,
        kind=ConnectedOrg.Kind.WEBHOOK,
        webhook_url=receiver.url,
        webhook_secret=webhook.new_secret(),
    )
    return subscription
