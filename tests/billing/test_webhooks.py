"""POST /billing/stripe/webhook/: verified, stored once by Stripe id, processed once,
in any order."""

import random
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from billing import webhooks
from billing.gateways import STRIPE_API_VERSION, stripe_gateway
from billing.models import Payment, RenewalInvoice, StripeEvent
from subscriptions.models import SeatSync, Subscription
from tests.billing.factories import (
    DECLINED,
    THREE_D_SECURE,
    awaiting_payment,
    give_card_on_file,
    new_card,
    stripe_subscription,
)
from tests.stripe_server import signed_webhook

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]

URL = "/billing/stripe/webhook/"


def deliver(client, event: dict, **signing):
    body, signature = signed_webhook(event, **signing)
    return client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def event(
    type: str, obj: dict, event_id: str | None = None, *, api_version: str = STRIPE_API_VERSION
) -> dict:
    return {
        "id": event_id or f"evt_test_{time.monotonic_ns()}",
        "object": "event",
        "api_version": api_version,
        "type": type,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def test_a_bad_signature_is_refused_and_nothing_is_stored(client):
    body, signature = signed_webhook(event("invoice.paid", {"id": "in_1"}), secret="whsec_not_ours")

    response = client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)

    assert response.status_code == 400
    assert response.json()["code"] == "webhook_rejected"
    assert not StripeEvent.objects.exists()


def test_a_stale_timestamp_is_refused_even_with_a_good_signature(client):
    response = deliver(client, event("invoice.paid", {"id": "in_1"}), timestamp=int(time.time()) - 600)

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_only_post_is_accepted(client):
    assert client.get(URL).status_code == 405


def test_a_duplicate_delivery_answers_200_and_does_nothing(client):
    unknown = event("customer.created", {"id": "cus_1", "object": "customer"}, "evt_dup")

    first = deliver(client, unknown)
    second = deliver(client, unknown)

    assert (first.status_code, first.json()) == (200, {"received": "evt_dup", "duplicate": False})
    assert (second.status_code, second.json()) == (200, {"received": "evt_dup", "duplicate": True})
    stored = StripeEvent.objects.get()
    assert (stored.type, stored.outcome, stored.attempts) == (
        "customer.created",
        "ignored: unhandled type",
        1,
    )
    assert stored.processed_at is not None and stored.payload["data"]["object"]["id"] == "cus_1"


def test_processing_an_event_twice_does_it_once(client):
    deliver(client, event("customer.created", {"id": "cus_1"}, "evt_once"))
    stored = StripeEvent.objects.get()

    assert webhooks.stripe_event_process(event_id=stored.pk) == "already processed"
    assert StripeEvent.objects.get().attempts == 1


