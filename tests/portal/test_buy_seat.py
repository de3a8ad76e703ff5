"""Adding a user when no licence is left: the offer to buy the seat, the user waiting
for the licence, the licence given once when the change is applied, and dropped (the
admin told) when the change is cancelled or expires. Also through the API (202)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from licensing.models import LicenceAssignment, LicenceNotice, OrgUser, PendingLicence
from licensing.services import pending_licences_give
from portal import services
from subscriptions import seat_changes
from subscriptions.models import SeatChange
from tests.backoffice.factories import payment_factory
from tests.factories import LicenceAssignmentFactory, MembershipFactory, OrgUserFactory, SubscriptionFactory
from tests.licensing.test_api import api_key_for, key_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def full(client, settings):
    """A signed-in admin whose Documents subscription has 2 seats, both in use."""
    settings.SITE_URL = "http://testserver"
    membership = MembershipFactory()
    subscription = SubscriptionFactory(organization=membership.organization, quantity=2)
    LicenceAssignmentFactory.create_batch(2, subscription=subscription)
    client.force_login(membership.user)
    client.admin = membership.user
    client.subscription = subscription
    return client


def add(client, status="active", **extra):
    return client.post(
        "/licences/users/add/",
        {
            "name": "Nia New",
            "email": "nia@customer.example",
            "status": status,
            "subscriptions": [client.subscription.pk],
            **extra,
        },
    )


def buy_seat_url(subscription):
    return f"/subscriptions/{subscription.pk}/buy-seat/"


def sign_and_pay(seat_change):
    with transaction.atomic():
        seat_changes.seat_change_mark_signed(
            seat_change=seat_change, signer_name="Ada", signer_email="ada@example.com"
        )
    return seat_changes.seat_change_apply(seat_change=seat_change, via="payment")


def test_adding_an_active_user_without_a_licence_left_offers_to_buy_the_seat(full):
    response = add(full)

    assert response.status_code == 302
    assert response["Location"] == buy_seat_url(full.subscription)
    assert not OrgUser.objects.filter(email="nia@customer.example").exists()
    page = full.get(response["Location"]).content.decode()
    assert "No licences available" in page
    assert "Add the user and increase my licences by 1" in page
    assert 'data-testid="amount-due">€' in page  # the prorated amount due now
    assert "€45.00" in page  # renewal: 3 seats at 15.00


@pytest.mark.parametrize("status", ["room", "inactive", "queue"])
def test_users_who_hold_no_licence_never_trigger_the_offer(full, status):
    response = add(full, status=status)

    assert "buy-seat" not in response.get("Location", "")
    assert full.session.get("buy_seat") is None
    assert not SeatChange.objects.exists()


def test_confirming_saves_the_user_waiting_and_goes_to_the_seat_change(full):
    add(full)
    refused = full.post(buy_seat_url(full.subscription), {})
    assert refused.status_code == 400 and "Accept the terms" in refused.content.decode()

    response = full.post(buy_seat_url(full.subscription), {"accept_terms": "yes"})

    change = SeatChange.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/subscriptions/{full.subscription.pk}/changes/{change.number}/"
    assert (change.old_quantity, change.new_quantity, change.state) == (2, 3, "draft")
    assert change.requested_by == full.admin
    nia = OrgUser.objects.get(email="nia@customer.example")
    assert not nia.licences.exists()
    assert PendingLicence.objects.get().org_user == nia
    manage = full.get("/licences/").content.decode()
    assert "Waiting for licence" in manage and change.number in manage


def test_assigning_without_a_licence_left_offers_to_buy_it_for_that_user(full):
    user = OrgUserFactory(organization=full.subscription.organization, name="Cal Candidate")
    response = full.post(f"/licences/users/{user.pk}/licences/{full.subscription.pk}/assign/", follow=True)
    page = response.content.decode()
    assert "No Documents licence is available" in page
    assert f'<a href="{buy_seat_url(full.subscription)}">Give {user.name} the licence' in page
    assert user.name in full.get(buy_seat_url(full.subscription)).content.decode()

    full.post(buy_seat_url(full.subscription), {"accept_terms": "yes"})

    assert PendingLicence.objects.get().org_user == user


def test_an_open_change_is_named_with_a_link_and_nothing_is_added(full):
    services.seat_change_start(subscription=full.subscription, raw_new_total=5, requested_by=full.admin)
    open_change = SeatChange.objects.get()
    add(full)

    page = full.get(buy_seat_url(full.subscription)).content.decode()
    assert "already in progress" in page and open_change.number in page
    response = full.post(buy_seat_url(full.subscription), {"accept_terms": "yes"})
    assert open_change.number in response["Location"]
    assert not OrgUser.objects.filter(email="nia@customer.example").exists()


def test_the_open_change_can_be_replaced_by_the_bought_seat_after_a_confirmation(full):
    open_change = services.seat_change_start(
        subscription=full.subscription, raw_new_total=5, requested_by=full.admin
    )
    add(full)

    offer = full.get(buy_seat_url(full.subscription)).content.decode()
    assert f"{open_change.number}</strong>, 2 → 5 users (waiting for signature)" in offer
    replace_url = f"{buy_seat_url(full.subscription)}?replace=1"
    assert f'href="{replace_url}">Replace the open change</a>' in offer
    assert 'name="accept_terms"' not in offer  # nothing to confirm before choosing
    confirm = full.get(replace_url).content.decode()
    assert f"You are replacing seat change <strong>{open_change.number}</strong>" in confirm
    assert f'name="replace_open" value="{open_change.number}"' in confirm
    assert f"Replace {open_change.number}: Add the user and increase my licences by 1" in confirm

    response = full.post(
        buy_seat_url(full.subscription), {"accept_terms": "yes", "replace_open": open_change.number}
    )

    open_change.refresh_from_db()
    assert open_change.state == "cancelled"
    bought = SeatChange.objects.get(state="draft")
    assert response["Location"] == f"/subscriptions/{full.subscription.pk}/changes/{bought.number}/"
    assert (bought.old_quantity, bought.new_quantity) == (2, 3)
    assert PendingLicence.objects.get(seat_change=bought).org_user.email == "nia@customer.example"


def test_a_change_being_paid_is_not_offered_for_replacement_nor_replaced(full):
    open_change = services.seat_change_start(
        subscription=full.subscription, raw_new_total=5, requested_by=full.admin
    )
    payment_factory(open_change, status="pending", receipt_number=None)
    add(full)

    for page in (buy_seat_url(full.subscription), f"{buy_seat_url(full.subscription)}?replace=1"):
        body = full.get(page).content.decode()
        assert f"Seat change {open_change.number} is being paid: wait for the payment to finish" in body
        assert "Replace the open change" not in body and 'name="accept_terms"' not in body
    refused = full.post(
        buy_seat_url(full.subscription), {"accept_terms": "yes", "replace_open": open_change.number}
    )

    assert refused.status_code == 400
    assert "is being paid" in refused.content.decode()
    open_change.refresh_from_db()
    assert open_change.state == "draft" and SeatChange.objects.count() == 1
    assert not OrgUser.objects.filter(email="nia@customer.example").exists()


def test_the_offer_page_without_an_offer_goes_back(full):
    response = full.get(buy_seat_url(full.subscription))
    assert response["Location"] == "/licences/"


def waiting_user(full):
    add(full)
    full.post(buy_seat_url(full.subscription), {"accept_terms": "yes"})
    return OrgUser.objects.get(email="nia@customer.example"), SeatChange.objects.get()


def test_the_waiting_user_gets_the_licence_once_even_if_apply_runs_twice(full):
    nia, change = waiting_user(full)

    sign_and_pay(change)
    seat_changes.seat_change_apply(seat_change=change, via="payment")
    with transaction.atomic():
        assert pending_licences_give(seat_change=change) == 0  # the receiver itself is idempotent

    assert LicenceAssignment.objects.filter(org_user=nia, subscription=full.subscription).count() == 1
    assert not PendingLicence.objects.exists()
    full.subscription.refresh_from_db()
    assert full.subscription.quantity == 3
    assert LicenceAssignment.objects.filter(subscription=full.subscription).count() == 3


def test_a_user_made_inactive_meanwhile_gets_nothing(full):
    nia, change = waiting_user(full)
    full.post(f"/licences/users/{nia.pk}/status/", {"status": "inactive"})
    assert not PendingLicence.objects.exists()

    sign_and_pay(change)

    assert not nia.licences.exists()


def test_a_cancelled_change_leaves_them_unlicensed_and_the_admin_is_told(
    full, django_capture_on_commit_callbacks
):
    nia, change = waiting_user(full)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        full.post(f"/subscriptions/{full.subscription.pk}/changes/{change.number}/withdraw/")

    change.refresh_from_db()
    assert change.state == "cancelled"
    assert not PendingLicence.objects.exists() and not nia.licences.exists()
    told = [m for m in mail.outbox if "No " in m.subject and change.number in m.subject]
    assert told and full.subscription.admin_email in told[0].to
    assert "Nia New" in told[0].body
    manage = full.get("/licences/").content.decode()
    assert "did not get a Documents licence" in manage
    assert "did not get" not in full.get("/licences/").content.decode()  # shown once
    assert LicenceNotice.objects.get().seen_at is not None


def test_an_expired_change_leaves_them_unlicensed_and_the_admin_is_told(
    full, django_capture_on_commit_callbacks
):
    nia, change = waiting_user(full)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert seat_changes.seat_changes_expire(now=timezone.now() + timedelta(days=30)) == 1

    change.refresh_from_db()
    assert change.state == "expired"
    assert not PendingLicence.objects.exists() and not nia.licences.exists()
    assert any(change.number in m.subject and "expired" in m.subject for m in mail.outbox)
    assert "did not get a Documents licence" in full.get("/licences/").content.decode()


# --- API -------------------------------------------------------------------------------


def test_the_api_answers_202_with_the_seat_change_and_a_signing_link(full, settings):
    settings.SITE_URL = "https://seats.example"
    api = key_client(api_key_for(full.subscription.organization))
    body = {"name": "Nia New", "email": "nia@customer.example", "products": ["documents"]}

    refused = api.post("/api/v1/users/", body, content_type="application/json")
    assert refused.status_code == 409 and refused.json()["code"] == "no_licence_available"

    response = api.post(
        "/api/v1/users/", {**body, "buy_seat_if_needed": True}, content_type="application/json"
    )

    assert response.status_code == 202, response.content
    data = response.json()
    change = SeatChange.objects.get()
    assert data["user"]["email"] == "nia@customer.example" and data["user"]["licences"] == []
    assert data["seat_change"] == {
        "number": change.number,
        "state": "draft",
        "amount_due": change.amount_due,
        "currency": "eur",
        # The renewal the change leads to, as its pages and agreement say.
        "renewal_amount": change.renewal_amount,
        "renews_on": change.period_end.isoformat().replace("+00:00", "Z"),
        "ends_on": None,
    }
    assert data["sign_url"].startswith("https://seats.example/l/")
    assert change.requested_via == "api"
    assert PendingLicence.objects.get().org_user.email == "nia@customer.example"
    signing = full.get(data["sign_url"].removeprefix("https://seats.example"))
    assert signing.status_code == 303 and signing["Location"].endswith(f"/changes/{change.number}/")


def test_the_api_never_buys_a_seat_for_a_status_without_licence(full):
    api = key_client(api_key_for(full.subscription.organization))
    response = api.post(
        "/api/v1/users/",
        {"name": "Room 1", "email": "room@customer.example", "status": "room", "buy_seat_if_needed": True},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert not SeatChange.objects.exists()
