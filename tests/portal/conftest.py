import pytest
from django.core import mail

from subscriptions import links
from subscriptions.models import Subscription
from tests.factories import LicenceAssignmentFactory, SubscriptionFactory


class Links:
    def __init__(self, subscription, urls):
        self.subscription = subscription
        self.change = urls["change_seats"].split("testserver", 1)[-1]
        self.cancel = urls["cancel"].split("testserver", 1)[-1]
        self.change_token = self.change.rstrip("/").rsplit("/", 1)[1]
        self.cancel_token = self.cancel.rstrip("/").rsplit("/", 1)[1]


@pytest.fixture
def activated(db, settings):
    """A Documents subscription of 3 seats (2 in use, 15.00/user/month), just
    activated: its admin's email holds the two unique links."""
    settings.SITE_URL = "http://testserver"
    subscription = SubscriptionFactory(
        quantity=3, status=Subscription.Status.PENDING, admin_email="ada@acme.example"
    )
    LicenceAssignmentFactory.create_batch(2, subscription=subscription)
    links.subscription_activate(subscription=subscription)
    body = mail.outbox[-1].body
    lines = body.splitlines()
    urls = {
        "change_seats": lines[lines.index("Add or remove users (change the number of seats):") + 1],
        "cancel": lines[lines.index("Cancel subscription:") + 1],
    }
    mail.outbox.clear()
    subscription.refresh_from_db()
    return Links(subscription, urls)