def paid_through_the_bank_only(localstripe) -> tuple:
    """A change of a subscription that Stripe renews (its Visa on file pays the Stripe
    subscription), paid with other cards: the first was declined, the second needed
    3-D Secure, which the customer completed in the browser before closing the tab.
    Only Stripe's webhooks can tell us it was paid. Returns the change, its payment and
    every event localstripe made for the customer."""
    from billing import services

    change = awaiting_payment()
    customer = give_card_on_file(localstripe, change.subscription)
    stripe_subscription(localstripe, change.subscription)
    declined = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, DECLINED)
    )
    assert declined.status == "failed"
    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, THREE_D_SECURE)
    )
    payment = Payment.objects.get()
    localstripe.authenticate(payment.stripe_payment_intent_id, outcome.client_secret)
    assert Payment.objects.get().status == "requires_action"
    events = [
        e
        for e in localstripe.events()
        if customer in (e["data"]["object"].get("customer"), e["data"]["object"].get("id"))
    ]
    return change, payment, events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_event_three_times_in_any_order_gives_one_payment_and_one_quantity_change(
    client, localstripe, seed
):
    change, payment, events = paid_through_the_bank_only(localstripe)
    assert {
        "customer.created",
        "invoice.payment_succeeded",
        "payment_intent.payment_failed",
        "payment_intent.succeeded",
    } <= {e["type"] for e in events}
    stripe_subscription_id = Subscription.objects.get().stripe_subscription_id
    renewal = {
        "id": "in_renewal_1",
        "object": "invoice",
        "subscription": stripe_subscription_id,
        "currency": "eur",
    }
    events += [  # the renewal a month later, which localstripe would not send
        event("invoice.payment_failed", {**renewal, "amount_due": 7500}, "evt_renewal_failed"),
        event("invoice.paid", {**renewal, "amount_paid": 7500, "number": "INV-0001"}, "evt_renewal_paid"),
    ]
    deliveries = events * 3
    random.Random(seed).shuffle(deliveries)

    answers = [deliver(client, delivery).status_code for delivery in deliveries]

    assert answers == [200] * len(deliveries)
    payment.refresh_from_db()
    change.refresh_from_db()
    subscription = Subscription.objects.get()
    assert payment.status == "succeeded" and payment.receipt_number
    assert change.state in ("applying", "applied")
    assert (subscription.quantity, subscription.seats_version, SeatSync.objects.count()) == (5, 1, 1)
    assert StripeEvent.objects.count() == len(events)
    assert not StripeEvent.objects.filter(processed_at=None).exists()
    assert set(RenewalInvoice.objects.values_list("stripe_invoice_id", "status")) >= {
        ("in_renewal_1", "paid")
    }
    assert not RenewalInvoice.objects.exclude(status="paid").exists()
    assert subscription.status == "active"  # whichever of the renewal's events came last
    # Renewals now bill the new number of seats.
    stripe_side = localstripe.get(f"/v1/subscriptions/{stripe_subscription_id}")
    assert stripe_side["items"]["data"][0]["quantity"] == 5


def test_a_failure_reported_after_the_success_changes_nothing(client, localstripe):
    _change, payment, events = paid_through_the_bank_only(localstripe)
    (succeeded,) = [
        e
        for e in events
        if e["type"] == "payment_intent.succeeded" and e["data"]["object"]["metadata"].get("seatmgr_payment")
    ]
    late_failure = event(
        "payment_intent.payment_failed",
        {
            **succeeded["data"]["object"],
            "status": "requires_payment_method",
            "last_payment_error": {"message": "Your card was declined."},
        },
    )

    deliver(client, succeeded)
    deliver(client, late_failure)

    payment.refresh_from_db()
    assert payment.status == "succeeded" and payment.failure_message == ""
    assert Subscription.objects.get().seats_version == 1


def test_a_renewal_invoice_paid_is_recorded_and_a_late_failure_does_not_undo_it(client):
    subscription = awaiting_payment().subscription
    Subscription.objects.filter(pk=subscription.pk).update(stripe_subscription_id="sub_renewing")
    invoice = {
        "id": "in_2",
        "object": "invoice",
        "number": "INV-0002",
        "currency": "eur",
        "amount_paid": 4500,
        "amount_due": 4500,
        "period_start": 1_800_000_000,
        "period_end": 1_802_592_000,
        "hosted_invoice_url": "https://invoice.stripe.com/i/in_2",
        # Newer API versions name the subscription here, not on the invoice.
        "parent": {"subscription_details": {"subscription": "sub_renewing"}},
    }

    deliver(client, event("invoice.paid", invoice))
    deliver(client, event("invoice.payment_failed", invoice))

    recorded = RenewalInvoice.objects.get()
    assert (recorded.status, recorded.amount, recorded.number) == ("paid", 4500, "INV-0002")
    assert recorded.organization_id == subscription.organization_id
    assert recorded.period_start.timestamp() == 1_800_000_000


