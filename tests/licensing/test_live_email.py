"""The admin's "Your new seat count is live" email says how many licences are free to
give, and never invites them to give licences when none is free."""

import pytest
from django.core import mail

from licensing import delivery
from subscriptions.models import SeatSync
from tests.factories import LicenceAssignmentFactory, SubscriptionFactory, paid_seat_change

pytestmark = pytest.mark.django_db


def go_live(subscription, new_quantity, django_capture_on_commit_callbacks):
    paid_seat_change(subscription, new_quantity)
    with django_capture_on_commit_callbacks(execute=True):
        delivery.seat_sync_deliver(
            seat_sync_id=SeatSync.objects.filter(subscription=subscription).latest("version").pk
        )
    (message,) = mail.outbox
    return message.body


def test_after_a_decrease_to_the_licences_in_use_the_email_says_none_is_free(
    django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://seats.example"
    subscription = SubscriptionFactory(quantity=4, admin_email="ada@acme.example")
    for _ in range(3):
        LicenceAssignmentFactory(subscription=subscription)

    body = go_live(subscription, 3, django_capture_on_commit_callbacks)

    assert "now has 3 users" in body
    assert "You can assign" not in body and "give them to your users now" not in body
    assert "All 3 licences are in use: none is free to give." in body
    assert "making a user Inactive on Manage licences:\nhttps://seats.example/licences/" in body


def test_after_an_increase_the_email_counts_the_free_licences_and_links_to_manage_licences(
    django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://seats.example"
    subscription = SubscriptionFactory(quantity=2, admin_email="ada@acme.example")
    LicenceAssignmentFactory(subscription=subscription)

    body = go_live(subscription, 5, django_capture_on_commit_callbacks)

    assert "4 of your 5 licences are free: you can give them to your users now on Manage licences:" in body
    assert "https://seats.example/licences/" in body


def test_after_a_decrease_to_one_user_the_email_says_one_user_and_one_licence(
    django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://seats.example"
    subscription = SubscriptionFactory(quantity=2, admin_email="ada@acme.example")
    LicenceAssignmentFactory(subscription=subscription)

    body = go_live(subscription, 1, django_capture_on_commit_callbacks)

    assert "now has 1 user in your org" in body and "1 users" not in body
    assert "Your one licence is in use: none is free to give." in body
    assert "https://seats.example/licences/" in body
