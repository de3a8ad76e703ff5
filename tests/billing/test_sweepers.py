"""Every state that waits on a side effect has a periodic task that moves it on, once.

| waiting state                                             | moved on by (beat)                         |
| --------------------------------------------------------- | ------------------------------------------ |
| increase signed, awaiting payment, no payment claimed     | billing reconcile_payments (claim signed)  |
| payment pending: attempt claimed, never sent / unanswered | billing reconcile_payments (payments)      |
| webhook event stored, never processed                     | billing reconcile_payments (events first)  |
| payment refunded, refund not issued                       | billing reconcile_payments (payments)      |
| stray charge (second charge, other amount) not refunded   | billing reconcile_payments (stray refunds) |
| Stripe renewals not set up                                | billing reconcile_payments (setups)        |
| paid → applying                                           | none needed: one transaction               |
| applying, its push pending                                | licensing requeue_seat_syncs               |
| applying, its count (or a newer one) delivered            | licensing apply_live_seat_changes          |
| approved decrease, period end reached                     | backoffice apply_scheduled_decreases       |

The licensing and back office sweepers are tested in tests/licensing/test_delivery.py
and tests/backoffice; the billing ones here and in test_reconciliation.py,
test_unknown_outcomes.py.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from agreements.models import Agreement
from billing import services, tasks
from billing.gateways import STRIPE_API_VERSION, stripe_gateway
from billing.models import Payment, StrayCharge
from subscriptions.models import SeatChange, Subscription
from tests.billing.factories import awaiting_payment, give_card_on_file
from tests.stripe_server import signed_webhook

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]

SWEEPERS = {
    "billing.tasks.reconcile_payments",
    "licensing.tasks.requeue_seat_syncs",
    "licensing.tasks.apply_live_seat_changes",
    "backoffice.tasks.apply_scheduled_decreases",
}


def test_beat_runs_every_sweeper():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert scheduled >= SWEEPERS


def signed_minutes_ago(change: SeatChange, minutes: int) -> None:
    SeatChange.objects.filter(pk=change.pk).update(signed_at=timezone.now() - timedelta(minutes=minutes))


def signed_choosing(change: SeatChange, choice: str) -> None:
    """The agreement of `change` as signed with the signing page's charge choice."""
    Agreement.objects.create(
        organization_id=change.subscription.organization_id,
        seat_change=change,
        unsigned_pdf=b"%PDF-",
        unsigned_sha256="0" * 64,
        sent_at=timezone.now(),
        charge_consent={"choice": choice, "shown": "Sign and pay", "amount": change.amount_due},
    )


def test_an_increase_signed_but_never_claimed_is_charged_once(localstripe):
    # The request that signed it ("Sign and pay") stopped before it claimed the charge
    # of the card on file.
    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    signed_choosing(change, "pay_now")
    just_signed = awaiting_payment()
    give_card_on_file(localstripe, just_signed.subscription)
    signed_choosing(just_signed, "pay_now")
    signed_minutes_ago(change, 10)

    first = tasks.reconcile_payments()
    second = tasks.reconcile_payments()

    assert (first["signed_claimed"], second["signed_claimed"]) == (1, 0)
    payment = Payment.objects.get(seat_change=change)
    [intent] = localstripe.payment_intents(customer=customer)
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", intent["id"])
    assert Subscription.objects.get(pk=change.subscription_id).quantity == 5
    # The one signed a minute ago may still be claimed by its own request: left alone.
    assert not Payment.objects.filter(seat_change=just_signed).exists()


def test_an_increase_without_a_card_on_file_is_left_to_the_payment_page(localstripe):
    change = awaiting_payment()
    signed_choosing(change, "pay_now")
    signed_minutes_ago(change, 10)

    assert tasks.reconcile_payments()["signed_claimed"] == 0
    assert not Payment.objects.filter(seat_change=change).exists()


def test_an_increase_signed_to_pay_later_is_never_charged_by_the_sweeper(localstripe):
    # The card on file is there, but its signer chose "Pay later, or with another card".
    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    signed_choosing(change, "pay_later")
    signed_minutes_ago(change, 10)

    assert tasks.reconcile_payments()["signed_claimed"] == 0
    assert not Payment.objects.filter(seat_change=change).exists()
    assert localstripe.payment_intents(customer=customer) == []


def test_a_stray_charge_whose_refund_failed_is_refunded_later_and_the_customer_told_once(client, localstripe):
    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    assert services.payment_start_or_retry(seat_change=change).succeeded
    payment = Payment.objects.get()
    # A second charge of the same payment (say, a lost attempt's), reported by Stripe
    # while refunds fail.
    card = stripe_gateway().customer_default_card(customer)
    second = stripe_gateway().payment_intent_charge(
        customer_id=customer,
        payment_method_id=card.id,
        amount=payment.amount,
        currency=payment.currency,
        off_session=True,
        metadata={"seatmgr_payment": str(payment.pk), "attempt": "0"},
        idempotency_key="test-second-charge",
    )
    localstripe.fault("/v1/refunds", status=503, times=10)
    intent = localstripe.get(f"/v1/payment_intents/{second.id}")
    event = {
        "id": "evt_second_charge",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "type": "payment_intent.succeeded",
        "created": int(timezone.now().timestamp()),
        "data": {"object": intent},
    }
    body, signature = signed_webhook(event)
    client.post(
        "/billing/stripe/webhook/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
    stray = StrayCharge.objects.get()
    assert (stray.stripe_payment_intent_id, stray.stripe_refund_id) == (second.id, "")
    localstripe.clear_faults()
    mail.outbox.clear()

    assert services.stray_charges_refund_due(now=timezone.now() + timedelta(minutes=10)) == 1
    assert services.stray_charges_refund_due(now=timezone.now() + timedelta(minutes=20)) == 0

    stray.refresh_from_db()
    refunds = localstripe.get(f"/v1/refunds?payment_intent={second.id}")["data"]
    assert [r["id"] for r in refunds] == [stray.stripe_refund_id]
    told = [m for m in mail.outbox if m.subject.startswith("Refunded: a second charge")]
    assert sorted(m.to[0] for m in told) == sorted({change.subscription.admin_email, change.signer_email})
    payment.refresh_from_db()
    assert payment.status == "succeeded" and payment.stripe_payment_intent_id != second.id