def test_a_failed_renewal_makes_the_subscription_overdue_until_its_invoice_is_paid(client, mailoutbox):
    subscription = awaiting_payment().subscription
    Subscription.objects.filter(pk=subscription.pk).update(stripe_subscription_id="sub_overdue")
    invoice = {
        "id": "in_overdue",
        "object": "invoice",
        "number": "INV-0042",
        "currency": "eur",
        "amount_due": 4500,
        "amount_paid": 4500,
        "hosted_invoice_url": "https://invoice.stripe.com/i/in_overdue",
        "subscription": "sub_overdue",
    }
    mailoutbox.clear()

    deliver(client, event("invoice.payment_failed", invoice))
    deliver(client, event("invoice.payment_failed", invoice))  # Stripe's next attempt fails too

    subscription.refresh_from_db()
    assert subscription.status == "past_due"
    assert subscription.is_live  # licences keep working meanwhile
    (email,) = mailoutbox  # one email, not one per failed attempt
    assert email.to == [subscription.admin_email]
    assert email.subject == "Payment overdue: Opero Documents"
    assert "€45.00" in email.body and "INV-0042" in email.body
    assert "https://invoice.stripe.com/i/in_overdue" in email.body

    # Another invoice fails too: its own email. Paying the first leaves the second due.
    second = {**invoice, "id": "in_overdue_2", "number": "INV-0043"}
    deliver(client, event("invoice.payment_failed", second))
    deliver(client, event("invoice.paid", invoice))

    subscription.refresh_from_db()
    assert subscription.status == "past_due"
    assert [m.subject for m in mailoutbox] == ["Payment overdue: Opero Documents"] * 2
    assert "INV-0043" in mailoutbox[1].body

    deliver(client, event("invoice.voided", second))  # written off by the vendor

    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert dict(RenewalInvoice.objects.values_list("stripe_invoice_id", "status")) == {
        "in_overdue": "paid",
        "in_overdue_2": "void",
    }
    moves = AuditEvent.objects.filter(action__in=("subscription.past_due", "subscription.payment_recovered"))
    assert list(moves.order_by("id").values_list("action", flat=True)) == [
        "subscription.past_due",
        "subscription.payment_recovered",
    ]


def test_an_invoice_of_a_subscription_we_do_not_know_is_stored_and_ignored(client):
    deliver(client, event("invoice.paid", {"id": "in_3", "subscription": "sub_elsewhere"}))

    assert StripeEvent.objects.get().outcome == "ignored: not one of our subscriptions"
    assert not RenewalInvoice.objects.exists()


@pytest.mark.usefixtures("localstripe_webhooks")
def test_localstripe_delivers_the_success_to_the_live_server_which_applies_the_change(localstripe):
    from billing import services

    change = awaiting_payment()
    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, THREE_D_SECURE)
    )
    payment = Payment.objects.get()

    localstripe.authenticate(payment.stripe_payment_intent_id, outcome.client_secret)

    deadline = time.monotonic() + 15
    while Payment.objects.get().status != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.1)
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert Subscription.objects.get().quantity == 5
    # (Events of earlier tests still in flight may arrive too: localstripe sends each 1 s late.)
    received = StripeEvent.objects.get(
        type="payment_intent.succeeded", payload__data__object__id=payment.stripe_payment_intent_id
    )
    assert received.outcome == f"payment {payment.pk}: succeeded"


def test_a_failed_payment_intent_keeps_stripes_decline_code(client, localstripe):
    from billing import services

    change = awaiting_payment()
    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, THREE_D_SECURE)
    )
    payment = Payment.objects.get()
    assert outcome.status == "requires_action"
    intent = {
        **localstripe.get(f"/v1/payment_intents/{payment.stripe_payment_intent_id}"),
        "status": "requires_payment_method",
        "last_payment_error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "do_not_honor",
            "message": "Your card was declined.",
        },
    }

    deliver(client, event("payment_intent.payment_failed", intent))

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code, payment.decline_code) == (
        "failed",
        "card_declined",
        "do_not_honor",
    )


# --- Paid means the amount we asked for -------------------------------------------------------


