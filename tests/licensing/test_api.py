import secrets

import pytest
from django.conf import settings
from django.test import Client

from audit.models import AuditEvent
from licensing.errors import NoLicenceAvailable
from licensing.models import LicenceAssignment, OrgUser
from subscriptions import hot_cache
from subscriptions.models import ApiKey, Membership, Subscription, hash_secret
from subscriptions.services import api_key_revoke
from tests.factories import (
    LicenceAssignmentFactory,
    MembershipFactory,
    OrganizationFactory,
    OrgUserFactory,
    PlanFactory,
    ProductFactory,
    SubscriptionFactory,
    UserFactory,
)

API = "/api/v1"


def api_key_for(organization) -> str:
    raw = ApiKey.generate_raw()
    ApiKey.objects.create(organization=organization, name="CRM", prefix=raw[:8], key_hash=hash_secret(raw))
    return raw


def key_client(raw_key: str) -> Client:
    return Client(headers={"Authorization": f"Api-Key {raw_key}"})


@pytest.fixture
def subscription(db):
    """A live Documents subscription of 3 seats."""
    return SubscriptionFactory(quantity=3)


@pytest.fixture
def org(subscription):
    return subscription.organization


@pytest.fixture
def api(org):
    return key_client(api_key_for(org))


@pytest.fixture
def other_org(db):
    """Another customer, with its own Documents subscription, user and key."""
    other_subscription = SubscriptionFactory()
    assignment = LicenceAssignmentFactory(
        subscription=other_subscription, org_user__email="secret@other.example"
    )
    return other_subscription.organization, other_subscription, assignment.org_user


def post_json(client, url, data):
    return client.post(url, data, content_type="application/json")


def patch_json(client, url, data):
    return client.patch(url, data, content_type="application/json")


# --- Subscriptions ----------------------------------------------------------


