"""The outbound guard (licensing/connectors/outbound.py): connected orgs are public https
addresses. Refused when staff save them, and again at every push after resolving the
name, with nothing sent. Local receivers stand in for what must not be reached.

The test settings allow loopback (the receivers listen on 127.0.0.1); tests about
loopback turn it off, and every other address class is refused with it on."""

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from licensing import delivery
from licensing.connected_orgs import ConnectedOrgInput, connected_org_save
from licensing.connectors import Push, PushFailed, outbound, webhook
from licensing.connectors.salesforce import SalesforceConnector
from licensing.models import ConnectedOrg
from subscriptions.errors import InvalidInput
from subscriptions.models import SeatSync
from tests.factories import OrganizationFactory, SubscriptionFactory, paid_seat_change
from tests.receivers import WebhookReceiver
from tests.salesforce_server import DATA_PREFIX, TOKEN_PATH, SalesforceServer, generate_certificate

pytestmark = pytest.mark.django_db

NOT_LOOPBACK = [
    ("https://10.0.0.1/hook", "10.0.0.1 is a private network address"),
    ("https://172.16.5.4/hook", "172.16.5.4 is a private network address"),
    ("https://192.168.1.10/hook", "192.168.1.10 is a private network address"),
    ("https://[fd00::1]/hook", "fd00::1 is a private network address"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("https://[fe80::1]/hook", "fe80::1 is a link-local address"),
    ("https://100.64.0.1/hook", "100.64.0.1 is a carrier-grade NAT address"),
    ("https://0.0.0.0:6379/", "0.0.0.0 is the unspecified address"),
    ("https://[::]/hook", ":: is the unspecified address"),
    ("https://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
    ("https://[ff02::1]/hook", "ff02::1 is a multicast address"),
    ("https://240.0.0.1/hook", "240.0.0.1 is a reserved address"),
    ("https://192.0.2.10/hook", "192.0.2.10 is a reserved address"),
    ("https://[::ffff:10.0.0.1]/hook", "::ffff:10.0.0.1 is a private network address"),
    ("https://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254 is a link-local address"),
    ("https://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe is a link-local address"),
    ("https://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal is a cloud metadata"),
    ("https://instance-data.ec2.internal/", "instance-data.ec2.internal is a cloud metadata"),
    ("https://billing.internal/", "billing.internal is not a public internet name"),
    ("https://printer.local/", "printer.local is not a public internet name"),
    ("http://hooks.acme.example/seatmgr", "the URL must start with https://"),
]
LOOPBACK = [
    ("http://127.0.0.1:6379/", "127.0.0.1 is a loopback address"),
    ("https://127.1.2.3/hook", "127.1.2.3 is a loopback address"),
    ("https://[::1]:5432/", "::1 is a loopback address"),
    ("https://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback address"),
    ("https://localhost:5432/", "localhost resolves to a loopback address"),
]


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.release()
    server.stop()


def save_webhook(organization, url: str):
    return connected_org_save(
        organization=organization, data=ConnectedOrgInput(kind="webhook", webhook_url=url)
    )


def webhook_org(subscription, url: str) -> ConnectedOrg:
    """Stored as it may have been before the guard (or while loopback was allowed)."""
    return ConnectedOrg.objects.create(
        organization=subscription.organization,
        kind=ConnectedOrg.Kind.WEBHOOK,
        webhook_url=url,
        webhook_secret=webhook.new_secret(),
    )


def a_push() -> Push:
    return Push(
        delivery_id="seatsync_1",
        organization="acme",
        product="documents",
        seats=5,
        seat_change=None,
        version=2,
        occurred_at=timezone.now(),
    )


# --- Saving -----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "why"), NOT_LOOPBACK)
def test_an_address_that_is_not_public_https_is_refused_at_save_even_with_loopback_allowed(url, why):
    organization = OrganizationFactory()

    with pytest.raises(InvalidInput) as refused:
        save_webhook(organization, url)

    assert refused.value.extra["field"] == "webhook_url"
    assert refused.value.message.startswith(f"This address is not allowed: {why}")
    assert not ConnectedOrg.objects.exists()
    assert not AuditEvent.objects.filter(action="connected_org.updated").exists()


@pytest.mark.parametrize(("url", "why"), LOOPBACK)
def test_a_loopback_address_is_refused_at_save_unless_loopback_is_allowed(url, why, settings):
    settings.CONNECTED_ORG_ALLOW_LOOPBACK = False
    organization = OrganizationFactory()

    with pytest.raises(InvalidInput) as refused:
        save_webhook(organization, url)

    assert refused.value.message.startswith(f"This address is not allowed: {why}")
    assert not ConnectedOrg.objects.exists()

    settings.CONNECTED_ORG_ALLOW_LOOPBACK = True
    assert save_webhook(organization, url).connected_org.webhook_url == url


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://files.acme.example/", "https://metadata/"],
)
def test_other_schemes_and_bare_names_are_refused_at_save(url):
    with pytest.raises(InvalidInput) as refused:
        save_webhook(OrganizationFactory(), url)

    assert refused.value.message == "Enter a full URL starting with https://."
    assert not ConnectedOrg.objects.exists()


def test_a_public_https_name_is_saved_even_before_it_resolves():
    saved = save_webhook(OrganizationFactory(), "https://hooks.acme.example/seatmgr")

    assert saved.connected_org.webhook_url == "https://hooks.acme.example/seatmgr"


# --- Sending ----------------------------------------------------------------------------


def test_an_address_saved_while_loopback_was_allowed_is_refused_at_push_once_it_is_not(receiver, settings):
    subscription = SubscriptionFactory(quantity=3)
    url = f"http://localhost:{receiver.port}/seatmgr"
    save_webhook(subscription.organization, url)
    settings.CONNECTED_ORG_ALLOW_LOOPBACK = False
    paid_seat_change(subscription, 5)
    sync = SeatSync.objects.get(subscription=subscription)

    result = delivery.seat_sync_deliver(seat_sync_id=sync.pk)
    outcome = delivery.test_push(organization=subscription.organization)

    assert result.outcome == "failed"
    sync.refresh_from_db()
    assert (sync.status, sync.last_error) == (
        "pending",
        "Not sent: localhost resolves to a loopback address (this server).",
    )
    assert (outcome.ok, outcome.detail) == (False, sync.last_error)
    assert receiver.received == []


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.1:6379/", "10.0.0.1 is a private network address"),
        ("https://metadata.google.internal/", "metadata.google.internal is a cloud metadata service"),
        ("http://hooks.acme.example/", "the URL must start with https://"),
    ],
)
def test_a_stored_address_that_is_not_public_https_is_never_connected_to(url, why):
    subscription = SubscriptionFactory()
    webhook_org(subscription, url)

    outcome = delivery.test_push(organization=subscription.organization)

    assert not outcome.ok and outcome.detail.startswith(f"Not sent: {why}")


