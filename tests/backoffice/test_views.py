"""Back-office pages: what account managers see and what each button does."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from backoffice import services
from licensing.connectors import webhook
from licensing.models import ConnectedOrg
from portal import services as portal_services
from subscriptions.models import CapabilityLink, Organization, SeatChange, Subscription
from tests.agreements.factories import verified
from tests.factories import LicenceAssignmentFactory, PlanFactory, SubscriptionFactory, paid_seat_change
from tests.portal.test_money_story import said
from tests.receivers import WebhookReceiver

from .factories import payment_factory, seat_change_signed

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- Approvals queue ---------------------------------------------------------------------


def test_the_queue_shows_what_to_decide_with_a_badge_after_two_business_days(accounts, monkeypatch):
    SeatChange.objects.filter(pk=accounts.decrease.pk).update(signed_at=datetime(2026, 11, 5, 10, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 9, 11, tzinfo=UTC))  # Thu → Mon

    page = signed_in(accounts.am).get("/backoffice/")

    body = page.content.decode()
    (row,) = page.context["page"].object_list
    assert (row.licences_in_use, row.overdue) == (3, True)
    assert "Acme Secret-A Ltd" in body and "5 → 3" in body and "Ada Admin" in body
    assert "Over 2 business days" in body
    assert f"/backoffice/changes/{accounts.decrease.number}/" in body


def test_two_business_days_over_a_weekend_are_not_overdue_yet(accounts, monkeypatch):
    SeatChange.objects.filter(pk=accounts.decrease.pk).update(signed_at=datetime(2026, 11, 6, 10, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 10, 9, tzinfo=UTC))  # Fri → Tue

    page = signed_in(accounts.am).get("/backoffice/", {"overdue": "1"})

    assert list(page.context["page"].object_list) == []
    assert "Nothing is waiting for approval with these filters" in page.content.decode()


def test_the_queue_filters_and_sorts(accounts):
    other = seat_change_signed(
        SubscriptionFactory(
            organization=accounts.other_organization, quantity=9, plan=PlanFactory(product__code="signature")
        ),
        2,
    )
    client = signed_in(accounts.manager)

    def numbers(**query):
        return [r.seat_change.number for r in client.get("/backoffice/", query).context["page"].object_list]

    assert numbers() == [accounts.decrease.number, other.number]
    assert numbers(sort="newest") == [other.number, accounts.decrease.number]
    assert numbers(sort="largest") == [other.number, accounts.decrease.number]
    assert numbers(product="signature") == [other.number]
    assert numbers(q="acme") == [accounts.decrease.number]
    assert numbers(account_manager=str(accounts.other_am.pk)) == [other.number]
    assert numbers(account_manager="none") == []


# --- Approve and reject ------------------------------------------------------------------


def test_approving_from_the_page_applies_the_decrease_and_says_so(
    accounts, django_capture_on_commit_callbacks
):
    client = signed_in(accounts.am)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/backoffice/changes/{accounts.decrease.number}/approve/", follow=True)

    assert response.redirect_chain[-1][0] == "/backoffice/"
    assert messages_of(response) == [
        "Approved: Acme Secret-A Ltd now has 3 users. The customer has been told."
    ]
    accounts.subscription.refresh_from_db()
    assert accounts.subscription.quantity == 3
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Approved"]


def test_the_second_manager_is_told_who_approved_first(accounts):
    services.seat_change_approve(seat_change=accounts.decrease, actor=accounts.am)

    response = signed_in(accounts.manager).post(
        f"/backoffice/changes/{accounts.decrease.number}/reject/", {"reason": "Too late"}, follow=True
    )

    (message,) = messages_of(response)
    assert message.startswith(
        f"Seat change {accounts.decrease.number} was already approved by Alex Manager on "
    )
    body = response.content.decode()
    assert "Being applied" in body and "Approved by Alex Manager" in body
    assert 'action="/backoffice/changes/' not in body  # no decision forms any more


def test_rejecting_without_a_reason_shows_the_form_again_with_the_rule(accounts):
    response = signed_in(accounts.am).post(
        f"/backoffice/changes/{accounts.decrease.number}/reject/", {"reason": "  "}
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "Give the customer a reason for rejecting the decrease." in body
    assert 'aria-invalid="true"' in body
    accounts.decrease.refresh_from_db()
    assert accounts.decrease.state == SeatChange.State.AWAITING_APPROVAL


def test_rejecting_with_a_reason_tells_the_customer(accounts, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(accounts.am).post(
            f"/backoffice/changes/{accounts.decrease.number}/reject/",
            {"reason": "Minimum term until March"},
            follow=True,
        )

    assert messages_of(response) == [
        f"Rejected: {accounts.decrease.number}. The customer has been sent your reason."
    ]
    assert "Their reason: Minimum term until March" in mail.outbox[0].body


def test_a_decrease_that_no_longer_fits_is_explained_before_and_after_approving(accounts):
    LicenceAssignmentFactory(subscription=accounts.subscription)  # 4 in use, decrease to 3
    client = signed_in(accounts.am)

    page = client.get(f"/backoffice/changes/{accounts.decrease.number}/")
    refused = client.post(f"/backoffice/changes/{accounts.decrease.number}/approve/", follow=True)

    assert "approval will be refused until the customer frees 1 more" in page.content.decode()
    (message,) = messages_of(refused)
    assert message.startswith("4 licences would still be in use after this decrease to 3")


POUNDS = re.compile(r"-?£[\d,]+\.\d\d")


def test_the_seat_change_page_tells_the_money_story_the_customer_was_shown(accounts):
    subscription = SubscriptionFactory(
        organization=accounts.organization,
        quantity=3,
        plan=PlanFactory(product__code="signature", unit_amount=9000, currency="gbp"),
        admin_email="ada@customer.example",
    )
    increase = portal_services.seat_change_start(subscription=subscription, raw_new_total=5)
    customer = signed_in(verified(accounts.customer.user))
    customer_page = f"/subscriptions/{subscription.pk}/changes/{increase.number}/"
    signing = customer.get(customer_page).content.decode()
    assert "Sign the agreement" in signing  # what the customer read before signing

    page = signed_in(accounts.am).get(f"/backoffice/changes/{increase.number}/").content.decode()

    (due,) = POUNDS.findall(said(signing, "due-now"))
    assert due == f"£{increase.amount_due / 100:,.2f}" and increase.amount_due > 0
    assert POUNDS.findall(said(page, "due-now")) == [due]
    renewal = said(signing, "renewal")
    assert renewal.startswith("£450.00 for 5 users, on ")  # 5 seats at £90.00
    assert said(page, "renewal") == renewal
    proration = said(page, "proration")
    charge, credit = POUNDS.findall(proration)
    assert (charge, credit) == (f"£{increase.debit / 100:,.2f}", f"-£{-increase.credit / 100:,.2f}")
    assert increase.debit + increase.credit == increase.amount_due
    assert "for the remaining time on 5 users" in proration and "unused time on 3 users" in proration

    # Cancelled at the period end: the stored renewal amount is not what anyone is billed.
    Subscription.objects.filter(pk=subscription.pk).update(cancel_at_period_end=True)
    signing = customer.get(customer_page).content.decode()
    page = signed_in(accounts.am).get(f"/backoffice/changes/{increase.number}/").content.decode()

    assert said(page, "ends-on") == said(signing, "ends-on")
    assert said(page, "ends-on").endswith("(cancelled: no renewal)")
    assert 'data-testid="renewal"' not in page and "£450.00" not in page


def test_the_signed_agreement_opens_as_a_pdf(accounts):
    subscription = SubscriptionFactory(organization=accounts.organization, quantity=4)
    change = seat_change_signed(subscription, 2, with_agreement=True)

    response = signed_in(accounts.am).get(f"/backoffice/changes/{change.number}/agreement.pdf")

    assert response["Content-Type"] == "application/pdf"
    day = f"{change.agreement.signed_at:%Y-%m-%d}"
    assert response["Content-Disposition"] == (
        f'inline; filename="change-agreement-acme-secret-a-ltd-{change.number}-signed-{day}.pdf"'
    )
    assert response.content.startswith(b"%PDF-")


# --- Account page ------------------------------------------------------------------------


def test_the_account_page_charts_seats_over_time_from_the_audit_log(accounts):
    subscription = SubscriptionFactory(
        organization=accounts.organization, quantity=2, plan=PlanFactory(product__code="signature")
    )
    paid_seat_change(subscription, 6)

    page = signed_in(accounts.am).get(f"/backoffice/accounts/{accounts.organization.pk}/")

    body = page.content.decode()
    assert body.count('role="img"') == 2
    assert "Seats over time: Signature" in body
    panel = next(p for p in page.context["overview"].subscriptions if p.subscription.pk == subscription.pk)
    assert [row.quantity for row in panel.chart.rows] == [2, 6]
    assert "2 seats on" in panel.chart.summary and "6 now" in panel.chart.summary
    assert "Paid increase" in body
    assert "Sending to your org" in body  # the push it caused


def test_the_account_page_lists_payments_with_their_receipts(accounts):
    subscription = SubscriptionFactory(
        organization=accounts.organization, quantity=2, plan=PlanFactory(product__code="signature")
    )
    paid = payment_factory(seat_change_signed(subscription, 4), receipt_number="R-2026-0042")
    client = signed_in(accounts.am)

    page = client.get(f"/backoffice/accounts/{accounts.organization.pk}/")
    receipt = client.get(f"/backoffice/payments/{paid.pk}/receipt.pdf")

    body = page.content.decode()
    assert "Visa •••• 4242" in body and "R-2026-0042" in body and "Paid" in body
    assert receipt["Content-Type"] == "application/pdf"
    assert receipt["Content-Disposition"] == (
        f'inline; filename="receipt-acme-secret-a-ltd-R-2026-0042-{paid.paid_at:%Y-%m-%d}.pdf"'
    )


def test_the_audit_log_exports_as_csv_and_the_export_is_audited(accounts):
    audit_record(
        action="note",
        organization=accounts.organization,
        actor_label='=HYPERLINK("http://x")',
        after={"a": 1},
    )
    audit_record(action="elsewhere", organization=accounts.other_organization)

    response = signed_in(accounts.am).get(f"/backoffice/accounts/{accounts.organization.pk}/audit.csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["time (UTC)", "actor", "actor label", "action"]
    actions = [row[3] for row in rows[1:]]
    assert "seat_change.created" in actions and "note" in actions and "elsewhere" not in actions
    note = next(row for row in rows if row[3] == "note")
    assert note[2] == '\'=HYPERLINK("http://x")' and note[8] == '{"a": 1}'
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor == accounts.am and exported.organization_id == accounts.organization.pk


def test_links_can_be_sent_again_replaced_and_revoked(accounts, django_capture_on_commit_callbacks):
    client = signed_in(accounts.am)
    subscription = accounts.subscription

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/backoffice/subscriptions/{subscription.pk}/links/send/")
    active = CapabilityLink.objects.filter(subscription=subscription, revoked_at__isnull=True)
    assert active.count() == 2 and mail.outbox[-1].subject == "Your Documents links"

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/backoffice/subscriptions/{subscription.pk}/links/rotate/")
    assert active.count() == 2 and CapabilityLink.objects.filter(revoked_at__isnull=False).count() == 2
    assert mail.outbox[-1].subject == "Your new Opero Documents links"

    link = active.first()
    response = client.post(f"/backoffice/links/{link.pk}/revoke/", follow=True)
    assert active.count() == 1
    assert messages_of(response)[-1].endswith("no longer works.")
    events = AuditEvent.objects.filter(actor=accounts.am).values_list("action", flat=True)
    assert {"link.issued", "links.rotated", "link.revoked"} <= set(events)


def test_a_pending_subscription_is_activated_from_its_account_page(
    accounts, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory(
        organization=accounts.organization,
        status=Subscription.Status.PENDING,
        plan=PlanFactory(product__code="signature"),
        admin_email="ada@customer.example",
    )
    client = signed_in(accounts.am)
    page = client.get(f"/backoffice/accounts/{accounts.organization.pk}/")
    assert "Activate and send links" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/backoffice/subscriptions/{subscription.pk}/activate/", follow=True)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert mail.outbox[-1].subject == "Opero Signature is now active"
    assert "is active" in messages_of(response)[-1]


def test_send_test_push_reports_the_outcome(accounts):
    response = signed_in(accounts.am).post(
        f"/backoffice/accounts/{accounts.organization.pk}/test-push/", follow=True
    )

    (message,) = messages_of(response)
    assert message == "Test push: Delivered — Documents: 5"
    assert AuditEvent.objects.get(action="connected_org.test_push").actor == accounts.am


def test_a_test_push_to_an_address_no_longer_allowed_is_refused_without_sending(accounts, settings):
    receiver = WebhookReceiver()
    try:
        ConnectedOrg.objects.create(
            organization=accounts.organization,
            kind="webhook",
            webhook_url=receiver.url,
            webhook_secret=webhook.new_secret(),
        )
        settings.CONNECTED_ORG_ALLOW_LOOPBACK = False

        response = signed_in(accounts.am).post(
            f"/backoffice/accounts/{accounts.organization.pk}/test-push/", follow=True
        )

        assert messages_of(response) == [
            "Test push failed: Not sent: 127.0.0.1 is a loopback address (this server)."
        ]
        assert receiver.received == []
    finally:
        receiver.stop()


def connector_form(**fields) -> dict:
    return {"kind": "built_in", **fields}


def test_the_connector_is_set_to_a_signed_webhook_and_its_secret_shown_once(accounts):
    receiver = WebhookReceiver()
    client = signed_in(accounts.am)
    url = f"/backoffice/accounts/{accounts.organization.pk}/connected-org/"
    try:
        page = client.get(url)
        assert page.status_code == 200
        assert "Built-in (seatmgr is the licence server)" in page.content.decode()

        saved = client.post(url, connector_form(kind="webhook", webhook_url=receiver.url))

        assert saved.status_code == 200 and saved["Cache-Control"] == "no-store"
        secret = saved.context["secret"]
        assert secret.startswith("whsec_") and secret in saved.content.decode()
        assert "shown only this once" in saved.content.decode()
        again = client.get(url).content.decode()
        assert secret not in again and "Signing secret: set" in again

        pushed = client.post(f"/backoffice/accounts/{accounts.organization.pk}/test-push/", follow=True)

        assert messages_of(pushed) == ["Test push: Delivered — Documents: 5"]
        (push,) = receiver.received
        assert webhook.verify(secret=secret, headers=push.headers, body=push.body)
        assert push.json["seats"] == 5
    finally:
        receiver.stop()
    audit = AuditEvent.objects.get(action="connected_org.updated")
    assert audit.actor == accounts.am
    assert audit.after["webhook_url"] == receiver.url and audit.after["webhook_secret"] == "new secret"
    assert secret not in str(audit.before) + str(audit.after)


def test_a_bad_connector_setting_is_shown_on_its_field_and_nothing_is_stored(accounts):
    client = signed_in(accounts.am)
    url = f"/backoffice/accounts/{accounts.organization.pk}/connected-org/"

    bad_url = client.post(url, connector_form(kind="webhook", webhook_url="acme.example/hook"))
    bad_salesforce = client.post(
        url,
        connector_form(
            kind="salesforce",
            salesforce_login_url="https://login.salesforce.com",
            salesforce_username="integration@acme.example",
            salesforce_password="pw",
            salesforce_client_id="3MVG9",
            salesforce_client_secret="shh",
            salesforce_subscriber_org_id="00D-not-an-id",
            salesforce_package_id="033000000000001",
        ),
    )

    assert bad_url.status_code == 400
    assert bad_url.context["form"].errors == {"webhook_url": ["Enter a full URL starting with https://."]}
    assert bad_salesforce.status_code == 400
    assert bad_salesforce.context["form"].errors == {
        "salesforce_subscriber_org_id": ["Enter the subscriber org id: 15 or 18 letters and digits."]
    }
    assert "shh" not in bad_salesforce.content.decode()  # secrets are never echoed back
    assert not ConnectedOrg.objects.exists()
    assert not AuditEvent.objects.filter(action="connected_org.updated").exists()


def test_an_internal_address_is_refused_on_its_field_and_nothing_is_stored(accounts):
    response = signed_in(accounts.am).post(
        f"/backoffice/accounts/{accounts.organization.pk}/connected-org/",
        connector_form(kind="webhook", webhook_url="https://169.254.169.254/latest/meta-data/"),
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "webhook_url": [
            "This address is not allowed: 169.254.169.254 is a link-local address (cloud metadata services "
            "live there). Seat counts go only to public https addresses."
        ]
    }
    assert not ConnectedOrg.objects.exists()
    assert not AuditEvent.objects.filter(action="connected_org.updated").exists()


def test_salesforce_secrets_left_empty_are_kept(accounts):
    ConnectedOrg.objects.create(
        organization=accounts.organization,
        kind="salesforce",
        salesforce_username="integration@acme.example",
        salesforce_password="old-password",
        salesforce_client_id="3MVG9",
        salesforce_client_secret="old-secret",
        salesforce_subscriber_org_id="00D000000000001",
        salesforce_package_id="033000000000001",
    )
    client = signed_in(accounts.am)
    url = f"/backoffice/accounts/{accounts.organization.pk}/connected-org/"
    form = client.get(url).context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    assert "old-password" not in client.get(url).content.decode()

    response = client.post(url, {**data, "salesforce_package_id": "033000000000002AAA"}, follow=True)

    assert messages_of(response) == ["Connector saved. Send a test push to check it."]
    stored = ConnectedOrg.objects.get()
    assert (stored.salesforce_password, stored.salesforce_client_secret) == ("old-password", "old-secret")
    assert stored.salesforce_package_id == "033000000000002AAA"
    audit = AuditEvent.objects.get(action="connected_org.updated")
    assert audit.after == {"salesforce_package_id": "033000000000002AAA"}


# --- New account, and a change for the customer ------------------------------------------


def test_a_new_account_from_the_form(accounts, django_capture_on_commit_callbacks):
    plan = PlanFactory(code="documents-monthly")
    form = {
        "name": "Initech",
        "billing_email": "ap@initech.example",
        "admin_name": "Peter Gibbons",
        "admin_email": "peter@initech.example",
        "plan": str(plan.pk),
        "seats": "4",
        "period_start": "2026-11-01",
        "activate": "on",
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(accounts.am).post("/backoffice/accounts/new/", form, follow=True)

    organization = Organization.objects.get(slug="initech")
    assert response.redirect_chain[-1][0] == f"/backoffice/accounts/{organization.pk}/"
    assert organization.account_manager == accounts.am
    assert [m.subject for m in mail.outbox] == ["Opero Documents is now active"]
    assert "/accounts/login/ with peter@initech.example" in mail.outbox[0].body  # their new account


def test_a_new_account_form_shows_each_mistake_on_its_field(accounts):
    response = signed_in(accounts.am).post(
        "/backoffice/accounts/new/",
        {
            "name": "X",
            "billing_email": "nope",
            "admin_name": "",
            "admin_email": "am@vendor.example",
            "seats": "0",
        },
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {"billing_email", "admin_name", "plan", "seats", "period_start"}
    assert "account_manager" not in response.context["form"].fields  # only managers choose


def test_a_change_for_the_customer_from_the_form(accounts, django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(
        organization=accounts.organization, quantity=2, plan=PlanFactory(product__code="signature")
    )
    client = signed_in(accounts.am)
    page = client.get(f"/backoffice/subscriptions/{subscription.pk}/change/")
    assert page.context["form"]["signer_email"] == subscription.admin_email

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/backoffice/subscriptions/{subscription.pk}/change/",
            {"new_total": "3", "signer_name": "Ada Admin", "signer_email": "ada@customer.example"},
            follow=True,
        )

    change = SeatChange.objects.get(subscription=subscription)
    assert response.redirect_chain[-1][0] == f"/backoffice/changes/{change.number}/"
    assert change.requested_via == "backoffice" and change.requested_by == accounts.am
    assert mail.outbox[-1].to == ["ada@customer.example"]
    assert "Waiting for signature" in response.content.decode()


def test_a_bad_new_total_for_the_customer_is_explained(accounts):
    subscription = SubscriptionFactory(
        organization=accounts.organization, quantity=2, plan=PlanFactory(product__code="signature")
    )

    response = signed_in(accounts.am).post(
        f"/backoffice/subscriptions/{subscription.pk}/change/",
        {"new_total": "2", "signer_name": "Ada", "signer_email": "ada@customer.example"},
    )

    assert response.status_code == 400
    assert "You already have 2 users" in response.content.decode()
    assert not SeatChange.objects.filter(subscription=subscription).exists()


def test_the_account_list_counts_waiting_approvals(accounts):
    page = signed_in(accounts.am).get("/backoffice/accounts/")

    (organization,) = page.context["page"].object_list
    assert (organization.name, organization.subscription_count, organization.pending_approvals) == (
        "Acme Secret-A Ltd",
        1,
        1,
    )


def test_a_scheduled_decrease_shows_on_the_chart_as_a_dashed_step(accounts, period_end_plan):
    subscription = SubscriptionFactory(organization=accounts.organization, plan=period_end_plan, quantity=5)
    change = services.seat_change_approve(seat_change=seat_change_signed(subscription, 4), actor=accounts.am)

    page = signed_in(accounts.am).get(f"/backoffice/accounts/{accounts.organization.pk}/")

    panel = next(p for p in page.context["overview"].subscriptions if p.subscription.pk == subscription.pk)
    assert panel.open_change == change
    assert panel.chart.scheduled_path.startswith("M")
    assert panel.chart.summary.endswith("(scheduled).")
    day = change.effective_at
    assert f"approved, takes effect at period end on {day.day} {day:%b %Y}" in page.content.decode()


def test_every_back_office_action_is_audited_with_the_member_of_staff(accounts):
    client = signed_in(accounts.am)
    organization, subscription = accounts.organization, accounts.subscription
    signature = PlanFactory(product__code="signature")
    to_reject = seat_change_signed(
        SubscriptionFactory(organization=organization, plan=signature, quantity=4), 2
    )
    pending = SubscriptionFactory(
        organization=organization, status="pending", plan=PlanFactory(product__code="forms")
    )
    plan = PlanFactory(code="documents-monthly")
    actions = [
        ("post", f"/backoffice/changes/{accounts.decrease.number}/approve/", {}),
        ("post", f"/backoffice/changes/{to_reject.number}/reject/", {"reason": "Minimum term"}),
        ("post", f"/backoffice/subscriptions/{pending.pk}/activate/", {}),
        ("post", f"/backoffice/subscriptions/{subscription.pk}/links/send/", {}),
        ("post", f"/backoffice/subscriptions/{subscription.pk}/links/rotate/", {}),
        ("revoke", None, {}),
        ("post", f"/backoffice/accounts/{organization.pk}/test-push/", {}),
        (
            "post",
            f"/backoffice/subscriptions/{subscription.pk}/change/",
            {"new_total": "4", "signer_name": "Ada Admin", "signer_email": "ada@customer.example"},
        ),
        (
            "post",
            f"/backoffice/accounts/{organization.pk}/subscriptions/new/",
            {
                "plan": str(plan.pk),
                "seats": "2",
                "admin_email": "ada@customer.example",
                "period_start": "2026-11-01",
            },
        ),
        (
            "post",
            "/backoffice/accounts/new/",
            {
                "name": "Initech",
                "billing_email": "ap@initech.example",
                "admin_name": "Peter Gibbons",
                "admin_email": "peter@initech.example",
                "plan": str(plan.pk),
                "seats": "4",
                "period_start": "2026-11-01",
            },
        ),
        ("get", f"/backoffice/accounts/{organization.pk}/audit.csv", {}),
    ]
    for method, url, data in actions:
        if method == "revoke":
            link = CapabilityLink.objects.filter(subscription=subscription, revoked_at__isnull=True).first()
            method, url = "post", f"/backoffice/links/{link.pk}/revoke/"
        before = AuditEvent.objects.filter(actor=accounts.am).count()

        response = getattr(client, method)(url, data)

        assert response.status_code in (200, 302), (url, response.status_code)
        assert AuditEvent.objects.filter(actor=accounts.am).count() > before, url


def test_the_account_page_reads_every_push_and_its_latest_attempts_in_a_fixed_number_of_queries(accounts):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from licensing.models import SeatSyncAttempt
    from subscriptions.models import SeatSync

    def push_with_attempts(version: int, attempts: int) -> SeatSync:
        push = SeatSync.objects.create(
            organization=accounts.organization,
            subscription=accounts.subscription,
            quantity=5,
            version=version,
            attempts=attempts,
            last_error="Connection refused",
        )
        now = timezone.now()
        SeatSyncAttempt.objects.bulk_create(
            SeatSyncAttempt(
                seat_sync=push,
                started_at=now - timedelta(minutes=attempts - number),
                finished_at=now - timedelta(minutes=attempts - number),
                outcome=SeatSyncAttempt.Outcome.FAILED,
                error=f"try {number}",
            )
            for number in range(attempts)
        )
        return push

    client = signed_in(accounts.am)
    path = f"/backoffice/accounts/{accounts.organization.pk}/"
    push_with_attempts(1, 2)
    client.get(path)
    with CaptureQueriesContext(connection) as few:
        client.get(path)
    for version in range(2, 21):
        push_with_attempts(version, 15)
    with CaptureQueriesContext(connection) as many:
        page = client.get(path)

    assert len(few) == len(many)
    body = page.content.decode()
    assert "Latest 10 attempts" in body
    assert "try 14" in body and "try 5" in body and "try 4" not in body


def test_the_queue_pages_fifty_at_a_time_and_the_overdue_filter_keeps_exactly_the_badged(
    accounts, monkeypatch
):
    now = datetime(2026, 11, 16, 12, tzinfo=UTC)  # a Monday
    monkeypatch.setattr(timezone, "now", lambda: now)
    changes = [accounts.decrease] + [
        seat_change_signed(SubscriptionFactory(organization=accounts.organization, quantity=5), 4)
        for _ in range(59)
    ]
    for days, change in enumerate(changes):  # one signed each day before, some over weekends
        SeatChange.objects.filter(pk=change.pk).update(signed_at=now - timedelta(days=days, hours=1))
    client = signed_in(accounts.am)

    first, second = client.get("/backoffice/"), client.get("/backoffice/", {"page": 2})
    overdue = client.get("/backoffice/", {"overdue": "1", "page": 2})

    assert len(first.context["page"].object_list) == 50 and first.context["page"].paginator.count == 60
    shown = [row.seat_change.pk for row in first.context["page"].object_list] + [
        row.seat_change.pk for row in second.context["page"].object_list
    ]
    assert shown == [change.pk for change in reversed(changes)]  # oldest first, each once
    badged = [
        row for row in first.context["page"].object_list + second.context["page"].object_list if row.overdue
    ]
    # Signed Thursday 11:00 or earlier: more than two business days by Monday noon.
    assert overdue.context["page"].paginator.count == len(badged) == 56
    assert all(row.overdue for row in overdue.context["page"].object_list)


def test_a_decrease_to_one_user_says_one_user(accounts):
    subscription = SubscriptionFactory(
        organization=accounts.organization, quantity=2, plan=PlanFactory(product__code="signature")
    )
    change = seat_change_signed(subscription, 1)

    client = signed_in(accounts.am)
    page = client.get(f"/backoffice/changes/{change.number}/").content.decode()
    start = client.get(f"/backoffice/subscriptions/{subscription.pk}/change/").content.decode()

    assert "to 1 user?" in page and "1 users" not in page
    assert "now 2 users, 0 licences in use" in start