def test_a_payment_intent_of_another_amount_is_refunded_not_paid(client, localstripe):
    from billing import services
    from tests.backoffice.factories import staff_factory

    change = awaiting_payment()
    manager = staff_factory("account_manager", email="am@vendor.example")
    change.subscription.organization.account_manager = manager
    change.subscription.organization.save(update_fields=["account_manager"])
    customer = give_card_on_file(localstripe, change.subscription)
    outcome = services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change, THREE_D_SECURE)
    )
    payment = Payment.objects.get()
    assert outcome.status == "requires_action"
    # A charge for this payment's attempt, of another amount (made in Stripe's dashboard,
    # say, or by a bug): not what the customer agreed to pay.
    card = stripe_gateway().customer_default_card(customer)
    other = localstripe.post(
        "/v1/payment_intents",
        {
            "amount": change.amount_due + 1000,
            "currency": "eur",
            "customer": customer,
            "payment_method": card.id,
            "confirm": True,
            "off_session": True,
            "metadata": {"seatmgr_payment": str(payment.pk), "attempt": "1"},
        },
    )
    assert other["status"] == "succeeded"
    mail.outbox.clear()

    response = deliver(client, event("payment_intent.succeeded", other))

    assert response.status_code == 200
    payment.refresh_from_db()
    change.refresh_from_db()
    assert (payment.status, payment.failure_code, payment.receipt_number) == (
        "failed",
        "amount_mismatch",
        None,
    )
    assert change.state == "awaiting_payment" and Subscription.objects.get().quantity == 3
    assert payment.failure_message == services.MISMATCH_MESSAGE
    refunded = localstripe.get(f"/v1/charges/{other['charges']['data'][0]['id']}")
    assert refunded["refunded"] and refunded["amount_refunded"] == change.amount_due + 1000
    assert {"payment.amount_mismatch", "payment.refused", "payment.duplicate_refunded"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )
    assert [m.subject for m in mail.outbox if m.to == ["am@vendor.example"]] == [
        f"Payment needs you: {change.subscription.organization.name}, seat change {change.number}"
    ]

    # The same news again (a redelivery under another event id) changes nothing more...
    deliver(client, event("payment_intent.succeeded", other))
    assert AuditEvent.objects.filter(action="payment.amount_mismatch").count() == 1

    # ...and the customer can still pay the right amount.
    assert services.payment_start_or_retry(
        seat_change=change, setup_intent=new_card(localstripe, change)
    ).succeeded
    payment.refresh_from_db()
    assert (payment.status, payment.amount) == ("succeeded", change.amount_due)


# --- Events of another API version ------------------------------------------------------------


def test_an_event_of_another_api_version_is_stored_and_held_until_a_person_releases_it(
    client, admin_client, localstripe, caplog
):
    _change, payment, events = paid_through_the_bank_only(localstripe)
    [succeeded] = [
        e
        for e in events
        if e["type"] == "payment_intent.succeeded"
        and e["data"]["object"]["id"] == payment.stripe_payment_intent_id
    ]
    older = {**succeeded, "api_version": "2020-08-27"}

    with caplog.at_level("WARNING", logger="billing.webhooks"):
        response = deliver(client, older)

    assert response.status_code == 200
    stored = StripeEvent.objects.get(stripe_id=succeeded["id"])
    assert (stored.api_version, stored.held_for_api_version, stored.processed_at) == (
        "2020-08-27",
        True,
        None,
    )
    assert stored.outcome == f"held: API version 2020-08-27, expected {STRIPE_API_VERSION}"
    assert Payment.objects.get().status == "requires_action"  # not acted on
    assert "2020-08-27" in caplog.text and succeeded["id"] in caplog.text
    webhooks.stripe_events_reprocess(now=timezone.now() + timedelta(hours=1))
    assert Payment.objects.get().status == "requires_action"  # nor by reconciliation

    changelist = admin_client.get("/admin/billing/stripeevent/?held_for_api_version__exact=1")
    assert succeeded["id"] in changelist.content.decode()

    admin_client.post(
        "/admin/billing/stripeevent/",
        {"action": "process_held_events", "_selected_action": [stored.pk]},
    )

    stored.refresh_from_db()
    assert not stored.held_for_api_version and stored.processed_at is not None
    assert Payment.objects.get().status == "succeeded"
    assert AuditEvent.objects.filter(action="billing.stripe_event_released").count() == 1