def test_a_push_connects_to_the_checked_address_and_keeps_the_name_in_the_host_header(receiver):
    subscription = SubscriptionFactory(quantity=3)
    webhook_org(subscription, f"http://localhost:{receiver.port}/seatmgr")

    outcome = delivery.test_push(organization=subscription.organization)

    assert outcome.ok
    (request,) = receiver.received
    assert request.headers["host"] == f"localhost:{receiver.port}"


def test_a_proxy_from_the_environment_is_not_used(receiver, monkeypatch):
    """A proxy connects wherever it is asked: the push goes straight to the checked address."""
    proxy = WebhookReceiver()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        subscription = SubscriptionFactory(quantity=3)
        webhook_org(subscription, receiver.url)

        assert delivery.test_push(organization=subscription.organization).ok
        assert len(receiver.received) == 1 and proxy.received == []
    finally:
        proxy.stop()


def test_a_redirect_is_not_followed(receiver):
    target = WebhookReceiver()
    try:
        receiver.redirect_to(target.url)
        subscription = SubscriptionFactory(quantity=3)
        webhook_org(subscription, receiver.url)
        paid_seat_change(subscription, 5)
        sync = SeatSync.objects.get(subscription=subscription)

        delivery.seat_sync_deliver(seat_sync_id=sync.pk)

        sync.refresh_from_db()
        assert (sync.status, sync.last_error) == (
            "pending",
            "Your org answered HTTP 307: redirects are not followed.",
        )
        assert len(receiver.received) == 1
        assert target.received == []
    finally:
        target.stop()


