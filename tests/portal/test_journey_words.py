"""What the emails and pages say next, in words: a pay link in the signed copy, a receipt
that says where the change stands, a subscription that can no longer be kept."""

import pytest
from django.core import mail

from billing.models import Payment
from subscriptions import services as subscription_services
from subscriptions.errors import Conflict
from subscriptions.models import SeatChange, Subscription
from tests.billing.factories import give_card_on_file
from tests.portal.test_payment_pages import sign_increase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("use_localstripe")]


def test_the_signed_copy_links_each_recipient_to_the_payment_page_when_payment_is_due(client, activated):
    change = sign_increase(client, activated)

    (signed,) = [m for m in mail.outbox if m.subject.startswith("Signed:")]
    assert "Nothing has been charged yet." in signed.body
    link = signed.body.split("Pay here (a link of your own, no sign-in needed):\n", 1)[1].splitlines()[0]
    client.logout()
    page = client.get(link.split("testserver", 1)[1], follow=True).content.decode()
    assert f"Pay for seat change {change.number}" in page


def test_the_signed_copy_says_the_card_is_being_charged_as_agreed_and_has_no_pay_link(
    client, activated, localstripe, celery_eager
):
    give_card_on_file(localstripe, activated.subscription)
    sign_increase(client, activated)

    (signed,) = [m for m in mail.outbox if m.subject.startswith("Signed:")]
    assert "is being charged to Visa •••• 4242 now" in signed.body
    assert "Pay here" not in signed.body


def test_the_receipt_never_promises_a_live_email_that_was_already_sent(
    client, activated, localstripe, celery_eager
):
    give_card_on_file(localstripe, activated.subscription)
    change = sign_increase(client, activated)

    assert Payment.objects.get().status == "succeeded"
    subjects = [m.subject for m in mail.outbox]
    receipt = next(m for m in mail.outbox if m.subject.startswith("Receipt"))
    # The built-in org takes the count at once: "live" is emailed before the receipt.
    assert subjects.index("Your new seat count is live") < subjects.index(receipt.subject)
    assert "is live in your org: it now has 5 users." in receipt.body
    assert "we'll email you" not in receipt.body
    assert "users: 3 → 5 users" in receipt.body.lower()
    change.refresh_from_db()
    assert change.state in (SeatChange.State.APPLYING, SeatChange.State.APPLIED)


def test_a_subscription_that_has_ended_can_no_longer_be_kept(activated):
    Subscription.objects.filter(pk=activated.subscription.pk).update(
        status=Subscription.Status.CANCELLED, cancel_at_period_end=True
    )

    with pytest.raises(Conflict, match="can no longer be kept"):
        subscription_services.subscription_keep(subscription=activated.subscription)
