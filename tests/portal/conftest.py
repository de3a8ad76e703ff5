import pytest
from django.core import mail

from subscriptions import links
from subscriptions.models import Subscription
from tests.factories import LicenceAssignmentFactory, SubscriptionFactory


def open_link(client, url: str) -> str:
    """Follow an emailed link as a browser does: the page it redirects to (no token)."""
    response = client.get(url)
    assert response.status_code == 303, response.status_code
    assert "/l/" not in response["Location"]
    return response["Location"]


class Links:
    """The two emailed links (`change`, `cancel`: `/l/<token>/`), opened in `client`:
    `base` is where the change link's pages are (`/link/<session id>/`)."""

    def __init__(self, subscription, urls, client):
        self.subscription = subscription
        self.client = client
        self.change = urls["change_seats"].split("testserver", 1)[-1]
        self.cancel = urls["cancel"].split("testserver", 1)[-1]
        self.change_token = self.change.rstrip("/").rsplit("/", 1)[1]
        self.cancel_token = self.cancel.rstrip("/").rsplit("/", 1)[1]
        self.reopen()

    def reopen(self) -> None:
        """Open the links again (after the session was lost, say)."""
        self.base = open_link(self.client, self.change).removesuffix("change/")
        self.cancel_page = open_link(self.client, self.cancel)


@pytest.fixture
def activated(db, settings, client):
    """A Documents subscription of 3 seats (2 in use, 15.00/user/month), just
    activated: its admin's email holds the two unique links, opened in `client`."""
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
    return Links(subscription, urls, client)
