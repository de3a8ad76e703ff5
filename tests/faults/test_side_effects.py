"""The side effects around a seat change — receipts, emails, Stripe's quantity, the charge
itself — through faults of Redis, PostgreSQL and SMTP, with a real worker, beat and Redis
(tests/faults/conftest.py) and the strict Stripe stand-in.

Each ends with nothing lost within RECOVERY seconds of the fault's end: receipt sent,
Stripe quantity right, count pushed, exactly one charge per change, no duplicate email.
What makes it so: every side effect is an outbox row written with the change and
dispatched after commit, and beat's dispatcher (`dispatch-outbox`) runs again whatever
was lost or failed; a charge whose outcome was lost is resolved with Stripe before
anything is sent again.
"""

import pytest

from backoffice import services as backoffice_services
from billing import services as billing
from billing.models import Payment
from outbox.models import OutboxMessage
from subscriptions.models import SeatChange, SeatSync, Subscription
from tests.backoffice.factories import seat_change_signed, staff_factory
from tests.billing.factories import awaiting_payment, give_card_on_file, stripe_subscription

from .harness import LIVE, RECOVERY, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def received(stack, subject_start: str, to: str | None = None) -> list:
    return [
        m
        for m in stack.smtp.messages
        if m["Subject"].strip().startswith(subject_start) and (to is None or m["To"] == to)
    ]


def stripe_quantity(stack, subscription: Subscription) -> int:
    stripe = stack.localstripe.get(f"/v1/subscriptions/{subscription.stripe_subscription_id}")
    return stripe["items"]["data"][0]["quantity"]


def applied(change: SeatChange) -> bool:
    return SeatChange.objects.get(pk=change.pk).state == SeatChange.State.APPLIED


def test_redis_down_at_a_payments_commit_loses_nothing(stack):
    subscription, org = stack.subscription_with_org(quantity=3, admin_email="ada@acme.example")
    give_card_on_file(stack.localstripe, subscription)
    stripe_subscription(stack.localstripe, subscription)
    change = awaiting_payment(subscription, new_quantity=5)  # signed by ada@customer.example

    stack.redis.kill()
    outcome = billing.payment_start_or_retry(seat_change=change)  # the payment page's call
    # The customer sees what happened: paid, and the change applying. No error page.
    assert outcome.succeeded, outcome.message
    stack.redis.start()

    def everything_landed():
        subscription.refresh_from_db()
        return (
            org.seats()[-1:] == [5]
            and applied(change)
            and stripe_quantity(stack, subscription) == 5
            and len(received(stack, "Receipt")) >= 2
            and len(received(stack, LIVE)) >= 1
        )

    assert wait_until(everything_landed, timeout=RECOVERY, interval=0.5), {
        "org": org.seats(),
        "state": SeatChange.objects.get(pk=change.pk).state,
        "stripe quantity": stripe_quantity(stack, subscription),
        "emails": stack.smtp.subjects(),
    }
    wait_until(lambda: False, timeout=3)  # room for a duplicate to show up
    assert sorted(m["To"] for m in received(stack, "Receipt")) == ["ada@acme.example", "ada@customer.example"]
    assert len(received(stack, LIVE)) == 1
    payment = Payment.objects.get(seat_change=change)
    assert payment.status == Payment.Status.SUCCEEDED
    # The customer's PaymentIntents: the Stripe subscription's first invoice, and this
    # payment's one charge.
    charges = stack.localstripe.payment_intents(customer=subscription.stripe_customer_id)
    ours = [c for c in charges if (c.get("metadata") or {}).get("seatmgr_payment") == str(payment.pk)]
    assert [c["status"] for c in ours] == ["succeeded"]
    assert [c["id"] for c in ours] == [payment.stripe_payment_intent_id]
    # Nothing of this payment was refunded (the stand-in is the session's: other tests'
    # refunds are there too).
    ours_ids = {c["id"] for c in ours}
    assert [r for r in stack.localstripe.list_all("refunds") if r["payment_intent"] in ours_ids] == []


