import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from licensing.models import IdempotencyKey, LicenceAssignment, OrgUser
from tests.api.conftest import API, api_key_for, key_client
from tests.factories import OrganizationFactory, OrgUserFactory, SubscriptionFactory

ADA = {"name": "Ada", "email": "ada@customer.example", "products": ["documents"]}


def post_user(client, body=ADA, key="key-1"):
    return client.post(
        f"{API}/users/", body, content_type="application/json", headers={"Idempotency-Key": key}
    )


def test_a_retried_post_replays_the_first_answer_and_creates_one_user(api, subscription):
    first = post_user(api)
    retry = post_user(api)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert OrgUser.objects.count() == 1
    assert LicenceAssignment.objects.count() == 1


def test_a_refusal_is_replayed_too(api, org):
    OrgUserFactory(organization=org, email="ada@customer.example")

    first = post_user(api, {"name": "Ada", "email": "ada@customer.example"})
    retry = post_user(api, {"name": "Ada", "email": "ada@customer.example"})

    assert first.status_code == retry.status_code == 409
    assert retry.json()["code"] == first.json()["code"] == "email_in_use"
    assert retry.json()["request_id"] == retry["X-Request-Id"] != first["X-Request-Id"]


def test_the_same_key_with_another_body_answers_409_idempotency_key_reused(api, subscription):
    post_user(api)

    response = post_user(api, {**ADA, "email": "grace@customer.example"})

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert not OrgUser.objects.filter(email="grace@customer.example").exists()


def test_the_same_key_on_another_route_answers_409_idempotency_key_reused(api, org):
    user = OrgUserFactory(organization=org)
    post_user(api)

    response = api.delete(f"{API}/users/{user.pk}/", headers={"Idempotency-Key": "key-1"})

    assert response.json()["code"] == "idempotency_key_reused"
    assert OrgUser.objects.filter(pk=user.pk).exists()


def test_the_same_body_with_keys_in_another_order_is_the_same_request(api, subscription):
    post_user(api, {"name": "Ada", "email": "ada@customer.example"})

    response = post_user(api, {"email": "ada@customer.example", "name": "Ada"})

    assert response.status_code == 201 and response["Idempotent-Replayed"] == "true"


def test_keys_belong_to_their_api_key(api, org, subscription):
    other_key = key_client(api_key_for(org))
    other_org = key_client(api_key_for(OrganizationFactory()))

    post_user(api, {"name": "Ada", "email": "ada@customer.example"})
    mine_again = post_user(other_key, {"name": "Ada", "email": "ada@customer.example"})
    theirs = post_user(other_org, {"name": "Ada", "email": "ada@customer.example"})

    assert mine_again.status_code == 409 and mine_again.json()["code"] == "email_in_use"
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs


def test_a_key_older_than_24_hours_is_a_new_key(api, org):
    post_user(api, {"name": "Ada", "email": "ada@customer.example"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    response = post_user(api, {"name": "Grace", "email": "grace@customer.example"})

    assert response.status_code == 201
    assert OrgUser.objects.filter(email="grace@customer.example").exists()


def test_expired_keys_are_deleted_when_the_caller_makes_a_new_one(api, org):
    post_user(api, {"name": "Ada", "email": "ada@customer.example"}, key="old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=2))

    post_user(api, {"name": "Grace", "email": "grace@customer.example"}, key="new")

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_patch_and_delete_replay_too(api, org):
    user = OrgUserFactory(organization=org, name="Ada")
    url = f"{API}/users/{user.pk}/"

    patched = [
        api.patch(url, {"name": "Ada L"}, "application/json", headers={"Idempotency-Key": "p"})
        for _ in range(2)
    ]
    deleted = [api.delete(url, headers={"Idempotency-Key": "d"}) for _ in range(2)]

    assert [r.status_code for r in patched] == [200, 200] and patched[1]["Idempotent-Replayed"] == "true"
    assert [r.status_code for r in deleted] == [204, 204] and deleted[1]["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("key", ["", "x" * 256, "clé"])
def test_a_malformed_key_answers_400(api, key):
    response = post_user(api, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert not OrgUser.objects.exists()


def test_a_signed_in_admins_keys_are_their_own(org, subscription):
    from tests.factories import MembershipFactory

    client = Client(enforce_csrf_checks=False)
    client.force_login(MembershipFactory(organization=org, role="admin").user)

    answers = [post_user(client) for _ in range(2)]

    assert [a.status_code for a in answers] == [201, 201]
    assert answers[1]["Idempotent-Replayed"] == "true"
    assert IdempotencyKey.objects.get().scope.startswith("user:")


def test_while_a_request_with_the_key_runs_another_answers_409_in_use(transactional_db):
    subscription = SubscriptionFactory(quantity=3)
    api = key_client(api_key_for(subscription.organization))
    post_user(api, key="busy")
    row = IdempotencyKey.objects.get()
    IdempotencyKey.objects.filter(pk=row.pk).update(response_status=None, response_body="")

    with transaction.atomic():  # what a running request holds: the key's row lock
        IdempotencyKey.objects.select_for_update().get(pk=row.pk)
        answer = {}
        thread = threading.Thread(target=lambda: answer.update(response=post_user(api, key="busy")))
        thread.start()
        thread.join(timeout=10)

    assert answer["response"].status_code == 409
    assert answer["response"].json()["code"] == "idempotency_key_in_use"


def test_concurrent_requests_with_one_key_create_one_user(transactional_db):
    """20 threads send the same POST with the same key at once, on PostgreSQL: one runs,
    the others answer 409 `idempotency_key_in_use` or replay its answer."""
    subscription = SubscriptionFactory(quantity=30)
    raw_key = api_key_for(subscription.organization)
    barrier = threading.Barrier(20)
    answers = []

    def send():
        client = key_client(raw_key)
        barrier.wait()
        try:
            answers.append(post_user(client, key="race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert OrgUser.objects.count() == 1 and LicenceAssignment.objects.count() == 1
    statuses = sorted(answer.status_code for answer in answers)
    assert len(statuses) == 20 and set(statuses) <= {201, 409}
    created = [a for a in answers if a.status_code == 201]
    assert len([a for a in created if "Idempotent-Replayed" not in a]) == 1
    assert all(a.json()["code"] == "idempotency_key_in_use" for a in answers if a.status_code == 409)
    assert len({a.json()["id"] for a in created}) == 1


def test_a_retried_buy_seat_call_gets_its_signing_link_again_and_starts_one_change(db, settings):
    from subscriptions.models import CapabilityLink, SeatChange
    from tests.factories import LicenceAssignmentFactory

    settings.SITE_URL = "https://seats.example"
    subscription = SubscriptionFactory(quantity=1)
    LicenceAssignmentFactory(subscription=subscription)
    api = key_client(api_key_for(subscription.organization))
    body = {**ADA, "buy_seat_if_needed": True}

    first = post_user(api, body, key="buy")
    retry = post_user(api, body, key="buy")

    assert first.status_code == retry.status_code == 202
    assert retry.json()["sign_url"] == first.json()["sign_url"]
    assert retry["Idempotent-Replayed"] == "true"
    assert SeatChange.objects.count() == 1
    assert CapabilityLink.objects.filter(action=CapabilityLink.Action.SIGN).count() == 1
    with connection.cursor() as cursor:  # the stored answer holds a capability: encrypted at rest
        cursor.execute("SELECT response_body FROM licensing_idempotencykey")
        (stored,) = cursor.fetchone()
    token = first.json()["sign_url"].rstrip("/").rsplit("/", 1)[-1]
    assert stored.startswith("fernet:") and token not in stored and "sign_url" not in stored
