"""Stripe bills the renewals: activation creates the Stripe customer and subscription
(anchored to our period end, nothing billed for the current period), seats and prices
reach Stripe before the boundary, and `stripe_link_subscriptions` links the
subscriptions from before. Everything goes through the strict Stripe stand-in, and
the assertions read what it received (GET /_standin/requests)."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from audit.models import AuditEvent
from backoffice import services as backoffice_services
from billing import services
from billing.models import StripePrice, StripeProduct, StripeRenewalSetup
from subscriptions import links, periods, seat_changes
from subscriptions.models import Plan, Subscription
from tests.backoffice.factories import seat_change_signed, staff_factory
from tests.billing.stripe_renewals import linked, on_standin_fixture, sent, timestamp  # noqa: F401
from tests.factories import OrganizationFactory, PlanFactory, ProductFactory, SubscriptionFactory, UserFactory
from tests.stripe_standin.fixtures import stripe_standin, stripe_standin_server  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("on_standin", "celery_eager"),
]


def test_activating_a_new_account_creates_its_stripe_subscription_billed_from_the_period_end(on_standin):
    manager = staff_factory("manager")
    plan = PlanFactory(unit_amount=1500, currency="eur", interval=Plan.Interval.MONTH)
    today = timezone.now().date()

    _organization, subscription, _invitation = backoffice_services.account_create(
        actor=manager,
        name="Acme Field Services",
        billing_email="billing@acme.example",
        admin_name="Ada Admin",
        admin_email="ada@acme.example",
        plan=plan,
        seats=7,
        period_start=today,
        activate=True,
    )

    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert subscription.stripe_customer_id.startswith("cus_")
    assert subscription.stripe_subscription_id.startswith("sub_")
    assert StripeRenewalSetup.objects.get(subscription=subscription).completed_at is not None
    (customer,) = sent(on_standin, "POST", "/v1/customers")
    assert customer["params"]["email"] == "ada@acme.example"
    (product,) = sent(on_standin, "POST", "/v1/products")
    assert product["params"]["name"] == plan.product.name
    (price,) = sent(on_standin, "POST", "/v1/prices")
    assert price["params"] == {
        "product": StripeProduct.objects.get().stripe_product_id,
        "unit_amount": "1500",
        "currency": "eur",
        "recurring": {"interval": "month"},
        "metadata": {"seatmgr_plan": str(plan.pk), "code": plan.code},
    }
    (created,) = sent(on_standin, "POST", "/v1/subscriptions")
    params = created["params"]
    assert params["items"] == [{"price": StripePrice.objects.get().stripe_price_id, "quantity": "7"}]
    # The first full invoice is at our period end; the current period is not billed.
    assert params["billing_cycle_anchor"] == str(timestamp(subscription.current_period_end))
    assert params["proration_behavior"] == "none"
    assert params["metadata"]["seatmgr_subscription"] == str(subscription.pk)
    assert created["status"] == 200 and created["checked"]
    # Every write carries an idempotency key built from our ids.
    for write in (customer, product, price, created):
        assert write["idempotency_key"].startswith("seatmgr-")
    # No invoice was paid or charged for the current period.
    assert not sent(on_standin, "POST", "/v1/invoices/{id}/pay")
    assert not sent(on_standin, "POST", "/v1/payment_intents")
    stripe_side = on_standin.client().v1.subscriptions.retrieve(subscription.stripe_subscription_id).to_dict()
    item = stripe_side["items"]["data"][0]
    assert item["quantity"] == 7
    assert item["current_period_end"] == timestamp(subscription.current_period_end)
    assert AuditEvent.objects.filter(action="subscription.stripe_subscription_created").count() == 1


def test_activating_from_the_vendors_admin_creates_the_stripe_subscription(client, on_standin):
    vendor = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(vendor)
    subscription = SubscriptionFactory(status=Subscription.Status.PENDING, quantity=12)

    response = client.post(
        "/admin/subscriptions/subscription/",
        {"action": "activate_and_send_links", "_selected_action": [subscription.pk]},
    )

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == "active" and subscription.stripe_subscription_id.startswith("sub_")
    (created,) = sent(on_standin, "POST", "/v1/subscriptions")
    assert created["params"]["items"][0]["quantity"] == "12"
    assert created["params"]["billing_cycle_anchor"] == str(timestamp(subscription.current_period_end))


def test_activating_again_or_a_lost_answer_never_makes_a_second_stripe_subscription(on_standin):
    subscription = SubscriptionFactory(status=Subscription.Status.PENDING, quantity=4)
    links.subscription_activate(subscription=subscription)
    subscription.refresh_from_db()
    first = subscription.stripe_subscription_id

    # The id was lost on our side (as if the create's answer never came back): the
    # next run finds the Stripe subscription by our id in its metadata.
    Subscription.objects.filter(pk=subscription.pk).update(stripe_subscription_id="")
    result = services.stripe_subscription_set_up(subscription_id=subscription.pk)
    again = services.stripe_subscription_set_up(subscription_id=subscription.pk)

    assert (result.stripe_subscription_id, result.created) == (first, False)
    assert (again.stripe_subscription_id, again.created) == (first, False)
    assert Subscription.objects.get(pk=subscription.pk).stripe_subscription_id == first
    assert len(sent(on_standin, "POST", "/v1/subscriptions")) == 1
    assert len(sent(on_standin, "POST", "/v1/prices")) == 1


def test_stripe_unreachable_at_activation_is_set_up_later_by_reconciliation(on_standin):
    subscription = SubscriptionFactory(status=Subscription.Status.PENDING, quantity=2)
    # Every try of the client (its own 2 retries included) gets a 500.
    on_standin.fault("/v1/customers", status=500, times=3)

    links.subscription_activate(subscription=subscription)

    setup = StripeRenewalSetup.objects.get(subscription=subscription)
    assert setup.completed_at is None
    assert Subscription.objects.get(pk=subscription.pk).stripe_subscription_id == ""
    # Reconciliation queues what is still not done after a while.
    assert services.stripe_renewal_setups_retry(now=timezone.now()) == 0
    assert services.stripe_renewal_setups_retry(now=timezone.now() + timedelta(minutes=6)) == 1

    setup.refresh_from_db()
    assert setup.completed_at is not None
    assert Subscription.objects.get(pk=subscription.pk).stripe_subscription_id.startswith("sub_")
    assert len(sent(on_standin, "POST", "/v1/subscriptions")) == 1


def test_a_period_end_decrease_reaches_stripe_when_approved_before_the_boundary(on_standin):
    plan = PlanFactory(decrease_policy=Plan.DecreasePolicy.PERIOD_END)
    subscription = linked(SubscriptionFactory(plan=plan, quantity=5))
    change = seat_change_signed(subscription, 3)
    on_standin.reset()

    backoffice_services.seat_change_approve(seat_change=change, actor=staff_factory("manager"))

    change.refresh_from_db()
    subscription.refresh_from_db()
    assert change.state == "scheduled"
    assert subscription.quantity == 5  # the licences work until the period end here
    assert timezone.now() < subscription.current_period_end
    (update,) = sent(on_standin, "POST", "/v1/subscriptions/{id}")
    assert update["params"]["items"][0]["quantity"] == "3"
    assert update["params"]["proration_behavior"] == "none"  # no money moves on a decrease
    assert update["status"] == 200
    stripe = on_standin.client().v1.subscriptions
    assert stripe.retrieve(subscription.stripe_subscription_id).to_dict()["items"]["data"][0]["quantity"] == 3

    # At the boundary the decrease applies here; Stripe has had it since the approval.
    applied = seat_changes.seat_changes_apply_scheduled(
        licences_kept=lambda seat_change: 0, now=subscription.current_period_end
    )
    assert applied.applied == [change.pk]
    assert Subscription.objects.get(pk=subscription.pk).quantity == 3
    assert len(sent(on_standin, "POST", "/v1/subscriptions/{id}")) == 1


def test_a_withdrawn_period_end_decrease_puts_the_seats_back_in_stripe(on_standin):
    plan = PlanFactory(decrease_policy=Plan.DecreasePolicy.PERIOD_END)
    subscription = linked(SubscriptionFactory(plan=plan, quantity=5))
    change = seat_change_signed(subscription, 3)
    backoffice_services.seat_change_approve(seat_change=change, actor=staff_factory("manager"))

    seat_changes.seat_change_cancel(seat_change=change, actor_label="the admin")

    updates = sent(on_standin, "POST", "/v1/subscriptions/{id}")
    assert [u["params"]["items"][0]["quantity"] for u in updates] == ["3", "5"]
    assert len({u["idempotency_key"] for u in updates}) == 2
    stripe = on_standin.client().v1.subscriptions
    assert stripe.retrieve(subscription.stripe_subscription_id).to_dict()["items"]["data"][0]["quantity"] == 5


def test_a_paid_increase_sets_the_renewal_quantity_without_proration(on_standin):
    from tests.factories import paid_seat_change

    subscription = linked(SubscriptionFactory(quantity=2))
    on_standin.reset()

    paid_seat_change(subscription, 6)

    (update,) = sent(on_standin, "POST", "/v1/subscriptions/{id}")
    assert update["params"]["items"][0]["quantity"] == "6"
    assert update["params"]["proration_behavior"] == "none"  # we charged the proration


def test_a_new_plan_price_is_a_new_stripe_price_and_the_next_renewal_bills_it(on_standin):
    plan = PlanFactory(unit_amount=1500)
    subscription = linked(SubscriptionFactory(plan=plan, quantity=4))
    old_price = StripePrice.objects.get(plan=plan)
    on_standin.reset()

    plan.unit_amount = 1800
    plan.save()  # the vendor's admin changes the price

    new_price = StripePrice.objects.get(plan=plan, active=True)
    assert new_price.pk != old_price.pk and new_price.unit_amount == 1800
    assert not StripePrice.objects.get(pk=old_price.pk).active
    (created,) = sent(on_standin, "POST", "/v1/prices")
    assert created["params"]["unit_amount"] == "1800"
    (archived,) = sent(on_standin, "POST", f"/v1/prices/{old_price.stripe_price_id}")
    assert archived["params"] == {"active": "false"}
    (moved,) = sent(on_standin, "POST", f"/v1/subscriptions/{subscription.stripe_subscription_id}")
    assert moved["params"]["items"][0]["price"] == new_price.stripe_price_id
    assert moved["params"]["items"][0]["quantity"] == "4"
    assert moved["params"]["proration_behavior"] == "none"
    subscription.refresh_from_db()
    assert subscription.next_renewal_amount == 1800 * 4


def test_a_renamed_product_is_renamed_in_stripe(on_standin):
    product = ProductFactory(code="signature", name="Signature")
    linked(SubscriptionFactory(plan=PlanFactory(product=product)))

    product.name = "Signature Pro"
    product.save()

    (renamed,) = sent(on_standin, "POST", f"/v1/products/{StripeProduct.objects.get().stripe_product_id}")
    assert renamed["params"] == {"name": "Signature Pro"}


def test_link_subscriptions_dry_run_changes_nothing_then_links_once(on_standin):
    unlinked = SubscriptionFactory(quantity=3)
    by_hand = linked(SubscriptionFactory(quantity=8))
    # Linked by hand long ago, and its seats went out of step since.
    Subscription.objects.filter(pk=by_hand.pk).update(quantity=9)
    ended = SubscriptionFactory(status=Subscription.Status.CANCELLED)
    on_standin.reset()

    out = StringIO()
    call_command("stripe_link_subscriptions", "--dry-run", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{unlinked.pk} {unlinked}: would create: 3 seats for a new customer")
    assert lines[1] == f"{by_hand.pk} {by_hand}: would update: seats 8 → 9"
    assert not any(line.startswith(f"{ended.pk} ") for line in lines)
    assert out.getvalue().strip().endswith("Dry run: 1 would create, 1 would update")
    assert [r for r in on_standin.requests() if r["method"] != "GET"] == []
    assert Subscription.objects.get(pk=unlinked.pk).stripe_subscription_id == ""

    call_command("stripe_link_subscriptions", stdout=StringIO())
    again = StringIO()
    call_command("stripe_link_subscriptions", stdout=again)

    unlinked.refresh_from_db()
    assert unlinked.stripe_subscription_id.startswith("sub_")
    assert again.getvalue().strip().endswith("2 in step")
    assert len(sent(on_standin, "POST", "/v1/subscriptions")) == 1
    stripe = on_standin.client().v1.subscriptions
    assert stripe.retrieve(by_hand.stripe_subscription_id).to_dict()["items"]["data"][0]["quantity"] == 9


def test_a_subscription_whose_period_has_ended_is_set_up_after_it_rolls(on_standin):
    now = timezone.now()
    subscription = SubscriptionFactory(
        status=Subscription.Status.PENDING,
        current_period_start=now - timedelta(days=30),
        current_period_end=now - timedelta(minutes=1),
    )

    links.subscription_activate(subscription=subscription)

    # Stripe's anchor must be in the future: nothing is sent for a period that is over.
    assert not sent(on_standin, "POST", "/v1/subscriptions")
    setup = StripeRenewalSetup.objects.get(subscription=subscription)
    assert setup.completed_at is None and "rolled" in setup.last_error

    periods.subscription_periods_roll()
    assert services.stripe_renewal_setups_retry(now=timezone.now() + timedelta(minutes=6)) == 1

    subscription.refresh_from_db()
    (created,) = sent(on_standin, "POST", "/v1/subscriptions")
    assert created["params"]["billing_cycle_anchor"] == str(timestamp(subscription.current_period_end))
    assert subscription.current_period_end > now + timedelta(days=27)


def test_setups_of_one_subscription_at_the_same_time_make_one_stripe_subscription(on_standin):
    subscription = SubscriptionFactory(quantity=5)
    StripeRenewalSetup.objects.create(subscription=subscription)  # as activation writes it
    start = threading.Barrier(5)
    results, errors = [], []

    def set_up():
        try:
            start.wait()
            results.append(services.stripe_subscription_set_up(subscription_id=subscription.pk))
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=set_up) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len({result.stripe_subscription_id for result in results}) == 1
    assert sorted(result.created for result in results) == [False] * 4 + [True]
    assert len(sent(on_standin, "POST", "/v1/subscriptions")) == 1
    assert len(sent(on_standin, "POST", "/v1/customers")) == 1


def test_a_setup_stripe_refuses_is_recorded_and_the_account_manager_told_once(on_standin, mailoutbox):
    manager = staff_factory("account_manager", email="am@vendor.example")
    subscription = SubscriptionFactory(
        status=Subscription.Status.PENDING, organization=OrganizationFactory(account_manager=manager)
    )
    # Stripe refuses our request (as for a revoked key or a restricted account).
    on_standin.fault("/v1/customers", status=400, times=2)

    links.subscription_activate(subscription=subscription)

    (told,) = [email for email in mailoutbox if email.to == ["am@vendor.example"]]
    assert told.subject.startswith("Renewals not set up in Stripe:")
    assert "Reason: Stripe refused:" in told.body and "stripe_link_subscriptions" in told.body
    mailoutbox.clear()
    services.stripe_renewal_setups_retry(now=timezone.now() + timedelta(minutes=6))

    setup = StripeRenewalSetup.objects.get(subscription=subscription)
    assert setup.completed_at is None and setup.attempts == 2
    assert setup.last_error.startswith("Stripe refused:")
    assert Subscription.objects.get(pk=subscription.pk).stripe_subscription_id == ""
    assert mailoutbox == []  # told at the first refusal, not again for the same one

    services.stripe_renewal_setups_retry(now=timezone.now() + timedelta(minutes=6))
    assert Subscription.objects.get(pk=subscription.pk).stripe_subscription_id.startswith("sub_")
