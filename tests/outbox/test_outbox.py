"""The outbox in one process: a message runs once after its transaction commits,
never for a rolled-back one, is retried with backoff when it fails, is taken by the
dispatcher when its publication was lost, and never turns a committed action into an
error page, whether the broker or the SMTP server is down."""

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

import outbox
from outbox import services
from outbox.mail import message_id
from outbox.models import OutboxMessage
from subscriptions.models import SeatChange
from tests.backoffice.conftest import Accounts
from tests.factories import UserFactory

from . import jobs
from .helpers import runs, time_passes

pytestmark = pytest.mark.django_db


def test_a_message_of_a_rolled_back_transaction_never_runs(celery_eager, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        outbox.enqueue(jobs.record, key="rolled-back", kind="urgent", label="rolled-back")
        raise RuntimeError("the change failed")

    time_passes(3600)
    services.dispatch_due()
    assert runs("rolled-back") == 0
    assert not OutboxMessage.objects.exists()


def test_a_message_runs_once_after_commit_and_a_duplicate_key_adds_nothing(
    celery_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        assert outbox.enqueue(jobs.record, key="once", kind="urgent", label="once") is not None
        assert outbox.enqueue(jobs.record, key="once", kind="urgent", label="once") is None
        assert runs("once") == 0  # nothing before the commit

    assert runs("once") == 1
    time_passes(3600)
    assert services.dispatch_due() == 0
    assert runs("once") == 1
    assert OutboxMessage.objects.get(key="once").status == "done"


def test_only_a_module_level_function_can_be_a_job():
    with pytest.raises(ValueError, match="is not importable"):
        outbox.enqueue(lambda: None, key="lambda", kind="urgent")
    with pytest.raises(ValueError, match="unknown outbox kind"):
        outbox.enqueue(jobs.record, key="kind", kind="whenever", label="x")


def test_a_failing_job_raises_nothing_is_retried_with_growing_delays_then_marked_failed(
    celery_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue(jobs.fail, key="failing", kind="urgent", label="failing")  # raises nothing

    message = OutboxMessage.objects.get(key="failing")
    assert (message.attempts, message.status) == (1, "retrying")
    assert "the far side said no" in message.last_error
    waits = []
    while message.failed_at is None:
        wait = (message.due_at - timezone.now()).total_seconds()
        waits.append(round(wait))
        assert services.dispatch_due() == 0  # not due yet
        time_passes(wait)
        assert services.dispatch_due() == 1
        message.refresh_from_db()

    assert runs("failing") == services.MAX_ATTEMPTS
    assert waits == sorted(waits) and waits[0] < waits[-1] <= services.BACKOFF_MAX_SECONDS
    assert waits[-1] == services.BACKOFF_MAX_SECONDS
    assert message.status == "failed"
    time_passes(3600)
    assert services.dispatch_due() == 0
    assert runs("failing") == services.MAX_ATTEMPTS


def test_the_dispatcher_runs_a_message_whose_process_died_once_its_lease_is_over(celery_eager):
    pk = outbox.enqueue(jobs.record, key="orphan", kind="urgent", label="orphan")  # never committed here
    assert services._claim(pk, 0, timezone.now()) is not None  # claimed, then the process died

    assert services.dispatch_due() == 0  # leased
    time_passes(services.LEASE.total_seconds() + 1)
    assert services.dispatch_due() == 1
    assert runs("orphan") == 1
    assert OutboxMessage.objects.get(pk=pk).status == "done"


def test_a_publication_lost_with_the_broker_down_only_delays_the_job(
    settings, broker_down, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue(jobs.record, key="lost", kind="urgent", label="lost")  # raises nothing
    assert "not published" in caplog.text
    assert runs("lost") == 0

    broker_down()  # Redis is back; the dispatcher runs it (in-process, as in the embedded default)
    settings.OUTBOX_IN_PROCESS_KINDS = ["urgent"]
    assert services.dispatch_due() == 0  # within the grace of its own publication
    time_passes(services.PUBLISH_GRACE.total_seconds() + 1)
    assert services.dispatch_due() == 1
    assert runs("lost") == 1


@pytest.fixture
def accounts(db):
    return Accounts()


def approve(client, accounts):
    client.force_login(accounts.am)
    return client.post(f"/backoffice/changes/{accounts.decrease.number}/approve/", follow=True)


def test_an_approval_with_the_broker_down_stands_and_its_email_follows(
    settings, accounts, client, broker_down, django_capture_on_commit_callbacks
):
    settings.OUTBOX_IN_PROCESS_KINDS = []  # emails go to the broker too
    with django_capture_on_commit_callbacks(execute=True):
        response = approve(client, accounts)

    assert response.status_code == 200
    assert SeatChange.objects.get(pk=accounts.decrease.pk).state != SeatChange.State.AWAITING_APPROVAL
    assert mail.outbox == []

    broker_down()
    settings.OUTBOX_IN_PROCESS_KINDS = ["email"]
    time_passes(3600)
    services.dispatch_due()
    time_passes(3600)
    services.dispatch_due()
    (email,) = [email for email in mail.outbox if email.subject.startswith("Approved:")]
    assert email.to == ["ada@customer.example"]


def test_an_approval_while_smtp_refuses_stands_and_its_email_arrives_once_smtp_accepts(
    accounts, client, smtp, django_capture_on_commit_callbacks
):
    smtp.refusing = True
    with django_capture_on_commit_callbacks(execute=True):
        response = approve(client, accounts)

    assert response.status_code == 200
    assert SeatChange.objects.get(pk=accounts.decrease.pk).state != SeatChange.State.AWAITING_APPROVAL
    message = OutboxMessage.objects.get(key=f"seat-change-approved:{accounts.decrease.pk}")
    assert message.status == "retrying" and "554" in message.last_error
    assert smtp.received == []

    smtp.refusing = False
    time_passes(3600)
    services.dispatch_due()
    time_passes(3600)
    services.dispatch_due()
    (email,) = smtp.to("ada@customer.example")
    assert email["Subject"].startswith("Approved:")
    assert email["Message-ID"] == message_id(message.key, "1:ada@customer.example")
    assert email["X-Idempotency-Key"] == f"{message.key}#1"


def test_a_retried_job_never_sends_an_email_twice(smtp, django_capture_on_commit_callbacks):
    smtp.refused = {"bea@example.com"}
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue(jobs.two_emails, key="two", kind="email", to=["ada@example.com", "bea@example.com"])
    assert len(smtp.to("ada@example.com")) == 1 and smtp.to("bea@example.com") == []
    assert OutboxMessage.objects.get(key="two").status == "retrying"

    smtp.refused = set()
    time_passes(3600)
    services.dispatch_due()
    assert len(smtp.to("ada@example.com")) == 1
    assert len(smtp.to("bea@example.com")) == 1
    assert OutboxMessage.objects.get(key="two").status == "done"
    ids = {smtp.to(a)[0]["Message-ID"] for a in ("ada@example.com", "bea@example.com")}
    assert len(ids) == 2


def test_an_email_sent_outside_any_job_goes_through_the_outbox(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        mail.EmailMessage(subject="Your code", body="123456", to=["ada@example.com"]).send()
        assert mail.outbox == []

    (email,) = mail.outbox
    assert email.subject == "Your code" and email.extra_headers["X-Idempotency-Key"].startswith("email:")
    message = OutboxMessage.objects.get()
    assert message.status == "done" and message.kwargs == {}  # the code is not kept


def test_a_failed_message_is_listed_in_the_admin_with_its_error_and_can_be_retried(
    client, celery_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue(jobs.fail, key="given-up", kind="urgent", label="given-up")
        outbox.enqueue(jobs.record, key="went-fine", kind="urgent", label="went-fine")
    OutboxMessage.objects.filter(key="given-up").update(attempts=services.MAX_ATTEMPTS - 1)
    time_passes(3600)
    services.dispatch_due()
    failed = OutboxMessage.objects.get(key="given-up")
    assert failed.status == "failed"
    client.force_login(UserFactory(email="vendor@seatmgr.example", is_staff=True, is_superuser=True))

    page = client.get("/admin/outbox/outboxmessage/?status=failed").content.decode()
    assert "given-up" in page and "went-fine" not in page
    detail = client.get(f"/admin/outbox/outboxmessage/{failed.pk}/change/").content.decode()
    assert "the far side said no" in detail

    client.post(
        "/admin/outbox/outboxmessage/", {"action": "retry_now", "_selected_action": [failed.pk]}, follow=True
    )
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.failed_at is None
    services.dispatch_due()
    assert runs("given-up") == 3  # the first run, the last before giving up, and the retry
