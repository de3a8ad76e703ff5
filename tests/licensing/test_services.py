import pytest

from audit.models import AuditEvent
from licensing import selectors, services
from licensing.errors import (
    AlreadyLicensed,
    DecreaseScheduled,
    EmailAlreadyUsed,
    NoLicenceAvailable,
    StatusCannotHoldLicence,
    SubscriptionNotLive,
)
from licensing.models import LicenceAssignment, OrgUser
from subscriptions import seat_changes
from subscriptions.errors import InvalidInput
from subscriptions.models import Subscription
from tests.backoffice.factories import seat_change_signed
from tests.factories import (
    LicenceAssignmentFactory,
    OrgUserFactory,
    PlanFactory,
    ProductFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


def seats(subscription):
    subscription = selectors.subscriptions_with_seats(organization=subscription.organization).get(
        pk=subscription.pk
    )
    return selectors.seat_summary(subscription)


def full_subscription(quantity=2):
    subscription = SubscriptionFactory(quantity=quantity)
    for _ in range(quantity):
        LicenceAssignmentFactory(subscription=subscription)
    return subscription


def test_assigning_a_licence_moves_one_seat_from_available_to_active():
    subscription = SubscriptionFactory(quantity=3)
    org_user = OrgUserFactory(organization=subscription.organization)

    services.licence_assign(subscription=subscription, org_user=org_user)

    summary = seats(subscription)
    assert (summary.maximum, summary.active, summary.available) == (3, 1, 2)
    assert AuditEvent.objects.filter(
        action="licence.assigned", organization=subscription.organization
    ).exists()


def test_assigning_when_no_licence_is_left_is_refused_with_an_offer_to_increase():
    subscription = full_subscription(quantity=2)
    org_user = OrgUserFactory(organization=subscription.organization)

    with pytest.raises(NoLicenceAvailable) as refused:
        services.licence_assign(subscription=subscription, org_user=org_user)

    assert "all 2 are in use" in refused.value.message
    assert "increase your seats to 3" in refused.value.message
    assert refused.value.as_dict()["increase_url"] == f"/subscriptions/{subscription.pk}/change/?new_total=3"
    assert seats(subscription).active == 2
    assert not LicenceAssignment.objects.filter(org_user=org_user).exists()


@pytest.mark.parametrize(
    "status",
    [
        OrgUser.Status.INACTIVE,
        OrgUser.Status.ROOM,
        OrgUser.Status.RESOURCE,
        OrgUser.Status.ASSET,
        OrgUser.Status.QUEUE,
    ],
)
def test_only_active_or_locked_users_can_hold_a_licence(status):
    subscription = SubscriptionFactory(quantity=3)
    org_user = OrgUserFactory(organization=subscription.organization, status=status)

    with pytest.raises(StatusCannotHoldLicence):
        services.licence_assign(subscription=subscription, org_user=org_user)
    assert seats(subscription).active == 0


def test_a_locked_user_holds_a_licence():
    subscription = SubscriptionFactory(quantity=1)
    org_user = OrgUserFactory(organization=subscription.organization, status=OrgUser.Status.LOCKED)

    services.licence_assign(subscription=subscription, org_user=org_user)

    assert seats(subscription).available == 0


def test_assigning_twice_is_refused_and_counts_once():
    subscription = SubscriptionFactory(quantity=3)
    org_user = OrgUserFactory(organization=subscription.organization)
    services.licence_assign(subscription=subscription, org_user=org_user)

    with pytest.raises(AlreadyLicensed):
        services.licence_assign(subscription=subscription, org_user=org_user)
    assert seats(subscription).active == 1


def test_a_cancelled_subscriptions_licences_cannot_be_assigned():
    subscription = SubscriptionFactory(quantity=3, status=Subscription.Status.CANCELLED)
    org_user = OrgUserFactory(organization=subscription.organization)

    with pytest.raises(SubscriptionNotLive):
        services.licence_assign(subscription=subscription, org_user=org_user)


def test_a_user_of_another_organization_cannot_be_given_a_licence():
    subscription = SubscriptionFactory(quantity=3)
    stranger = OrgUserFactory()

    with pytest.raises(InvalidInput):
        services.licence_assign(subscription=subscription, org_user=stranger)
    assert seats(subscription).active == 0


@pytest.mark.parametrize("status", [OrgUser.Status.INACTIVE, OrgUser.Status.QUEUE])
def test_switching_a_user_to_a_status_without_licence_frees_all_their_licences(status):
    documents = SubscriptionFactory(quantity=2)
    signature = SubscriptionFactory(
        organization=documents.organization,
        plan=PlanFactory(product=ProductFactory(code="signature")),
        quantity=2,
    )
    org_user = OrgUserFactory(organization=documents.organization)
    services.licence_assign(subscription=documents, org_user=org_user)
    services.licence_assign(subscription=signature, org_user=org_user)

    services.org_user_update(org_user=org_user, status=status)

    assert seats(documents).available == 2
    assert seats(signature).available == 2
    event = AuditEvent.objects.get(action="org_user.updated")
    assert event.before["status"] == "active"
    assert sorted(event.after["licences_freed"]) == ["documents", "signature"]


def test_switching_between_active_and_locked_keeps_the_licence():
    subscription = SubscriptionFactory(quantity=1)
    org_user = OrgUserFactory(organization=subscription.organization)
    services.licence_assign(subscription=subscription, org_user=org_user)

    services.org_user_update(org_user=org_user, status=OrgUser.Status.LOCKED)

    assert seats(subscription).active == 1


def test_deleting_a_user_frees_their_licence_and_is_audited():
    subscription = SubscriptionFactory(quantity=1)
    assignment = LicenceAssignmentFactory(subscription=subscription)

    services.org_user_delete(org_user=assignment.org_user)

    assert seats(subscription).available == 1
    event = AuditEvent.objects.get(action="org_user.deleted")
    assert event.before["licences"] == ["documents"]


def test_removing_a_licence_frees_it_and_removing_it_again_is_refused():
    assignment = LicenceAssignmentFactory(subscription=SubscriptionFactory(quantity=1))

    services.licence_remove(subscription=assignment.subscription, org_user=assignment.org_user)
    assert seats(assignment.subscription).available == 1

    with pytest.raises(InvalidInput, match="does not hold"):
        services.licence_remove(subscription=assignment.subscription, org_user=assignment.org_user)


def test_creating_an_active_user_with_licences_assigns_them():
    subscription = SubscriptionFactory(quantity=2)

    org_user = services.org_user_create(
        organization=subscription.organization,
        name="Nia New",
        email="Nia@Example.com",
        status=OrgUser.Status.ACTIVE,
        subscription_ids=[subscription.pk],
    )

    assert org_user.email == "nia@example.com"
    assert seats(subscription).active == 1


def test_creating_an_active_user_when_no_licence_is_left_creates_nothing():
    subscription = full_subscription(quantity=1)

    with pytest.raises(NoLicenceAvailable):
        services.org_user_create(
            organization=subscription.organization,
            name="Nia New",
            email="nia@example.com",
            subscription_ids=[subscription.pk],
        )

    assert not OrgUser.objects.filter(email="nia@example.com").exists()
    assert not AuditEvent.objects.filter(action="org_user.created").exists()


def test_creating_a_room_user_never_needs_a_licence_even_when_none_is_left():
    subscription = full_subscription(quantity=1)

    org_user = services.org_user_create(
        organization=subscription.organization,
        name="Boardroom",
        email="room@example.com",
        status="room",
    )

    assert org_user.status == "room"
    assert seats(subscription).active == 1


def test_emails_are_unique_per_organization_whatever_their_case():
    existing = OrgUserFactory(email="sam@example.com")

    with pytest.raises(EmailAlreadyUsed):
        services.org_user_create(organization=existing.organization, name="Sam", email="SAM@example.com")
    # Another organization may have a person with the same address.
    other = services.org_user_create(
        organization=SubscriptionFactory().organization, name="Sam", email="sam@example.com"
    )
    assert other.pk != existing.pk


@pytest.mark.parametrize(
    ("name", "email", "status", "message"),
    [
        ("", "a@example.com", "active", "Enter the user's name."),
        ("Ann", "not-an-email", "active", "is not a valid email address"),
        ("Ann", "a@example.com", "superuser", "Unknown status"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(name, email, status, message):
    subscription = SubscriptionFactory()

    with pytest.raises(InvalidInput, match=message):
        services.org_user_create(
            organization=subscription.organization, name=name, email=email, status=status
        )
    assert not OrgUser.objects.exists()


def test_audit_events_are_append_only():
    subscription = SubscriptionFactory(quantity=1)
    services.org_user_create(organization=subscription.organization, name="Ann", email="ann@example.com")
    event = AuditEvent.objects.get()

    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()


def test_while_a_decrease_waits_for_the_period_end_no_licence_is_given_beyond_it():
    plan = PlanFactory(code="documents-yearly", interval="year", decrease_policy="period_end")
    subscription = SubscriptionFactory(plan=plan, quantity=5)
    LicenceAssignmentFactory.create_batch(2, subscription=subscription)
    decrease = seat_change_signed(subscription, 3)
    seat_changes.seat_change_approve(seat_change=decrease, actor=None, licences_kept=lambda change: 2)
    decrease.refresh_from_db()
    assert decrease.state == "scheduled"
    third, fourth = OrgUserFactory.create_batch(2, organization=subscription.organization)

    services.licence_assign(subscription=subscription, org_user=third)
    with pytest.raises(DecreaseScheduled) as refused:
        services.licence_assign(subscription=subscription, org_user=fourth)

    end = subscription.current_period_end
    assert refused.value.message == (
        f"No Documents licence can be given: the decrease to 3 users (seat change {decrease.number}) takes "
        f"effect on {end.day} {end:%B %Y}, and 3 licences are already in use. Free one by making a user "
        "Inactive, or withdraw the decrease first."
    )
    assert LicenceAssignment.objects.filter(subscription=subscription).count() == 3
    seats = selectors.seat_summary(subscription)
    assert (seats.maximum, seats.active, seats.available, seats.scheduled_maximum) == (5, 3, 0, 3)
    (listed,) = selectors.subscriptions_with_seats(organization=subscription.organization)
    assert selectors.seat_summary(listed) == seats


# --- Making a user Active or Locked again (OpenCRM: "a check to see whether there is a
# user licence available", and the increase offered when there is none) ---------------


def two_products(documents_quantity=3, signature_quantity=3):
    documents = SubscriptionFactory(quantity=documents_quantity)
    signature = SubscriptionFactory(
        organization=documents.organization,
        plan=PlanFactory(product=ProductFactory(code="signature")),
        quantity=signature_quantity,
    )
    return documents, signature


def held(org_user):
    return set(org_user.licences.values_list("subscription__plan__product__code", flat=True))


def test_a_user_made_active_again_gets_back_the_licences_they_held_when_made_inactive():
    documents, signature = two_products()
    cal = OrgUserFactory(organization=documents.organization, name="Cal")
    LicenceAssignmentFactory(subscription=signature, org_user=cal)

    services.org_user_update(org_user=cal, status=OrgUser.Status.INACTIVE)
    cal.refresh_from_db()
    assert held(cal) == set() and cal.licences_held_before == [signature.pk]
    services.org_user_update(org_user=cal, status=OrgUser.Status.ROOM)  # still none to free
    cal.refresh_from_db()
    assert cal.licences_held_before == [signature.pk]

    services.org_user_update(org_user=cal, status=OrgUser.Status.LOCKED)

    assert held(cal) == {"signature"}
    event = AuditEvent.objects.filter(action="org_user.updated").latest("pk")
    assert event.before["status"] == "room" and event.after["licences_given"] == ["signature"]


def test_making_a_user_active_with_no_licence_left_changes_nothing_and_offers_the_increase():
    documents, signature = two_products(documents_quantity=1)
    cal = OrgUserFactory(organization=documents.organization, status=OrgUser.Status.INACTIVE)
    LicenceAssignmentFactory(subscription=documents)  # the last Documents licence

    with pytest.raises(NoLicenceAvailable) as refused:
        services.org_user_update(
            org_user=cal, status=OrgUser.Status.ACTIVE, subscription_ids=[signature.pk, documents.pk]
        )

    assert refused.value.subscription == documents
    assert refused.value.increase_url.endswith("?new_total=2")
    cal.refresh_from_db()
    assert cal.status == OrgUser.Status.INACTIVE and held(cal) == set()  # not even Signature


def test_the_admins_choice_replaces_what_they_held_even_an_empty_one():
    documents, signature = two_products()
    cal = OrgUserFactory(
        organization=documents.organization,
        status=OrgUser.Status.INACTIVE,
        licences_held_before=[documents.pk],
    )
    dee = OrgUserFactory(
        organization=documents.organization,
        status=OrgUser.Status.INACTIVE,
        licences_held_before=[documents.pk],
    )

    services.org_user_update(org_user=cal, status=OrgUser.Status.ACTIVE, subscription_ids=[signature.pk])
    services.org_user_update(org_user=dee, status=OrgUser.Status.ACTIVE, subscription_ids=[])

    assert held(cal) == {"signature"}
    assert held(dee) == set()
    # Shown as such: Cal and Dee have no Documents licence, Dee no Signature one.
    assert seats(documents).unlicensed == 2 and seats(signature).unlicensed == 1


def test_a_user_who_never_held_a_licence_gets_every_live_product_by_default():
    documents, signature = two_products()
    SubscriptionFactory(
        organization=documents.organization,
        plan=PlanFactory(product=ProductFactory(code="archive")),
        status=Subscription.Status.CANCELLED,
    )
    room = OrgUserFactory(organization=documents.organization, status=OrgUser.Status.ROOM)

    assert selectors.licences_offered(organization=documents.organization, org_user=room) == [
        documents.pk,
        signature.pk,
    ]
    services.org_user_update(org_user=room, status=OrgUser.Status.ACTIVE)

    assert held(room) == {"documents", "signature"}


def test_a_cancelled_subscription_held_before_is_not_offered_again():
    documents, signature = two_products()
    cal = OrgUserFactory(organization=documents.organization)
    LicenceAssignmentFactory(subscription=documents, org_user=cal)
    LicenceAssignmentFactory(subscription=signature, org_user=cal)
    services.org_user_update(org_user=cal, status=OrgUser.Status.INACTIVE)
    Subscription.objects.filter(pk=signature.pk).update(status=Subscription.Status.CANCELLED)

    services.org_user_update(org_user=cal, status=OrgUser.Status.ACTIVE)

    assert held(cal) == {"documents"}


def test_choosing_another_organizations_subscription_is_refused():
    documents, _ = two_products()
    elsewhere = SubscriptionFactory()
    cal = OrgUserFactory(organization=documents.organization, status=OrgUser.Status.INACTIVE)

    with pytest.raises(InvalidInput):
        services.org_user_update(org_user=cal, status=OrgUser.Status.ACTIVE, subscription_ids=[elsewhere.pk])

    assert not LicenceAssignment.objects.filter(org_user=cal).exists()


def test_an_import_that_makes_users_inactive_remembers_their_licences_too():
    from licensing import imports
    from licensing.models import UserImport

    documents, signature = two_products()
    cal = OrgUserFactory(organization=documents.organization, email="cal@example.com", name="Cal")
    LicenceAssignmentFactory(subscription=documents, org_user=cal)
    LicenceAssignmentFactory(subscription=signature, org_user=cal)
    user_import = UserImport.objects.create(
        organization=documents.organization,
        filename="u.csv",
        content="name,email,status\nCal,cal@example.com,Inactive\n",
    )

    imports.user_import_apply(user_import=user_import)

    cal.refresh_from_db()
    assert cal.licences_held_before == sorted([documents.pk, signature.pk]) and held(cal) == set()
    services.org_user_update(org_user=cal, status=OrgUser.Status.ACTIVE)
    assert held(cal) == {"documents", "signature"}


def test_users_made_inactive_before_the_field_existed_are_remembered_from_the_audit_log():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("licensing.migrations.0006_org_user_licences_held_before")
    documents, signature = two_products()
    cal = OrgUserFactory(organization=documents.organization, name="Cal")
    LicenceAssignmentFactory(subscription=signature, org_user=cal)
    services.org_user_update(org_user=cal, status=OrgUser.Status.INACTIVE)
    services.org_user_update(org_user=cal, name="Cal Renamed")  # a later event freeing nothing
    OrgUser.objects.filter(pk=cal.pk).update(licences_held_before=None)

    migration.from_the_audit_log(apps, None)

    cal.refresh_from_db()
    assert cal.licences_held_before == [signature.pk]


def test_an_api_client_making_a_user_active_gets_their_licences_back_or_a_409():
    from tests.licensing.test_api import api_key_for, key_client

    documents = SubscriptionFactory(quantity=1)
    cal = OrgUserFactory(organization=documents.organization)
    LicenceAssignmentFactory(subscription=documents, org_user=cal)
    services.org_user_update(org_user=cal, status=OrgUser.Status.INACTIVE)
    client = key_client(api_key_for(documents.organization))

    LicenceAssignmentFactory(subscription=documents)  # someone took the freed licence
    refused = client.patch(f"/api/v1/users/{cal.pk}/", {"status": "active"}, content_type="application/json")
    assert refused.status_code == 409 and refused.json()["code"] == "no_licence_available"
    cal.refresh_from_db()
    assert cal.status == OrgUser.Status.INACTIVE

    LicenceAssignment.objects.exclude(org_user=cal).delete()
    response = client.patch(f"/api/v1/users/{cal.pk}/", {"status": "active"}, content_type="application/json")
    assert response.status_code == 200
    assert LicenceAssignment.objects.filter(org_user=cal, subscription=documents).exists()


@pytest.mark.django_db(transaction=True)
def test_twenty_users_made_active_at_once_for_three_free_seats_leave_nobody_active_without_one():
    import threading

    from django.db import connection

    subscription = SubscriptionFactory(quantity=3)
    dormant = [
        OrgUserFactory(
            organization=subscription.organization,
            status=OrgUser.Status.INACTIVE,
            licences_held_before=[subscription.pk],
        )
        for _ in range(20)
    ]
    start = threading.Barrier(len(dormant))
    outcomes, lock = [], threading.Lock()

    def activate(org_user):
        try:
            start.wait()
            services.org_user_update(org_user=org_user, status=OrgUser.Status.ACTIVE)
            result = "active"
        except NoLicenceAvailable:
            result = "refused"
        except Exception as unexpected:
            result = f"error: {unexpected!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=activate, args=(user,)) for user in dormant]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["active"] * 3 + ["refused"] * 17
    active = OrgUser.objects.filter(organization=subscription.organization, status=OrgUser.Status.ACTIVE)
    assert active.count() == 3
    assert LicenceAssignment.objects.filter(subscription=subscription, org_user__in=active).count() == 3


def test_a_new_active_user_without_chosen_licences_gets_every_live_one_and_others_none():
    subscription = SubscriptionFactory(quantity=2)
    other = SubscriptionFactory(
        organization=subscription.organization, quantity=1, plan=PlanFactory(product__code="signature")
    )
    organization = subscription.organization

    ada = services.org_user_create(organization=organization, name="Ada", email="ada@x.example")
    room = services.org_user_create(
        organization=organization, name="Room", email="r@x.example", status="room"
    )
    bea = services.org_user_create(
        organization=organization, name="Bea", email="b@x.example", subscription_ids=[]
    )

    assert set(ada.licences.values_list("subscription_id", flat=True)) == {subscription.pk, other.pk}
    assert not room.licences.exists() and not bea.licences.exists()
    with pytest.raises(NoLicenceAvailable):
        services.org_user_create(organization=organization, name="Cal", email="c@x.example", status="locked")
    assert not OrgUser.objects.filter(email="c@x.example").exists()