def test_postgresql_connections_terminated_during_card_on_file_charges_charge_each_change_once(stack):
    changes = []
    for i in range(10):
        subscription, _ = stack.subscription_with_org(quantity=3, admin_email=f"admin{i}@acme.example")
        give_card_on_file(stack.localstripe, subscription)
        changes.append(awaiting_payment(subscription, new_quantity=4 + i % 3))

    def all_sent():
        unsent = Payment.objects.filter(status=Payment.Status.PENDING, attempt_sent_at__isnull=True)
        return not unsent.exists()

    with stack.terminate_backends(every=(0.1, 0.4)) as terminator:
        for change in changes:  # what signing does for a customer with a card on file
            billing.payment_card_on_file_queue(seat_change=change)
        # At once, not only at the terminator's first beat: the ten charges may all be
        # sent before it (0.1 to 0.4 s). The worker's connections, busy with them or
        # kept for the next task, go now.
        terminator.terminate_once()
        wait_until(all_sent, timeout=15)
    assert terminator.terminated >= 1

    def all_paid_and_applied():
        return Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == len(changes) and all(
            applied(change) for change in changes
        )

    assert wait_until(all_paid_and_applied, timeout=RECOVERY, interval=0.5), list(
        Payment.objects.values_list("status", "attempts", "attempt_sent_at")
    )
    refunded = {refund["payment_intent"] for refund in stack.localstripe.list_all("refunds")}
    for change in changes:
        customer = Subscription.objects.get(pk=change.subscription_id).stripe_customer_id
        charges = stack.localstripe.payment_intents(customer=customer)
        standing = [c["id"] for c in charges if c["status"] == "succeeded" and c["id"] not in refunded]
        assert len(standing) == 1, charges  # exactly one charge per change
        assert SeatSync.objects.filter(seat_change=change).count() == 1
    # Each receipt goes once to each of its two addresses, and nobody who paid is asked
    # to pay again. A receipt whose job failed with its connection is retried after its
    # backoff: within RECOVERY too.
    sent = wait_until(lambda: len(received(stack, "Receipt")) >= 2 * len(changes), timeout=RECOVERY)
    assert sent, list(OutboxMessage.objects.filter(done_at=None).values_list("key", "attempts", "due_at"))
    wait_until(lambda: False, timeout=3)  # room for a duplicate to show up
    receipts = [(m["To"], m["Subject"]) for m in received(stack, "Receipt")]
    assert len(receipts) == len(set(receipts)) == 2 * len(changes)
    assert received(stack, "Payment needed") == [] and received(stack, "Please confirm") == []


def test_smtp_refusing_during_an_approval_delays_its_emails_but_sends_each_once(stack):
    subscription, org = stack.subscription_with_org(quantity=5, admin_email="ada@acme.example")
    change = seat_change_signed(subscription, 3)  # a decrease, signed by ada@customer.example
    stack.smtp.switch("unavailable")

    approved = backoffice_services.seat_change_approve(seat_change=change, actor=staff_factory("manager"))
    assert approved.state in (SeatChange.State.APPLYING, SeatChange.State.APPLIED)  # no error page
    # The count is live while the mail server is still refusing.
    assert wait_until(lambda: org.seats()[-1:] == [3] and applied(change), timeout=20), org.seats()
    assert stack.smtp.messages == []
    stack.smtp.switch("accept")

    def emails_arrived():
        return len(received(stack, "Approved")) >= 2 and len(received(stack, LIVE)) >= 1

    assert wait_until(emails_arrived, timeout=RECOVERY, interval=0.5), stack.smtp.subjects()
    wait_until(lambda: False, timeout=3)  # room for a duplicate to show up
    approved_to = sorted(m["To"] for m in received(stack, "Approved"))
    assert approved_to == ["ada@acme.example", "ada@customer.example"]
    assert [m["To"] for m in received(stack, LIVE)] == ["ada@acme.example"]
