"""`manage.py run_periodic_tasks`: beat for the embedded default (tasks in-process)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from licensing.connectors import webhook
from licensing.models import ConnectedOrg
from subscriptions.models import SeatSync, Subscription
from tests.factories import SubscriptionFactory, paid_seat_change
from tests.receivers import WebhookReceiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_refuses_to_run_where_tasks_go_to_a_broker():
    with pytest.raises(CommandError, match="celery -A seatmgr beat"):
        call_command("run_periodic_tasks", "--once")


@pytest.mark.usefixtures("celery_eager")
def test_a_push_that_failed_lands_and_an_ended_period_renews_when_the_tasks_run():
    receiver = WebhookReceiver()
    try:
        subscription = SubscriptionFactory(quantity=3)
        ConnectedOrg.objects.create(
            organization=subscription.organization,
            kind=ConnectedOrg.Kind.WEBHOOK,
            webhook_url=receiver.url,
            webhook_secret=webhook.new_secret(),
        )
        receiver.stop()  # the org is down when the change is paid: the push fails
        paid_seat_change(subscription, 5)
        sync = SeatSync.objects.get(subscription=subscription)
        assert sync.status == "pending" and sync.attempts == 1
        SeatSync.objects.filter(pk=sync.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=1))
        ended = SubscriptionFactory(
            current_period_start=timezone.now() - timedelta(days=31),
            current_period_end=timezone.now() - timedelta(minutes=1),
        )
        receiver.start()
        out = StringIO()

        call_command("run_periodic_tasks", "--once", stdout=out)

        sync.refresh_from_db()
        assert sync.status == "delivered"
        assert [push.json["seats"] for push in receiver.received] == [5]
        assert Subscription.objects.get(pk=ended.pk).current_period_end > timezone.now()
        assert "requeue-seat-syncs: 1" in out.getvalue()
        assert "roll-subscription-periods: {'renewed': 1, 'ended': 0}" in out.getvalue()
    finally:
        receiver.stop()
