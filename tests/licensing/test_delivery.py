"""Delivery of seat counts to connected orgs, service by service (no worker here;
tests/licensing/test_worker.py runs the real Celery worker)."""

import random
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from licensing import delivery
from licensing.connectors import webhook
from licensing.models import ConnectedOrg, SeatSyncAttempt
from subscriptions import signals
from subscriptions.models import SeatChange, SeatSync
from tests.factories import SubscriptionFactory, paid_seat_change

pytestmark = pytest.mark.django_db


def only_sync(subscription) -> SeatSync:
    return SeatSync.objects.filter(subscription=subscription).latest("version")


def test_the_built_in_licence_server_takes_the_count_at_once_and_the_admin_is_told(
    django_capture_on_commit_callbacks,
):
    subscription = SubscriptionFactory(quantity=3, admin_email="ada@acme.example")
    change = paid_seat_change(subscription, 5)

    with django_capture_on_commit_callbacks(execute=True):
        result = delivery.seat_sync_deliver(seat_sync_id=only_sync(subscription).pk)

    assert result.outcome == "delivered"
    change.refresh_from_db()
    assert change.state == SeatChange.State.APPLIED
    assert [m.subject for m in mail.outbox] == ["Your new seat count is live"]
    assert "now has 5 users" in mail.outbox[0].body


def test_a_webhook_push_is_signed_per_standard_webhooks_and_carries_the_count(webhook_subscription, receiver):
    change = paid_seat_change(webhook_subscription, 5)
    sync = only_sync(webhook_subscription)

    assert delivery.seat_sync_deliver(seat_sync_id=sync.pk).outcome == "delivered"

    (request,) = receiver.received
    secret = webhook_subscription.organization.connected_org.webhook_secret
    # Checked with the specification's reference library, not with our own code.
    assert Webhook(secret).verify(request.body, request.headers) == request.json
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook.new_secret()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b'"seats":5', b'"seats":50'), request.headers)
    assert request.headers["webhook-id"] == f"seatsync_{sync.pk}"
    assert request.json == {
        "organization": webhook_subscription.organization.slug,
        "product": "documents",
        "seats": 5,
        "seat_change": change.number,
        "version": 1,
        "occurred_at": sync.created_at.isoformat(),
    }


def test_a_failed_push_is_recorded_backs_off_and_keeps_its_webhook_id_on_retry(
    webhook_subscription, receiver
):
    paid_seat_change(webhook_subscription, 5)
    sync = only_sync(webhook_subscription)
    receiver.fail_next(1)

    failed = delivery.seat_sync_deliver(seat_sync_id=sync.pk)
    sync.refresh_from_db()

    assert failed.outcome == "failed" and 1 <= failed.retry_in <= 2
    assert (sync.status, sync.attempts, sync.last_error) == ("pending", 1, "Your org answered HTTP 503.")
    assert sync.next_attempt_at > timezone.now()
    assert delivery.seat_sync_deliver(seat_sync_id=sync.pk).outcome == "delivered"
    assert [r.headers["webhook-id"] for r in receiver.received] == [f"seatsync_{sync.pk}"] * 2
    outcomes = list(SeatSyncAttempt.objects.order_by("id").values_list("outcome", "error"))
    assert outcomes == [("failed", "Your org answered HTTP 503."), ("delivered", "")]


def test_an_unreachable_org_is_reported_in_words(webhook_subscription, receiver):
    paid_seat_change(webhook_subscription, 5)
    receiver.stop()

    result = delivery.seat_sync_deliver(seat_sync_id=only_sync(webhook_subscription).pk)

    assert result.error == "Your org could not be reached."
    receiver.start()


def test_the_account_manager_is_alerted_once_after_repeated_failures(
    webhook_subscription, receiver, django_capture_on_commit_callbacks
):
    paid_seat_change(webhook_subscription, 5)
    sync = only_sync(webhook_subscription)
    alerts = []

    def listener(sender, *, seat_sync_id, error, **kwargs):
        alerts.append({"seat_sync_id": seat_sync_id, "error": error})

    signals.seat_sync_failing.connect(listener)
    receiver.fail_next(7)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(7):
                delivery.seat_sync_deliver(seat_sync_id=sync.pk)
    finally:
        signals.seat_sync_failing.disconnect(listener)

    assert alerts == [{"seat_sync_id": sync.pk, "error": "Your org answered HTTP 503."}]


