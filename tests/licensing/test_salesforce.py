"""The Salesforce LMA connector against a local HTTPS stand-in (tests/salesforce_server.py):
sign-in, the licence query and the seats update, over TLS verified against the
stand-in's own certificate (SALESFORCE_CA_BUNDLE). Never the internet."""

import logging
import os

import certifi
import pytest
import redis
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from licensing import delivery
from licensing.connectors import Push, PushFailed
from licensing.connectors.salesforce import SalesforceConnector
from licensing.models import ConnectedOrg, SeatSyncAttempt
from subscriptions.models import SeatChange, SeatSync
from tests.celery_worker import celery_worker, wait_until  # noqa: F401 - the fixture
from tests.factories import SubscriptionFactory, paid_seat_change
from tests.salesforce_server import DATA_PREFIX, TOKEN_PATH, SalesforceServer, generate_certificate

SUBSCRIBER_ORG = "00D5g000004ACME"
PACKAGE = "0335g000000DOCS"
OTHER_ORG = "00D5g000009OTHR"
OTHER_PACKAGE = "0335g000000MAIL"

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return generate_certificate(tmp_path_factory.mktemp("salesforce-tls"))


@pytest.fixture(scope="module", autouse=True)
def _salesforce_trusts_the_stand_in(certificate):
    """SALESFORCE_CA_BUNDLE is the stand-in's certificate, here and in the worker
    process (module-scoped and autouse, so set before the module's worker starts:
    the worker copies os.environ when it is created)."""
    bundle = str(certificate.cert_path)
    previous = os.environ.get("SALESFORCE_CA_BUNDLE")
    os.environ["SALESFORCE_CA_BUNDLE"] = bundle
    with override_settings(SALESFORCE_CA_BUNDLE=bundle):
        yield
    if previous is None:
        os.environ.pop("SALESFORCE_CA_BUNDLE", None)
    else:
        os.environ["SALESFORCE_CA_BUNDLE"] = previous


@pytest.fixture
def salesforce(certificate):
    with SalesforceServer(certificate=certificate) as server:
        yield server


def connect(subscription, salesforce, **overrides) -> ConnectedOrg:
    fields = {
        "salesforce_login_url": salesforce.url,
        "salesforce_username": salesforce.username,
        "salesforce_password": salesforce.password,
        "salesforce_client_id": salesforce.client_id,
        "salesforce_client_secret": salesforce.client_secret,
        "salesforce_subscriber_org_id": SUBSCRIBER_ORG,
        "salesforce_package_id": PACKAGE,
        **overrides,
    }
    return ConnectedOrg.objects.create(
        organization=subscription.organization, kind=ConnectedOrg.Kind.SALESFORCE, **fields
    )


@pytest.fixture
def subscription(salesforce):
    subscription = SubscriptionFactory(quantity=3, admin_email="ada@acme.example")
    connect(subscription, salesforce)
    return subscription


@pytest.fixture
def licence(salesforce) -> str:
    """The subscriber org's licence record, among others of other orgs and packages."""
    salesforce.add_licence(subscriber_org_id=OTHER_ORG, package_id=PACKAGE, seats=40)
    record_id = salesforce.add_licence(subscriber_org_id=SUBSCRIBER_ORG, package_id=PACKAGE, seats=3)
    salesforce.add_licence(subscriber_org_id=SUBSCRIBER_ORG, package_id=OTHER_PACKAGE, seats=12)
    return record_id


def a_push(seats: int = 5) -> Push:
    return Push(
        delivery_id="seatsync_1",
        organization="acme",
        product="documents",
        seats=seats,
        seat_change=None,
        version=2,
        occurred_at=timezone.now(),
    )


def push(subscription, seats: int = 5) -> None:
    SalesforceConnector(ConnectedOrg.objects.get(organization=subscription.organization)).push(a_push(seats))


def only_sync(subscription) -> SeatSync:
    return SeatSync.objects.filter(subscription=subscription).latest("version")


# --- The connector ---------------------------------------------------------------------


def test_a_push_signs_in_finds_the_org_and_package_licence_and_sets_its_seats(
    subscription, salesforce, licence
):
    push(subscription, 5)

    assert [
        (r["sfLma__Subscriber_Org_ID__c"], r["sfLma__Package__c"], r["sfLma__Seats__c"])
        for r in salesforce.records
    ] == [(OTHER_ORG, PACKAGE, 40), (SUBSCRIBER_ORG, PACKAGE, 5), (SUBSCRIBER_ORG, OTHER_PACKAGE, 12)]
    login, query, update = salesforce.log
    assert (login.method, login.path, login.status) == ("POST", TOKEN_PATH, 200)
    assert login.form == {
        "grant_type": "password",
        "client_id": salesforce.client_id,
        "client_secret": salesforce.client_secret,
        "username": salesforce.username,
        "password": salesforce.password,
    }
    (token,) = salesforce.tokens
    assert (query.method, query.path, query.status) == ("GET", f"{DATA_PREFIX}/query/", 200)
    assert f"sfLma__Subscriber_Org_ID__c = '{SUBSCRIBER_ORG}'" in query.query["q"]
    assert query.headers["authorization"] == f"Bearer {token}"
    assert (update.method, update.path, update.status) == (
        "PATCH",
        f"{DATA_PREFIX}/sobjects/sfLma__License__c/{licence}",
        204,
    )
    assert update.json == {"sfLma__Seats__c": 5}
    assert update.headers["authorization"] == f"Bearer {token}"