def test_subscriptions_list_shows_product_plan_seats_and_period(api, subscription):
    LicenceAssignmentFactory(subscription=subscription)

    response = api.get(f"{API}/subscriptions/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (item,) = body["results"]
    assert item["id"] == subscription.pk
    assert item["product"] == {"code": "documents", "name": "Documents"}
    assert item["plan"] == {
        "code": "documents-monthly",
        "interval": "month",
        "unit_amount": 1500,
        "currency": "eur",
    }
    assert item["seats"] == {"maximum": 3, "active": 1, "available": 2}
    assert item["status"] == "active"
    assert item["current_period_start"] and item["current_period_end"]
    assert item["next_renewal_amount"] == 4500  # 3 seats at 15.00


def test_a_subscription_cancelling_at_period_end_has_no_renewal_amount(api, subscription):
    subscription.cancel_at_period_end = True
    subscription.save()

    (item,) = api.get(f"{API}/subscriptions/").json()["results"]

    assert item["next_renewal_amount"] is None


@pytest.mark.parametrize("users", [1, 50])
def test_subscriptions_list_query_count_does_not_depend_on_the_number_of_users(
    users, org, django_assert_num_queries
):
    documents = SubscriptionFactory(organization=org, quantity=100)
    SubscriptionFactory(organization=org, plan=PlanFactory(product=ProductFactory(code="signature")))
    LicenceAssignmentFactory.create_batch(users, subscription=documents)
    client = key_client(api_key_for(org))

    # API key, organization, page count, page.
    with django_assert_num_queries(4):
        response = client.get(f"{API}/subscriptions/")

    assert response.status_code == 200
    seats = {item["id"]: item["seats"]["active"] for item in response.json()["results"]}
    assert seats[documents.pk] == users


# --- Users ------------------------------------------------------------------


def test_users_list_shows_each_user_with_the_products_they_hold(api, org, subscription):
    signature = SubscriptionFactory(
        organization=org, plan=PlanFactory(product=ProductFactory(code="signature"))
    )
    ada = OrgUserFactory(organization=org, name="Ada", email="ada@customer.example")
    LicenceAssignmentFactory(subscription=subscription, org_user=ada)
    LicenceAssignmentFactory(subscription=signature, org_user=ada)
    OrgUserFactory(organization=org, name="Bob", status=OrgUser.Status.INACTIVE)

    response = api.get(f"{API}/users/")

    assert response.status_code == 200
    ada_json, bob_json = response.json()["results"]
    assert ada_json == {
        "id": ada.pk,
        "name": "Ada",
        "email": "ada@customer.example",
        "status": "active",
        "licences": ["documents", "signature"],
        "created_at": ada_json["created_at"],
    }
    assert bob_json["status"] == "inactive"
    assert bob_json["licences"] == []


@pytest.mark.parametrize("users", [1, 50])
def test_users_list_query_count_does_not_depend_on_the_number_of_users(
    users, org, subscription, django_assert_num_queries
):
    subscription.quantity = 100
    subscription.save()
    LicenceAssignmentFactory.create_batch(users, subscription=subscription)
    client = key_client(api_key_for(org))

    # API key, organization, page count, page of users, their licences.
    with django_assert_num_queries(5):
        response = client.get(f"{API}/users/")

    assert response.json()["count"] == users


def test_users_list_is_paginated_by_limit_and_offset(api, org):
    OrgUserFactory.create_batch(5, organization=org)

    response = api.get(f"{API}/users/", {"limit": 2, "offset": 2})

    body = response.json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert "offset=4" in body["next"]
    assert body["previous"]


def test_creating_a_user_with_products_gives_them_licences(api, org, subscription):
    response = post_json(
        api,
        f"{API}/users/",
        {"name": "Ada", "email": "Ada@Customer.example", "products": ["documents"]},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ada@customer.example"
    assert body["status"] == "active"
    assert body["licences"] == ["documents"]
    org_user = OrgUser.objects.get(pk=body["id"])
    assert org_user.organization == org
    assert LicenceAssignment.objects.filter(subscription=subscription, org_user=org_user).exists()


def test_creating_a_user_ignores_an_organization_in_the_body(api, org, other_org):
    other, _, _ = other_org

    response = post_json(
        api,
        f"{API}/users/",
        {"name": "Ada", "email": "ada@customer.example", "organization": other.pk},
    )

    assert response.status_code == 201
    assert OrgUser.objects.get(pk=response.json()["id"]).organization == org


def test_creating_a_user_through_an_api_key_is_audited_with_the_key(api, org):
    post_json(api, f"{API}/users/", {"name": "Ada", "email": "ada@customer.example"})

    event = AuditEvent.objects.get(action="org_user.created")
    assert event.organization == org
    assert event.actor is None
    assert event.actor_label.startswith("API key sm_")


def test_creating_a_user_with_an_unknown_product_is_refused_and_creates_nobody(api):
    response = post_json(
        api,
        f"{API}/users/",
        {"name": "Ada", "email": "ada@customer.example", "products": ["documents", "nope"]},
    )

    assert response.status_code == 404
    assert response.json()["code"] == "unknown_product"
    assert "nope" in response.json()["detail"]
    assert not OrgUser.objects.exists()


def test_creating_a_user_with_a_product_of_a_cancelled_subscription_is_refused(api, org):
    SubscriptionFactory(
        organization=org,
        plan=PlanFactory(product=ProductFactory(code="signature")),
        status=Subscription.Status.CANCELLED,
    )

    response = post_json(
        api,
        f"{API}/users/",
        {"name": "Ada", "email": "ada@customer.example", "products": ["signature"]},
    )

    assert response.status_code == 409
    assert response.json()["code"] == "no_live_subscription"
    assert not OrgUser.objects.exists()


def test_creating_a_user_with_an_invalid_email_is_refused(api):
    response = post_json(api, f"{API}/users/", {"name": "Ada", "email": "not-an-email"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["detail"].startswith("email:")


def test_creating_a_user_when_every_seat_is_used_answers_409_with_the_increase_url(api, subscription):
    LicenceAssignmentFactory.create_batch(3, subscription=subscription)

    response = post_json(
        api,
        f"{API}/users/",
        {"name": "Ada", "email": "ada@customer.example", "products": ["documents"]},
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "no_licence_available"
    assert body["increase_url"] == settings.SITE_URL + NoLicenceAvailable(subscription).increase_url
    assert body["detail"]
    assert not OrgUser.objects.filter(email="ada@customer.example").exists()


def test_creating_a_user_with_an_email_in_use_answers_409(api, org):
    OrgUserFactory(organization=org, email="ada@customer.example")

    response = post_json(api, f"{API}/users/", {"name": "Ada", "email": "ADA@customer.example"})

    assert response.status_code == 409
    assert response.json()["code"] == "email_in_use"


def test_creating_an_inactive_user_with_a_licence_answers_409(api):
    response = post_json(
        api,
        f"{API}/users/",
        {
            "name": "Meeting room",
            "email": "room@customer.example",
            "status": "room",
            "products": ["documents"],
        },
    )

    assert response.status_code == 409
    assert response.json()["code"] == "status_cannot_hold_licence"
    assert not OrgUser.objects.exists()


def test_getting_a_user_shows_their_licences(api, subscription):
    org_user = LicenceAssignmentFactory(subscription=subscription).org_user

    response = api.get(f"{API}/users/{org_user.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == org_user.pk
    assert response.json()["licences"] == ["documents"]


def test_patching_a_user_changes_their_name_and_email(api, org):
    org_user = OrgUserFactory(organization=org, name="Ada")

    response = patch_json(
        api, f"{API}/users/{org_user.pk}/", {"name": "Ada Lovelace", "email": "ADA@new.example"}
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Ada Lovelace"
    assert response.json()["email"] == "ada@new.example"
    org_user.refresh_from_db()
    assert (org_user.name, org_user.email) == ("Ada Lovelace", "ada@new.example")


def test_making_a_user_inactive_frees_their_licences(api, subscription):
    org_user = LicenceAssignmentFactory(subscription=subscription).org_user

    response = patch_json(api, f"{API}/users/{org_user.pk}/", {"status": "inactive"})

    assert response.status_code == 200
    assert response.json()["status"] == "inactive"
    assert response.json()["licences"] == []
    assert not LicenceAssignment.objects.filter(org_user=org_user).exists()


def test_patching_a_user_to_an_email_in_use_answers_409(api, org):
    OrgUserFactory(organization=org, email="taken@customer.example")
    org_user = OrgUserFactory(organization=org)

    response = patch_json(api, f"{API}/users/{org_user.pk}/", {"email": "Taken@customer.example"})

    assert response.status_code == 409
    assert response.json()["code"] == "email_in_use"


def test_patching_a_user_with_an_unknown_status_is_refused(api, org):
    org_user = OrgUserFactory(organization=org)

    response = patch_json(api, f"{API}/users/{org_user.pk}/", {"status": "asleep"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_deleting_a_user_frees_their_licence(api, subscription):
    org_user = LicenceAssignmentFactory(subscription=subscription).org_user

    response = api.delete(f"{API}/users/{org_user.pk}/")

    assert response.status_code == 204
    assert not OrgUser.objects.filter(pk=org_user.pk).exists()
    assert not LicenceAssignment.objects.filter(subscription=subscription).exists()


# --- Licences ---------------------------------------------------------------


def test_assigning_a_licence_answers_201_with_the_licence(api, org, subscription):
    org_user = OrgUserFactory(organization=org)

    response = post_json(api, f"{API}/subscriptions/{subscription.pk}/licences/", {"user_id": org_user.pk})

    assert response.status_code == 201
    assert response.json() == {"subscription_id": subscription.pk, "user_id": org_user.pk}
    assert LicenceAssignment.objects.filter(subscription=subscription, org_user=org_user).exists()


def test_assigning_a_licence_when_every_seat_is_used_answers_409_with_the_increase_url(
    api, org, subscription
):
    LicenceAssignmentFactory.create_batch(3, subscription=subscription)
    org_user = OrgUserFactory(organization=org)

    response = post_json(api, f"{API}/subscriptions/{subscription.pk}/licences/", {"user_id": org_user.pk})

    assert response.status_code == 409
    assert response.json()["code"] == "no_licence_available"
    increase_url = NoLicenceAvailable(subscription).increase_url
    assert response.json()["increase_url"] == settings.SITE_URL + increase_url


def test_assigning_a_licence_the_user_already_holds_answers_409(api, subscription):
    org_user = LicenceAssignmentFactory(subscription=subscription).org_user

    response = post_json(api, f"{API}/subscriptions/{subscription.pk}/licences/", {"user_id": org_user.pk})

    assert response.status_code == 409
    assert response.json()["code"] == "already_licensed"


def test_assigning_a_licence_to_an_inactive_user_answers_409(api, org, subscription):
    org_user = OrgUserFactory(organization=org, status=OrgUser.Status.INACTIVE)

    response = post_json(api, f"{API}/subscriptions/{subscription.pk}/licences/", {"user_id": org_user.pk})

    assert response.status_code == 409
    assert response.json()["code"] == "status_cannot_hold_licence"


def test_assigning_a_licence_without_a_user_id_is_refused(api, subscription):
    response = post_json(api, f"{API}/subscriptions/{subscription.pk}/licences/", {})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_removing_a_licence_answers_204_and_frees_the_seat(api, subscription):
    org_user = LicenceAssignmentFactory(subscription=subscription).org_user

    response = api.delete(f"{API}/subscriptions/{subscription.pk}/licences/{org_user.pk}/")

    assert response.status_code == 204
    assert not LicenceAssignment.objects.filter(subscription=subscription).exists()


def test_removing_a_licence_the_user_does_not_hold_is_refused(api, org, subscription):
    org_user = OrgUserFactory(organization=org)

    response = api.delete(f"{API}/subscriptions/{subscription.pk}/licences/{org_user.pk}/")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


# --- Tenancy: another organization's objects are not found ------------------


def test_lists_show_only_the_organization_of_the_key(api, other_org):
    subscriptions = api.get(f"{API}/subscriptions/").json()
    users = api.get(f"{API}/users/").json()

    _, other_subscription, _ = other_org
    assert other_subscription.pk not in [item["id"] for item in subscriptions["results"]]
    assert users["count"] == 0


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("get", "/users/{other_user}/", None),
        ("patch", "/users/{other_user}/", {"name": "Mallory"}),
        ("delete", "/users/{other_user}/", None),
        ("post", "/subscriptions/{other_subscription}/licences/", {"user_id": "own_user"}),
        ("post", "/subscriptions/{own_subscription}/licences/", {"user_id": "other_user"}),
        ("delete", "/subscriptions/{other_subscription}/licences/{own_user}/", None),
        ("delete", "/subscriptions/{own_subscription}/licences/{other_user}/", None),
        ("delete", "/subscriptions/{other_subscription}/licences/{other_user}/", None),
    ],
)
def test_another_organizations_objects_answer_404_and_stay_unchanged(
    method, url, body, api, org, subscription, other_org
):
    _, other_subscription, other_user = other_org
    own_user = OrgUserFactory(organization=org)
    ids = {
        "own_user": own_user.pk,
        "own_subscription": subscription.pk,
        "other_user": other_user.pk,
        "other_subscription": other_subscription.pk,
    }
    send = getattr(api, method)
    if body is None:
        response = send(API + url.format(**ids))
    else:
        if "user_id" in body:
            body = {"user_id": ids[body["user_id"]]}
        response = send(API + url.format(**ids), body, content_type="application/json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "secret@other.example" not in response.content.decode()
    other_user.refresh_from_db()
    assert other_user.name != "Mallory"
    assert LicenceAssignment.objects.filter(org_user=other_user).count() == 1
    assert not LicenceAssignment.objects.filter(org_user=own_user).exists()


# --- Authentication ---------------------------------------------------------


@pytest.mark.parametrize("url", ["/subscriptions/", "/users/", "/licences/check"])
def test_requests_without_credentials_answer_401(client, db, url):
    response = client.get(API + url, {"product": "documents", "email": "a@b.example"})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Api-Key"


def test_an_unknown_api_key_answers_401(db):
    response = key_client(ApiKey.generate_raw()).get(f"{API}/users/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_revoked_api_key_answers_401_at_once(transactional_db):
    organization = OrganizationFactory()
    raw = api_key_for(organization)
    client = key_client(raw)
    assert client.get(f"{API}/users/").status_code == 200  # the key is now cached

    api_key_revoke(organization=organization, pk=ApiKey.objects.get(key_hash=hash_secret(raw)).pk)

    response = client.get(f"{API}/users/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def csrf_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    token = secrets.token_hex(16)
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    return client, token


def test_a_signed_in_admin_uses_the_api_for_their_organization(org, subscription):
    membership = MembershipFactory(organization=org)
    client, _ = csrf_client(membership.user)

    response = client.get(f"{API}/subscriptions/")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [subscription.pk]


def test_a_signed_in_admin_must_send_the_csrf_token_to_write(org):
    membership = MembershipFactory(organization=org)
    client, token = csrf_client(membership.user)
    data = {"name": "Ada", "email": "ada@customer.example"}

    refused = client.post(f"{API}/users/", data, content_type="application/json")
    accepted = client.post(
        f"{API}/users/", data, content_type="application/json", headers={"X-CSRFToken": token}
    )

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 201
    event = AuditEvent.objects.get(action="org_user.created")
    assert event.actor == membership.user
    assert event.organization == org


def test_a_signed_in_admin_of_several_organizations_acts_for_the_first_by_name(db):
    user = UserFactory()
    zeta = MembershipFactory(user=user, organization__name="Zeta").organization
    alpha = MembershipFactory(user=user, organization__name="Alpha").organization
    OrgUserFactory(organization=zeta, name="In Zeta")
    OrgUserFactory(organization=alpha, name="In Alpha")
    client, _ = csrf_client(user)

    response = client.get(f"{API}/users/")

    assert [item["name"] for item in response.json()["results"]] == ["In Alpha"]


def test_a_signed_in_person_without_an_organization_gets_403_no_organization(db):
    client, _ = csrf_client(UserFactory())

    response = client.get(f"{API}/users/")

    assert response.status_code == 403
    assert response.json()["code"] == "no_organization"


def test_a_signed_in_member_who_is_not_an_admin_gets_403(org):
    membership = MembershipFactory(organization=org, role=Membership.Role.MEMBER)
    client, _ = csrf_client(membership.user)

    response = client.get(f"{API}/users/")

    assert response.status_code == 403
    assert response.json()["code"] == "admin_required"


# --- Licence check ----------------------------------------------------------


def check(client, product="documents", email="ada@customer.example"):
    return client.get(f"{API}/licences/check", {"product": product, "email": email})


def test_check_answers_true_for_a_licensed_user_whatever_the_case_of_the_email(api, subscription):
    LicenceAssignmentFactory(subscription=subscription, org_user__email="ada@customer.example")

    response = check(api, email="ADA@Customer.Example")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"licensed": True}


def test_check_answers_false_for_a_user_without_a_licence(api, org):
    OrgUserFactory(organization=org, email="ada@customer.example")

    assert check(api).json() == {"licensed": False}
    assert check(api, email="nobody@customer.example").json() == {"licensed": False}
    ProductFactory(code="signature")
    assert check(api, product="signature").json() == {"licensed": False}


@pytest.mark.parametrize("status", [Subscription.Status.PENDING, Subscription.Status.CANCELLED])
def test_check_answers_false_when_the_subscription_is_not_live(status, db):
    subscription = SubscriptionFactory(status=status)
    LicenceAssignmentFactory(subscription=subscription, org_user__email="ada@customer.example")
    client = key_client(api_key_for(subscription.organization))

    assert check(client).json() == {"licensed": False}


def test_check_answers_false_for_a_licence_in_another_organization(api, other_org):
    assert check(api, email="secret@other.example").json() == {"licensed": False}


def test_check_without_product_or_email_answers_400(api):
    missing_email = api.get(f"{API}/licences/check", {"product": "documents"})
    missing_product = api.get(f"{API}/licences/check", {"email": "ada@customer.example"})

    assert missing_email.status_code == 400
    assert missing_email.json()["code"] == "invalid"
    assert missing_product.status_code == 400


def test_check_refuses_a_signed_in_session(org, subscription):
    membership = MembershipFactory(organization=org)
    client, _ = csrf_client(membership.user)

    response = check(client)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_check_answers_false_at_once_after_the_licence_is_removed(transactional_db):
    subscription = SubscriptionFactory()
    org_user = LicenceAssignmentFactory(
        subscription=subscription, org_user__email="ada@customer.example"
    ).org_user
    client = key_client(api_key_for(subscription.organization))
    assert check(client).json() == {"licensed": True}  # the answer is now cached

    removed = client.delete(f"{API}/subscriptions/{subscription.pk}/licences/{org_user.pk}/")

    assert removed.status_code == 204
    assert check(client).json() == {"licensed": False}


def test_check_answers_true_at_once_after_the_licence_is_given(transactional_db):
    subscription = SubscriptionFactory()
    org_user = OrgUserFactory(organization=subscription.organization, email="ada@customer.example")
    client = key_client(api_key_for(subscription.organization))
    assert check(client).json() == {"licensed": False}  # the answer is now cached

    post_json(client, f"{API}/subscriptions/{subscription.pk}/licences/", {"user_id": org_user.pk})

    assert check(client).json() == {"licensed": True}


def test_another_organizations_change_leaves_this_ones_answers_cached(
    transactional_db, django_assert_num_queries, monkeypatch
):
    """Per-tenant invalidation, through the real write path: Bob's admin gives a licence
    (committed, its invalidation sent); Ada's cached answer and API key stay cached."""
    ada_subscription = SubscriptionFactory()
    bob_subscription = SubscriptionFactory(plan=ada_subscription.plan)
    LicenceAssignmentFactory(subscription=ada_subscription, org_user__email="ada@customer.example")
    bob = OrgUserFactory(organization=bob_subscription.organization, email="bob@customer.example")
    ada_client = key_client(api_key_for(ada_subscription.organization))
    bob_client = key_client(api_key_for(bob_subscription.organization))
    assert check(ada_client).json() == {"licensed": True}
    assert check(bob_client, email="bob@customer.example").json() == {"licensed": False}
    monkeypatch.setattr(hot_cache, "MAX_STALENESS", 3600)  # nothing re-read from Redis meanwhile

    post_json(bob_client, f"{API}/subscriptions/{bob_subscription.pk}/licences/", {"user_id": bob.pk})

    with django_assert_num_queries(0):
        assert check(ada_client).json() == {"licensed": True}
    assert check(bob_client, email="bob@customer.example").json() == {"licensed": True}


def test_a_repeated_check_costs_no_query_and_no_cache_read(
    api, subscription, django_assert_num_queries, monkeypatch
):
    LicenceAssignmentFactory(subscription=subscription, org_user__email="ada@customer.example")
    assert check(api).json() == {"licensed": True}
    reads = []
    get = hot_cache.cache.get
    monkeypatch.setattr(hot_cache.cache, "get", lambda *a, **k: reads.append(a) or get(*a, **k))

    with django_assert_num_queries(0):
        assert check(api).json() == {"licensed": True}

    assert reads == []  # the generation was read less than MAX_STALENESS ago


# --- Licence rules through the API: the service's defaults, all or nothing ---------------


@pytest.fixture
def two_products(org, subscription):
    """Documents (3 seats, from `subscription`) and Signature (1 seat, free)."""
    signature = SubscriptionFactory(organization=org, quantity=1, plan=PlanFactory(product__code="signature"))
    return subscription, signature


@pytest.mark.parametrize("status", ["active", "locked"])
def test_a_user_created_active_or_locked_without_products_gets_every_live_licence(api, two_products, status):
    response = post_json(api, f"{API}/users/", {"name": "Ada", "email": "ada@x.example", "status": status})

    assert response.status_code == 201
    assert sorted(response.json()["licences"]) == ["documents", "signature"]


def test_a_user_created_with_no_products_or_another_status_gets_none(api, two_products):
    chosen_none = post_json(api, f"{API}/users/", {"name": "Ada", "email": "ada@x.example", "products": []})
    room = post_json(api, f"{API}/users/", {"name": "Room 1", "email": "room@x.example", "status": "room"})

    assert chosen_none.status_code == room.status_code == 201
    assert chosen_none.json()["licences"] == room.json()["licences"] == []


def test_a_user_created_active_when_a_licence_is_missing_is_refused_and_not_created(api, two_products):
    _, signature = two_products
    LicenceAssignmentFactory(subscription=signature)

    response = post_json(api, f"{API}/users/", {"name": "Ada", "email": "ada@x.example"})

    assert response.status_code == 409
    assert response.json()["code"] == "no_licence_available"
    assert response.json()["increase_url"].endswith(f"/subscriptions/{signature.pk}/change/?new_total=2")
    assert not OrgUser.objects.filter(email="ada@x.example").exists()


def test_making_a_user_active_again_gives_back_the_licences_held_before(api, org, two_products):
    documents, _ = two_products
    cal = OrgUserFactory(organization=org, status="inactive", licences_held_before=[documents.pk])

    response = patch_json(api, f"{API}/users/{cal.pk}/", {"status": "locked"})

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["licences"]) == ("locked", ["documents"])


def test_making_a_user_active_with_named_products_gives_those(api, org, two_products):
    documents, _ = two_products
    cal = OrgUserFactory(organization=org, status="inactive", licences_held_before=[documents.pk])

    response = patch_json(api, f"{API}/users/{cal.pk}/", {"status": "active", "products": ["Signature"]})

    assert response.status_code == 200
    assert response.json()["licences"] == ["signature"]


def test_making_a_user_active_without_a_free_licence_changes_nothing(api, org, two_products):
    _, signature = two_products
    LicenceAssignmentFactory(subscription=signature)
    cal = OrgUserFactory(organization=org, status="inactive", licences_held_before=[signature.pk])

    response = patch_json(api, f"{API}/users/{cal.pk}/", {"status": "active"})
    unknown = patch_json(api, f"{API}/users/{cal.pk}/", {"status": "active", "products": ["nope"]})

    assert response.status_code == 409 and response.json()["code"] == "no_licence_available"
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_product"
    cal.refresh_from_db()
    assert cal.status == "inactive" and not cal.licences.exists()