# --- What a test push says --------------------------------------------------------------


def test_a_test_push_says_delivered_refused_with_the_status_or_unreachable_and_nothing_else(receiver):
    subscription = SubscriptionFactory(quantity=3)
    webhook_org(subscription, receiver.url)

    delivered = delivery.test_push(organization=subscription.organization)
    receiver.fail_next(1)
    refused = delivery.test_push(organization=subscription.organization)
    receiver.stop()
    unreachable = delivery.test_push(organization=subscription.organization)
    receiver.start()

    assert (delivered.ok, delivered.detail) == (True, "Delivered — Documents: 3")
    assert (refused.ok, refused.detail) == (False, "Your org answered HTTP 503.")
    assert (unreachable.ok, unreachable.detail) == (False, "Your org could not be reached.")
    audited = AuditEvent.objects.filter(action="connected_org.test_push").order_by("pk")
    assert [event.after["detail"] for event in audited] == [
        delivered.detail,
        refused.detail,
        unreachable.detail,
    ]


def test_an_org_that_accepts_the_connection_but_never_answers_is_just_unreachable(receiver, monkeypatch):
    """A silent port and a closed one read the same: nothing tells what listens where."""
    monkeypatch.setattr(outbound, "READ_TIMEOUT", 0.3)
    subscription = SubscriptionFactory(quantity=3)
    webhook_org(subscription, receiver.url)
    receiver.stall_next()

    outcome = delivery.test_push(organization=subscription.organization)

    assert (outcome.ok, outcome.detail) == (False, "Your org could not be reached.")


def test_the_django_admins_test_push_reports_a_refusal_without_sending(admin_client, receiver, settings):
    subscription = SubscriptionFactory(quantity=3)
    connected = webhook_org(subscription, f"http://127.0.0.1:{receiver.port}/seatmgr")
    settings.CONNECTED_ORG_ALLOW_LOOPBACK = False

    response = admin_client.post(
        "/admin/licensing/connectedorg/",
        {"action": "send_test_push", "_selected_action": [connected.pk]},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        f"{subscription.organization}: Not sent: 127.0.0.1 is a loopback address (this server)."
    ]
    assert receiver.received == []


# --- Salesforce ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return generate_certificate(tmp_path_factory.mktemp("salesforce-tls"))


@pytest.fixture
def salesforce(certificate, settings):
    settings.SALESFORCE_CA_BUNDLE = str(certificate.cert_path)
    with SalesforceServer(certificate=certificate) as server:
        yield server


def salesforce_org(subscription, salesforce, login_url: str) -> ConnectedOrg:
    return ConnectedOrg.objects.create(
        organization=subscription.organization,
        kind=ConnectedOrg.Kind.SALESFORCE,
        salesforce_login_url=login_url,
        salesforce_username=salesforce.username,
        salesforce_password=salesforce.password,
        salesforce_client_id=salesforce.client_id,
        salesforce_client_secret=salesforce.client_secret,
        salesforce_subscriber_org_id="00D5g000004ACME",
        salesforce_package_id="0335g000000DOCS",
    )


@pytest.mark.parametrize(
    "instance_url",
    ["https://acme.my.salesforce.com.evil.example", "https://169.254.169.254", "http://127.0.0.1:{port}"],
)
def test_an_instance_outside_salesforce_named_by_the_sign_in_gets_nothing(salesforce, instance_url):
    salesforce.instance_url = instance_url.format(port=salesforce.port)
    salesforce.add_licence(subscriber_org_id="00D5g000004ACME", package_id="0335g000000DOCS", seats=3)
    connected = salesforce_org(SubscriptionFactory(), salesforce, salesforce.url)

    with pytest.raises(PushFailed) as failure:
        SalesforceConnector(connected).push(a_push())

    assert failure.value.message == "Not sent: Salesforce's sign-in answer names no Salesforce instance."
    assert [(r.method, r.path) for r in salesforce.log] == [("POST", TOKEN_PATH)]