def test_an_older_count_is_never_pushed_after_a_newer_one(webhook_subscription, receiver):
    paid_seat_change(webhook_subscription, 5)
    older = only_sync(webhook_subscription)
    paid_seat_change(webhook_subscription, 7)
    newer = only_sync(webhook_subscription)

    assert delivery.seat_sync_deliver(seat_sync_id=newer.pk).outcome == "delivered"
    assert delivery.seat_sync_deliver(seat_sync_id=older.pk).outcome == "skipped"

    older.refresh_from_db()
    assert older.status == SeatSync.Status.SUPERSEDED
    assert [r.json["seats"] for r in receiver.received] == [7]


def test_an_older_pending_count_is_superseded_rather_than_pushed(webhook_subscription, receiver):
    paid_seat_change(webhook_subscription, 5)
    older = only_sync(webhook_subscription)
    paid_seat_change(webhook_subscription, 7)

    assert delivery.seat_sync_deliver(seat_sync_id=older.pk).outcome == "superseded"
    assert receiver.received == []


def test_overdue_pending_pushes_are_requeued_and_nothing_else():
    subscription = SubscriptionFactory(quantity=3)
    paid_seat_change(subscription, 5)
    lost = only_sync(subscription)
    later = timezone.now() + delivery.REQUEUE_GRACE + timedelta(seconds=1)
    fresh_subscription = SubscriptionFactory(quantity=3)
    paid_seat_change(fresh_subscription, 4)
    waiting = only_sync(fresh_subscription)
    SeatSync.objects.filter(pk=waiting.pk).update(next_attempt_at=later + timedelta(minutes=5))

    enqueued = []
    assert delivery.seat_syncs_requeue(now=later, enqueue=enqueued.append) == 1
    assert enqueued == [lost.pk]


def test_retry_delays_grow_exponentially_with_jitter_and_are_capped():
    rng = random.Random(7)
    delays = [delivery.retry_delay(n, rng=rng) for n in range(1, 16)]

    assert 1 <= delays[0] <= 2
    assert 2 <= delays[1] <= 4
    assert all(d <= delivery.MAX_RETRY_SECONDS for d in delays)
    assert delays[-1] >= delivery.MAX_RETRY_SECONDS / 2


