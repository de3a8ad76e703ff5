from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import RenewalInvoice
from licensing.models import LicenceAssignment, OrgUser
from subscriptions import seat_changes
from subscriptions.models import Membership, Subscription
from tests.backoffice.factories import seat_change_signed
from tests.factories import (
    LicenceAssignmentFactory,
    MembershipFactory,
    OrgUserFactory,
    PlanFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    membership = MembershipFactory()
    client.force_login(membership.user)
    client.organization = membership.organization
    return client


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/dashboard/")


def test_my_subscriptions_labels_each_count_by_what_it_counts(admin_client):
    subscription = SubscriptionFactory(organization=admin_client.organization, quantity=5)
    LicenceAssignmentFactory(subscription=subscription)
    LicenceAssignmentFactory(subscription=subscription, org_user__status=OrgUser.Status.LOCKED)
    # Active and Locked people without the licence are shown as such; others need none.
    OrgUserFactory(organization=admin_client.organization, status=OrgUser.Status.ACTIVE)
    OrgUserFactory(organization=admin_client.organization, status=OrgUser.Status.LOCKED)
    OrgUserFactory(organization=admin_client.organization, status=OrgUser.Status.INACTIVE)
    OrgUserFactory(status=OrgUser.Status.ACTIVE)  # another organization's

    page = admin_client.get("/dashboard/").content.decode()

    assert 'Users with a Documents licence</dt><dd data-testid="active">2<' in page
    assert 'Documents licences paid for</dt><dd data-testid="maximum">5<' in page
    assert 'Licences available</dt><dd data-testid="available">3<' in page
    assert 'Active or Locked users without a Documents licence</dt><dd data-testid="unlicensed">2<' in page
    assert "Number of active users" not in page
    assert f'href="/subscriptions/{subscription.pk}/"' in page


def test_an_overdue_subscription_says_what_to_pay_and_where(admin_client):
    subscription = SubscriptionFactory(organization=admin_client.organization, status="past_due")
    RenewalInvoice.objects.create(
        organization=subscription.organization,
        subscription=subscription,
        stripe_invoice_id="in_late",
        number="INV-0099",
        status=RenewalInvoice.Status.PAYMENT_FAILED,
        amount=4500,
        currency="eur",
        hosted_invoice_url="https://invoice.stripe.com/i/in_late",
    )

    page = admin_client.get("/dashboard/").content.decode()

    assert "Payment overdue: €45.00, invoice INV-0099." in page
    assert '<a href="https://invoice.stripe.com/i/in_late" rel="noopener">Pay the invoice</a>' in page
    detail = admin_client.get(f"/subscriptions/{subscription.pk}/").content.decode()
    assert "Payment overdue: €45.00, invoice INV-0099." in detail
    Subscription.objects.filter(pk=subscription.pk).update(status="active")
    assert "Payment overdue:" not in admin_client.get("/dashboard/").content.decode()


def test_assigning_the_last_licence_then_one_more_shows_the_refusal_and_changes_nothing(
    admin_client,
):
    subscription = SubscriptionFactory(organization=admin_client.organization, quantity=1)
    first, second = OrgUserFactory.create_batch(2, organization=admin_client.organization)

    response = admin_client.post(
        f"/licences/users/{first.pk}/licences/{subscription.pk}/assign/", follow=True
    )
    assert f"{first.name} now has a Documents licence." in response.content.decode()

    response = admin_client.post(
        f"/licences/users/{second.pk}/licences/{subscription.pk}/assign/", follow=True
    )
    page = response.content.decode()
    assert "No Documents licence is available: the only one is in use." in page
    assert f'<a href="/subscriptions/{subscription.pk}/change/?new_total=2">Increase your seats</a>' in page
    assert list(LicenceAssignment.objects.values_list("org_user_id", flat=True)) == [first.pk]


def test_adding_a_user_with_a_bad_email_keeps_what_was_typed_and_adds_nobody(admin_client):
    response = admin_client.post(
        "/licences/users/add/", {"name": "Zed <script>", "email": "zed@", "status": "active"}
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "“zed@” is not a valid email address." in page
    assert 'value="Zed &lt;script&gt;"' in page
    assert not OrgUser.objects.exists()


def test_making_a_user_inactive_frees_their_licence(admin_client):
    subscription = SubscriptionFactory(organization=admin_client.organization, quantity=1)
    assignment = LicenceAssignmentFactory(subscription=subscription)

    response = admin_client.post(
        f"/licences/users/{assignment.org_user.pk}/status/", {"status": "inactive"}, follow=True
    )

    assert "is now Inactive. Their licences are now free." in response.content.decode()
    assert not LicenceAssignment.objects.exists()


def test_members_who_are_not_admins_can_look_but_not_change(client):
    membership = MembershipFactory(role=Membership.Role.MEMBER)
    org_user = OrgUserFactory(organization=membership.organization)
    client.force_login(membership.user)

    assert client.get("/licences/").status_code == 200
    assert client.post(f"/licences/users/{org_user.pk}/delete/").status_code == 403
    assert OrgUser.objects.filter(pk=org_user.pk).exists()


def test_a_signed_in_person_without_an_organization_is_refused(client):
    client.force_login(UserFactory())
    assert client.get("/dashboard/").status_code == 403


def test_forms_without_a_csrf_token_are_refused():
    membership = MembershipFactory()
    org_user = OrgUserFactory(organization=membership.organization)
    client = Client(enforce_csrf_checks=True)
    client.force_login(membership.user)

    assert client.post(f"/licences/users/{org_user.pk}/delete/").status_code == 403
    assert OrgUser.objects.filter(pk=org_user.pk).exists()


def test_an_api_key_is_shown_once_and_only_its_hash_is_stored(admin_client):
    response = admin_client.post("/subscriptions/api-keys/", {"name": "Salesforce prod"})
    page = response.content.decode()
    key = admin_client.organization.api_keys.get()
    raw = page.split('id="new-key" type="text" readonly value="')[1].split('"')[0]

    assert raw.startswith("sm_") and len(raw) > 40
    assert raw not in key.key_hash
    assert raw not in admin_client.get("/subscriptions/api-keys/").content.decode()


def test_the_dashboard_follows_a_new_count_from_sending_to_live(admin_client):
    from licensing import delivery
    from subscriptions.models import SeatSync
    from tests.factories import paid_seat_change

    subscription = SubscriptionFactory(organization=admin_client.organization, quantity=3)
    paid_seat_change(subscription, 5)

    assert "Sending to your org…" in admin_client.get("/dashboard/").content.decode()
    (state,) = admin_client.get("/licences/push-status/").json()["subscriptions"]
    assert (state["state"], state["maximum"]) == ("sending", 5)

    delivery.seat_sync_deliver(seat_sync_id=SeatSync.objects.get().pk)

    assert "5 seats live in your org" in admin_client.get("/dashboard/").content.decode()
    (state,) = admin_client.get("/licences/push-status/").json()["subscriptions"]
    assert state["state"] == "live"


def test_a_retrying_push_says_why_and_when_it_tries_again(admin_client):
    from licensing import selectors
    from subscriptions.models import SeatSync
    from tests.factories import paid_seat_change

    subscription = SubscriptionFactory(organization=admin_client.organization, quantity=3)
    paid_seat_change(subscription, 5)
    now = timezone.now()
    SeatSync.objects.update(
        attempts=2, last_error="Your org answered HTTP 503.", next_attempt_at=now + timedelta(seconds=8)
    )

    status = selectors.push_status(subscription=subscription, now=now)

    assert status.state == "retrying"
    assert status.message == "Retrying: Your org answered HTTP 503. Next attempt in 8 s."


def test_manage_licences_pages_long_user_lists_and_finds_people(admin_client):
    from licensing.models import OrgUser as Model

    Model.objects.bulk_create(
        Model(organization=admin_client.organization, name=f"User {n:03d}", email=f"u{n:03d}@example.com")
        for n in range(230)
    )

    first = admin_client.get("/licences/").content.decode()
    last = admin_client.get("/licences/?page=3").content.decode()
    found = admin_client.get("/licences/?q=u117@").content.decode()

    assert "Page 1 of 3 (230 users)" in first and "User 000" in first and "User 100" not in first
    assert "User 229" in last
    assert "User 117" in found and "User 118" not in found


def test_while_a_decrease_is_scheduled_the_pages_count_only_the_licences_it_leaves(admin_client):
    plan = PlanFactory(code="documents-yearly", interval="year", decrease_policy="period_end")
    subscription = SubscriptionFactory(organization=admin_client.organization, plan=plan, quantity=5)
    LicenceAssignmentFactory.create_batch(2, subscription=subscription)
    decrease = seat_change_signed(subscription, 3)
    seat_changes.seat_change_approve(seat_change=decrease, actor=None, licences_kept=lambda change: 2)
    end = subscription.current_period_end

    dashboard = admin_client.get("/dashboard/").content.decode()
    detail = admin_client.get(f"/subscriptions/{subscription.pk}/").content.decode()

    assert f'data-testid="scheduled-maximum">(3 from {end.day} {end:%B %Y})' in dashboard
    assert 'Licences available</dt><dd data-testid="available">1<' in dashboard
    assert 'Licences available</dt><dd data-testid="available">1<' in detail
    assert f'data-testid="scheduled-maximum">(3 from {end.day} {end:%B %Y})' in detail


# --- Making a user Active or Locked asks which licences they get -------------------------


def test_making_an_inactive_user_active_asks_which_licences_with_those_held_before_ticked(admin_client):
    organization = admin_client.organization
    documents = SubscriptionFactory(organization=organization, quantity=3)
    signature = SubscriptionFactory(
        organization=organization, plan=PlanFactory(product__code="signature", product__name="Signature")
    )
    cal = OrgUserFactory(organization=organization, name="Cal", status=OrgUser.Status.INACTIVE)
    cal.licences_held_before = [signature.pk]
    cal.save()

    response = admin_client.post(f"/licences/users/{cal.pk}/status/", {"status": "active"})

    assert response.status_code == 302
    assert response["Location"] == f"/licences/users/{cal.pk}/activate/?status=active"
    cal.refresh_from_db()
    assert cal.status == OrgUser.Status.INACTIVE  # nothing changes before the choice
    page = admin_client.get(response["Location"]).content.decode()
    assert "Make Cal Active" in page
    assert f'value="{signature.pk}" checked> Signature' in page and "held before" in page
    assert f'value="{documents.pk}"> Documents (3 available)' in page

    response = admin_client.post(
        f"/licences/users/{cal.pk}/status/",
        {"status": "active", "licences_chosen": "yes", "subscriptions": [signature.pk, documents.pk]},
        follow=True,
    )

    assert "Cal is now Active with Documents and Signature licences" in response.content.decode()
    assert set(LicenceAssignment.objects.filter(org_user=cal).values_list("subscription", flat=True)) == {
        documents.pk,
        signature.pk,
    }


def test_making_a_user_active_without_a_licence_left_offers_to_activate_and_increase_by_one(admin_client):
    organization = admin_client.organization
    documents = SubscriptionFactory(organization=organization, quantity=1)
    LicenceAssignmentFactory(subscription=documents)
    cal = OrgUserFactory(organization=organization, name="Cal", status=OrgUser.Status.INACTIVE)

    page = admin_client.get(f"/licences/users/{cal.pk}/activate/?status=locked").content.decode()
    assert f'value="{documents.pk}" checked> Documents (none available: saving offers to increase' in page

    response = admin_client.post(
        f"/licences/users/{cal.pk}/status/",
        {"status": "locked", "licences_chosen": "yes", "subscriptions": [documents.pk]},
    )

    assert response["Location"] == f"/subscriptions/{documents.pk}/buy-seat/"
    cal.refresh_from_db()
    assert cal.status == OrgUser.Status.INACTIVE
    offer = admin_client.get(response["Location"]).content.decode()
    assert "Make Cal Locked and increase my licences by 1" in offer

    response = admin_client.post(response["Location"], {"accept_terms": "yes"})

    change = documents.seat_changes.get()
    assert response["Location"] == f"/subscriptions/{documents.pk}/changes/{change.number}/"
    assert (change.old_quantity, change.new_quantity) == (1, 2)
    cal.refresh_from_db()
    assert cal.status == OrgUser.Status.LOCKED
    assert cal.pending_licences.get().seat_change == change
    manage = admin_client.get("/licences/").content.decode()
    assert "Waiting for licence" in manage


def test_switching_between_active_and_locked_asks_nothing(admin_client):
    documents = SubscriptionFactory(organization=admin_client.organization)
    cal = LicenceAssignmentFactory(subscription=documents, org_user__name="Cal").org_user

    response = admin_client.post(f"/licences/users/{cal.pk}/status/", {"status": "locked"}, follow=True)

    assert "Cal is now Locked." in response.content.decode()
    assert LicenceAssignment.objects.filter(org_user=cal).exists()


def test_the_add_user_form_ticks_every_live_product_and_warns_where_none_is_left(admin_client):
    organization = admin_client.organization
    documents = SubscriptionFactory(organization=organization, quantity=2)
    signature = SubscriptionFactory(
        organization=organization,
        plan=PlanFactory(product__code="signature", product__name="Signature"),
        quantity=1,
    )
    LicenceAssignmentFactory(subscription=signature)
    cancelled = SubscriptionFactory(
        organization=organization,
        plan=PlanFactory(product__code="archive", product__name="Archive"),
        status=Subscription.Status.CANCELLED,
    )

    page = admin_client.get("/licences/").content.decode()

    assert f'value="{documents.pk}" checked> Documents (2 available)' in page
    assert f'value="{signature.pk}" checked> Signature (none available: saving offers to increase' in page
    assert f'name="subscriptions" value="{cancelled.pk}"' not in page


def test_manage_subscription_shows_the_same_labelled_counts(admin_client):
    subscription = SubscriptionFactory(organization=admin_client.organization, quantity=4)
    LicenceAssignmentFactory(subscription=subscription)
    OrgUserFactory(organization=admin_client.organization, status=OrgUser.Status.LOCKED)

    page = admin_client.get(f"/subscriptions/{subscription.pk}/").content.decode()

    assert 'Users with a Documents licence</dt><dd data-testid="active">1<' in page
    assert 'Documents licences paid for</dt><dd data-testid="maximum">4<' in page
    assert 'Licences available</dt><dd data-testid="available">3<' in page
    assert 'without a Documents licence</dt><dd data-testid="unlicensed">1<' in page
