"""A subscription cancelled at period end is not renewed by Stripe (localstripe)."""

import pytest

from audit.models import AuditEvent
from billing.services import stripe_subscription_stop_renewal
from subscriptions import services as subscription_services
from tests.billing.factories import give_card_on_file, stripe_subscription
from tests.factories import SubscriptionFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]


def test_cancelling_tells_stripe_to_end_the_subscription_at_its_period_end(localstripe):
    subscription = SubscriptionFactory(quantity=3)
    give_card_on_file(localstripe, subscription)
    stripe_id = stripe_subscription(localstripe, subscription)
    assert localstripe.get(f"/v1/subscriptions/{stripe_id}")["cancel_at_period_end"] is False

    subscription_services.subscription_cancel(subscription=subscription)

    assert localstripe.get(f"/v1/subscriptions/{stripe_id}")["cancel_at_period_end"] is True
    assert AuditEvent.objects.filter(action="subscription.stripe_renewal_stopped").count() == 1
    assert stripe_subscription_stop_renewal(subscription_id=subscription.pk) is True  # safe to repeat


def test_nothing_is_sent_for_a_subscription_that_is_not_cancelled_or_not_on_stripe(localstripe):
    on_stripe = SubscriptionFactory(quantity=3)
    give_card_on_file(localstripe, on_stripe)
    stripe_subscription(localstripe, on_stripe)
    invoiced_elsewhere = SubscriptionFactory(quantity=3, cancel_at_period_end=True)

    assert stripe_subscription_stop_renewal(subscription_id=on_stripe.pk) is False
    assert stripe_subscription_stop_renewal(subscription_id=invoiced_elsewhere.pk) is False


def test_keeping_the_subscription_tells_stripe_to_renew_it_again(localstripe, mailoutbox):
    subscription = SubscriptionFactory(quantity=3)
    give_card_on_file(localstripe, subscription)
    stripe_id = stripe_subscription(localstripe, subscription)
    subscription_services.subscription_cancel(subscription=subscription)
    assert localstripe.get(f"/v1/subscriptions/{stripe_id}")["cancel_at_period_end"] is True

    kept = subscription_services.subscription_keep(subscription=subscription, actor_label="admin")

    assert kept.cancel_at_period_end is False
    assert localstripe.get(f"/v1/subscriptions/{stripe_id}")["cancel_at_period_end"] is False
    assert AuditEvent.objects.filter(action="subscription.cancel_withdrawn").count() == 1
    assert AuditEvent.objects.filter(action="subscription.stripe_renewal_resumed").count() == 1
    kept_email = mailoutbox[-1]
    assert kept_email.to == [subscription.admin_email]
    assert "will renew on" in kept_email.subject
    assert "is no longer cancelled" in kept_email.body

    # Keeping twice changes nothing and sends nothing more.
    subscription_services.subscription_keep(subscription=subscription)
    assert AuditEvent.objects.filter(action="subscription.cancel_withdrawn").count() == 1
    assert len(mailoutbox) == 2

    # Cancelling again reaches Stripe again (a new request, not a replay of the first).
    subscription_services.subscription_cancel(subscription=subscription)
    assert localstripe.get(f"/v1/subscriptions/{stripe_id}")["cancel_at_period_end"] is True