def test_connected_org_secrets_are_encrypted_at_rest():
    subscription = SubscriptionFactory()
    ConnectedOrg.objects.create(
        organization=subscription.organization,
        kind=ConnectedOrg.Kind.SALESFORCE,
        salesforce_password="hunter2-and-token",
        webhook_secret="whsec_c2VjcmV0",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT salesforce_password, webhook_secret FROM licensing_connectedorg")
        stored = cursor.fetchone()

    assert all(value.startswith("fernet:") for value in stored)
    assert "hunter2" not in stored[0] and "c2VjcmV0" not in stored[1]
    assert ConnectedOrg.objects.get().salesforce_password == "hunter2-and-token"


def test_a_test_push_sends_the_current_counts_and_changes_nothing(webhook_subscription, receiver):
    outcome = delivery.test_push(organization=webhook_subscription.organization)

    assert outcome.ok and outcome.detail == "Delivered — Documents: 3"
    assert [r.json["seats"] for r in receiver.received] == [3]
    assert not SeatSync.objects.exists()
    receiver.stop()
    assert delivery.test_push(organization=webhook_subscription.organization).detail == (
        "Your org could not be reached."
    )
    receiver.start()


def test_the_embedded_default_can_push_pending_counts_by_command(webhook_subscription, receiver):
    from io import StringIO

    from django.core.management import call_command

    paid_seat_change(webhook_subscription, 5)
    receiver.fail_next(1)
    out = StringIO()

    call_command("push_pending_seat_counts", stdout=out)
    call_command("push_pending_seat_counts", stdout=out)

    assert out.getvalue().splitlines() == ["1 failed", "1 delivered"]
    assert [r.json["seats"] for r in receiver.accepted] == [5]


# --- "Applied" and "live" mean the org has the count ------------------------------------


def live_counts() -> list[str]:
    """The count each "now live" email says the org has, in order."""
    return [m.body.split(" now has ")[1].split(" users")[0] for m in mail.outbox]


def test_racing_changes_are_applied_only_once_the_org_accepts_a_count_at_least_as_new(
    webhook_subscription, receiver, django_capture_on_commit_callbacks
):
    receiver.stop()  # the org refuses connections
    first = paid_seat_change(webhook_subscription, 5)
    older = only_sync(webhook_subscription)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.seat_sync_deliver(seat_sync_id=older.pk).outcome == "failed"
    second = paid_seat_change(webhook_subscription, 8)
    newer = only_sync(webhook_subscription)

    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.seat_sync_deliver(seat_sync_id=older.pk).outcome == "superseded"
        assert delivery.seat_sync_deliver(seat_sync_id=newer.pk).outcome == "failed"

    # Overtaken is not live: neither change is applied nor anyone told.
    assert {c.state for c in SeatChange.objects.filter(pk__in=[first.pk, second.pk])} == {"applying"}
    assert mail.outbox == []
    assert delivery.seat_changes_sweep_live() == 0

    receiver.start()
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.seat_sync_deliver(seat_sync_id=newer.pk).outcome == "delivered"
        assert delivery.seat_sync_deliver(seat_sync_id=older.pk).outcome == "skipped"

    assert {c.state for c in SeatChange.objects.filter(pk__in=[first.pk, second.pk])} == {"applied"}
    assert [r.json["seats"] for r in receiver.accepted] == [8]  # 5 was never sent
    assert [m.subject for m in mail.outbox] == ["Your new seat count is live"] * 2
    assert live_counts() == ["8", "8"]  # what the org has, for both admins


def test_a_newer_change_is_not_applied_by_the_delivery_of_an_older_count(
    webhook_subscription, receiver, django_capture_on_commit_callbacks
):
    first = paid_seat_change(webhook_subscription, 5)
    older = only_sync(webhook_subscription)
    with django_capture_on_commit_callbacks(execute=True):
        # The older count was read and sent before the newer change existed.
        assert delivery.seat_sync_deliver(seat_sync_id=older.pk).outcome == "delivered"
    second = paid_seat_change(webhook_subscription, 8)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == ("applied", "applying")
    assert live_counts() == ["5"]


# --- The sweeper for `applying` ------------------------------------------------------------


def crash_after_delivery(change: SeatChange) -> SeatSync:
    """The rows as a process that recorded the delivery and died before applying the
    change leaves them: the push delivered, the change still applying."""
    sync = SeatSync.objects.get(seat_change=change)
    SeatSync.objects.filter(pk=sync.pk).update(
        status=SeatSync.Status.DELIVERED, attempts=1, delivered_at=timezone.now()
    )
    return sync


def test_the_sweeper_applies_a_change_left_applying_after_its_delivery_once(
    django_capture_on_commit_callbacks,
):
    from audit.models import AuditEvent

    stuck = SubscriptionFactory(quantity=3, admin_email="ada@acme.example")
    change = paid_seat_change(stuck, 5)
    crash_after_delivery(change)
    overtaken = SubscriptionFactory(quantity=3, admin_email="bob@globex.example")
    older_change = paid_seat_change(overtaken, 4)
    SeatSync.objects.filter(seat_change=older_change).update(status=SeatSync.Status.SUPERSEDED)
    crash_after_delivery(paid_seat_change(overtaken, 6))
    waiting = paid_seat_change(SubscriptionFactory(quantity=3), 7)  # its push is still pending

    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.seat_changes_sweep_live() == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.seat_changes_sweep_live() == 0

    state = dict(SeatChange.objects.values_list("pk", "state"))
    assert (state[change.pk], state[older_change.pk], state[waiting.pk]) == ("applied", "applied", "applying")
    assert sorted(zip((m.to[0] for m in mail.outbox), live_counts(), strict=True)) == [
        ("ada@acme.example", "5"),
        ("bob@globex.example", "6"),
        ("bob@globex.example", "6"),
    ]
    assert AuditEvent.objects.filter(action="seat_change.applied", object_id=str(change.pk)).count() == 1


def test_the_sweeper_is_on_beats_schedule():
    from django.conf import settings

    assert {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()} >= {
        "licensing.tasks.apply_live_seat_changes",
        "licensing.tasks.requeue_seat_syncs",
    }


def test_a_change_the_sweeper_cannot_apply_does_not_hold_back_the_others(
    django_capture_on_commit_callbacks, caplog
):
    blocked = paid_seat_change(SubscriptionFactory(quantity=3), 5)
    crash_after_delivery(blocked)
    other = paid_seat_change(SubscriptionFactory(quantity=3), 6)
    crash_after_delivery(other)
    with connection.cursor() as cursor:  # the database refuses to update the first one
        cursor.execute(
            "CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_update BEFORE UPDATE ON subscriptions_seatchange FOR EACH ROW "
            f"WHEN (OLD.id = {int(blocked.pk)}) EXECUTE FUNCTION refuse_update()"
        )

    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.seat_changes_sweep_live() == 1

    assert SeatChange.objects.get(pk=other.pk).state == SeatChange.State.APPLIED
    assert SeatChange.objects.get(pk=blocked.pk).state == SeatChange.State.APPLYING
    assert f"Subscription {blocked.subscription_id}: its live seat changes" in caplog.text
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_update ON subscriptions_seatchange")
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.seat_changes_sweep_live() == 1  # the next run applies it
    assert len(mail.outbox) == 2