def test_a_redirect_from_salesforce_is_not_followed(salesforce):
    record = salesforce.add_licence(
        subscriber_org_id="00D5g000004ACME", package_id="0335g000000DOCS", seats=3
    )
    connected = salesforce_org(SubscriptionFactory(), salesforce, salesforce.url)
    salesforce.fail_next(1, status=302, path_prefix=DATA_PREFIX)

    with pytest.raises(PushFailed) as failure:
        SalesforceConnector(connected).push(a_push())

    assert failure.value.message == "Salesforce answered HTTP 302: redirects are not followed."
    assert salesforce.requests("PATCH") == [] and salesforce.seats(record) == 3


def test_tls_checks_the_name_while_connecting_to_the_checked_address(tmp_path, settings):
    """The certificate names only `localhost`: the push lands only if TLS (SNI and the
    certificate check) is about the name, although the connection goes to 127.0.0.1."""
    certificate = generate_certificate(tmp_path, ip_address=False)
    settings.SALESFORCE_CA_BUNDLE = str(certificate.cert_path)
    with SalesforceServer(certificate=certificate) as salesforce:
        salesforce.instance_url = f"https://localhost:{salesforce.port}"
        record = salesforce.add_licence(subscriber_org_id="00D5g000004ACME", package_id="0335g000000DOCS")
        connected = salesforce_org(SubscriptionFactory(), salesforce, salesforce.instance_url)

        SalesforceConnector(connected).push(a_push())

        assert salesforce.seats(record) == 5
        assert set(salesforce.server_names) == {"localhost"}


@pytest.mark.parametrize(
    ("login_url", "why"),
    [
        (
            "https://login.salesforce.com.evil.example",
            "login.salesforce.com.evil.example is not a Salesforce domain",
        ),
        ("https://evilsalesforce.com", "evilsalesforce.com is not a Salesforce domain"),
        ("https://10.0.0.1", "10.0.0.1 is not a Salesforce domain"),
        ("http://login.salesforce.com", "the URL must start with https://"),
    ],
)
def test_a_login_url_outside_salesforce_is_refused_at_save_and_at_push(login_url, why, salesforce):
    organization = OrganizationFactory()
    typed = {
        "kind": "salesforce",
        "salesforce_login_url": login_url,
        "salesforce_username": "integration@acme.example",
        "salesforce_password": "pw-and-token",
        "salesforce_client_id": "3MVG9",
        "salesforce_client_secret": "consumer-secret",
        "salesforce_subscriber_org_id": "00D000000000001",
        "salesforce_package_id": "033000000000001AAA",
    }

    with pytest.raises(InvalidInput) as refused:
        connected_org_save(organization=organization, data=ConnectedOrgInput(**typed))
    subscription = SubscriptionFactory(organization=organization)
    stored = salesforce_org(subscription, salesforce, login_url)
    with pytest.raises(PushFailed) as failure:
        SalesforceConnector(stored).push(a_push())

    assert refused.value.extra["field"] == "salesforce_login_url"
    assert refused.value.message.startswith(f"This address is not allowed: {why}")
    assert failure.value.message == f"Not sent: the Salesforce login URL is refused ({why})."
    assert salesforce.log == []


@pytest.mark.parametrize(
    "login_url",
    [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        "https://acme.my.salesforce.com",
        "https://acme--uat.sandbox.my.salesforce.com",
        "https://agency.my.salesforce.mil",
    ],
)
def test_salesforce_login_urls_on_salesforce_domains_are_saved(login_url):
    saved = connected_org_save(
        organization=OrganizationFactory(),
        data=ConnectedOrgInput(
            kind="salesforce",
            salesforce_login_url=login_url,
            salesforce_username="integration@acme.example",
            salesforce_password="pw-and-token",
            salesforce_client_id="3MVG9",
            salesforce_client_secret="consumer-secret",
            salesforce_subscriber_org_id="00D000000000001",
            salesforce_package_id="033000000000001AAA",
        ),
    )

    assert saved.connected_org.salesforce_login_url == login_url


def test_the_local_salesforce_stand_in_is_refused_once_loopback_is_not_allowed(salesforce, settings):
    connected = salesforce_org(SubscriptionFactory(), salesforce, salesforce.url)
    settings.CONNECTED_ORG_ALLOW_LOOPBACK = False

    with pytest.raises(PushFailed) as failure:
        SalesforceConnector(connected).push(a_push())

    assert failure.value.message == (
        "Not sent: the Salesforce login URL is refused (127.0.0.1 is not a Salesforce domain)."
    )
    assert salesforce.log == []