def test_the_stand_ins_certificate_is_trusted_over_the_environments_ca_bundle(
    subscription, salesforce, licence, monkeypatch
):
    """requests lets REQUESTS_CA_BUNDLE override a session's `verify`: the connector's
    session must ignore the environment, or SALESFORCE_CA_BUNDLE is silently lost."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())

    push(subscription, 6)

    assert salesforce.seats(licence) == 6


def test_a_salesforce_whose_certificate_is_not_trusted_gets_no_credentials(
    subscription, salesforce, licence, settings, tmp_path
):
    settings.SALESFORCE_CA_BUNDLE = str(generate_certificate(tmp_path, "someone else").cert_path)

    with pytest.raises(PushFailed) as failure:
        push(subscription, 5)

    assert failure.value.message == "Salesforce could not be reached to sign in."
    assert salesforce.log == []  # the TLS handshake failed before any request was sent
    assert salesforce.seats(licence) == 3


@pytest.mark.parametrize(
    "wrong",
    [
        {"salesforce_password": "not-the-password"},
        {"salesforce_username": "someone@vendor.example"},
        {"salesforce_client_secret": "not-the-secret"},
    ],
)
def test_wrong_credentials_are_refused_in_words(salesforce, licence, wrong):
    subscription = SubscriptionFactory()
    connect(subscription, salesforce, **wrong)

    with pytest.raises(PushFailed) as failure:
        push(subscription, 5)

    assert failure.value.message == "Salesforce refused the integration user's credentials."
    assert [(r.path, r.status) for r in salesforce.log] == [(TOKEN_PATH, 400)]
    assert salesforce.seats(licence) == 3


def test_no_licence_record_for_the_org_and_package_is_reported_and_nothing_is_updated(
    subscription, salesforce
):
    other = salesforce.add_licence(subscriber_org_id=OTHER_ORG, package_id=PACKAGE, seats=40)

    with pytest.raises(PushFailed) as failure:
        push(subscription, 5)

    assert failure.value.message == "No licence record was found for this org and package in Salesforce."
    assert salesforce.requests("PATCH") == []
    assert salesforce.seats(other) == 40


def test_two_licence_records_for_the_org_and_package_are_reported_and_neither_is_updated(
    subscription, salesforce
):
    first = salesforce.add_licence(subscriber_org_id=SUBSCRIBER_ORG, package_id=PACKAGE, seats=3)
    second = salesforce.add_licence(subscriber_org_id=SUBSCRIBER_ORG, package_id=PACKAGE, seats=4)

    with pytest.raises(PushFailed) as failure:
        push(subscription, 5)

    assert failure.value.message == "Several licence records match this org and package in Salesforce."
    assert salesforce.requests("PATCH") == []
    assert (salesforce.seats(first), salesforce.seats(second)) == (3, 4)


def test_a_connection_that_is_not_fully_set_up_is_reported_without_calling_salesforce(salesforce):
    subscription = SubscriptionFactory()
    connect(subscription, salesforce, salesforce_package_id="")

    with pytest.raises(PushFailed) as failure:
        push(subscription, 5)

    assert failure.value.message == "The Salesforce connection is not fully set up."
    assert salesforce.log == []


def test_the_credentials_are_encrypted_at_rest_and_sent_decrypted(subscription, salesforce, licence):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT salesforce_password, salesforce_client_secret FROM licensing_connectedorg "
            "WHERE organization_id = %s",
            [subscription.organization_id],
        )
        stored = cursor.fetchone()

    assert all(value.startswith("fernet:") for value in stored)
    assert salesforce.password not in stored[0] and salesforce.client_secret not in stored[1]

    push(subscription, 5)  # read back from the database, decrypted, and accepted

    (login,) = salesforce.requests("POST")
    assert (login.form["password"], login.form["client_secret"]) == (
        salesforce.password,
        salesforce.client_secret,
    )


# --- The access token, cached -------------------------------------------------------------


def logins(salesforce) -> int:
    return len(salesforce.requests("POST", TOKEN_PATH))


def test_the_access_token_is_cached_between_pushes_encrypted_and_never_logged(
    subscription, salesforce, licence, caplog
):
    caplog.set_level(logging.DEBUG)

    push(subscription, 5)
    push(subscription, 6)

    assert salesforce.seats(licence) == 6
    assert logins(salesforce) == 1  # the second push went straight to the query and update
    assert [r.method for r in salesforce.log] == ["POST", "GET", "PATCH", "GET", "PATCH"]
    (token,) = salesforce.tokens
    assert {r.headers["authorization"] for r in salesforce.requests("PATCH")} == {f"Bearer {token}"}
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    (key,) = client.keys("*salesforce-token*")
    assert token.encode() not in client.get(key)
    assert salesforce.password not in key.decode()
    assert token not in caplog.text


def test_a_revoked_or_expired_token_signs_in_again_once(subscription, salesforce, licence):
    push(subscription, 5)
    salesforce.tokens.clear()  # the session expired, or an admin revoked it

    push(subscription, 7)

    assert salesforce.seats(licence) == 7
    assert [(r.method, r.status) for r in salesforce.log[3:]] == [
        ("GET", 401),
        ("POST", 200),
        ("GET", 200),
        ("PATCH", 204),
    ]
    push(subscription, 8)
    assert logins(salesforce) == 2  # the new token is the one kept


def test_changed_credentials_are_not_served_the_old_token(subscription, salesforce, licence):
    push(subscription, 5)
    salesforce.password = "a-new-password-and-token"
    connected_org = ConnectedOrg.objects.get(organization=subscription.organization)
    connected_org.salesforce_password = salesforce.password
    connected_org.save()

    push(subscription, 6)

    assert logins(salesforce) == 2
    assert salesforce.requests("POST")[-1].form["password"] == "a-new-password-and-token"


def test_a_cache_that_cannot_be_reached_only_means_signing_in(subscription, salesforce, licence):
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    with override_settings(CACHES=unreachable):
        push(subscription, 5)
        push(subscription, 6)

    assert salesforce.seats(licence) == 6
    assert logins(salesforce) == 2


# --- Delivery ----------------------------------------------------------------------------


def test_a_paid_change_is_delivered_to_salesforce_and_becomes_live(
    subscription, salesforce, licence, django_capture_on_commit_callbacks
):
    change = paid_seat_change(subscription, 5)
    sync = only_sync(subscription)

    with django_capture_on_commit_callbacks(execute=True):
        result = delivery.seat_sync_deliver(seat_sync_id=sync.pk)

    assert result.outcome == "delivered"
    assert salesforce.seats(licence) == 5
    sync.refresh_from_db()
    assert (sync.status, sync.attempts, sync.last_error) == ("delivered", 1, "")
    assert list(sync.attempts_log.values_list("outcome", flat=True)) == ["delivered"]
    change.refresh_from_db()
    assert change.state == SeatChange.State.APPLIED
    assert [m.subject for m in mail.outbox] == ["Your new seat count is live"]


@pytest.mark.parametrize(
    ("path_prefix", "error"),
    [
        (TOKEN_PATH, "Salesforce sign-in answered HTTP 503."),
        (DATA_PREFIX, "Salesforce refused the update (503)."),
    ],
    ids=["sign-in", "query"],
)
def test_an_outage_is_recorded_and_a_later_attempt_lands(
    subscription, salesforce, licence, path_prefix, error
):
    paid_seat_change(subscription, 5)
    sync = only_sync(subscription)
    salesforce.fail_next(1, status=503, path_prefix=path_prefix)

    failed = delivery.seat_sync_deliver(seat_sync_id=sync.pk)

    assert (failed.outcome, failed.error) == ("failed", error)
    assert 1 <= failed.retry_in <= 2
    sync.refresh_from_db()
    assert (sync.status, sync.attempts, sync.last_error) == ("pending", 1, error)
    assert salesforce.seats(licence) == 3

    assert delivery.seat_sync_deliver(seat_sync_id=sync.pk).outcome == "delivered"

    assert salesforce.seats(licence) == 5
    outcomes = list(
        SeatSyncAttempt.objects.filter(seat_sync=sync).order_by("id").values_list("outcome", "error")
    )
    assert outcomes == [("failed", error), ("delivered", "")]


def test_a_test_push_sends_the_current_count_to_salesforce(subscription, salesforce, licence):
    outcome = delivery.test_push(organization=subscription.organization)

    assert (outcome.ok, outcome.detail) == (True, "Delivered — Documents: 3")
    assert salesforce.seats(licence) == 3
    assert len(salesforce.requests("PATCH")) == 1


# --- Through the real worker (keep last: the module's worker lives until the end) ----------


@pytest.mark.django_db(transaction=True)
def test_a_paid_change_reaches_salesforce_through_the_worker_after_an_outage(
    celery_worker,  # noqa: F811
    subscription,
    salesforce,
    licence,
):
    assert celery_worker.env["SALESFORCE_CA_BUNDLE"] == salesforce.ca_bundle
    salesforce.fail_next(1, status=503)

    change = paid_seat_change(subscription, 5)
    sync = only_sync(subscription)

    assert wait_until(lambda: salesforce.seats(licence) == 5)
    assert wait_until(lambda: SeatChange.objects.get(pk=change.pk).state == SeatChange.State.APPLIED)
    sync.refresh_from_db()
    assert (sync.status, sync.attempts) == ("delivered", 2)
    outcomes = list(
        SeatSyncAttempt.objects.filter(seat_sync=sync).order_by("id").values_list("outcome", "error")
    )
    assert outcomes == [("failed", "Salesforce sign-in answered HTTP 503."), ("delivered", "")]
    assert [r.status for r in salesforce.requests("PATCH")] == [204]
