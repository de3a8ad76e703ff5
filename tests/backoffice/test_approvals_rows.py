"""Each row of the approvals queue says everything needed to decide, whoever looks."""

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from subscriptions.models import SeatChange
from tests.factories import LicenceAssignmentFactory, PlanFactory, SubscriptionFactory

from .factories import seat_change_signed

pytestmark = pytest.mark.django_db

SIGNED = datetime(2026, 11, 5, 10, 30, tzinfo=UTC)  # a Thursday
NOW = datetime(2026, 11, 9, 15, 45, tzinfo=UTC)  # the Monday after: 4 days, 5 hours


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def row_of(body: str, number: str) -> str:
    """The queue's table row that links to seat change `number`."""
    (row,) = [row for row in re.findall(r"<tr>.*?</tr>", body, re.S) if f"/changes/{number}/" in row]
    return re.sub(r"[ \n]+", " ", row)  # not \xa0: timesince joins a number to its unit with it


@pytest.fixture
def queue(accounts, monkeypatch, period_end_plan):
    """A's decrease (signed SIGNED, 3 licences in use, none named) and a period-end
    decrease of B's, without an account manager, naming one licence to free."""
    SeatChange.objects.filter(pk=accounts.decrease.pk).update(signed_at=SIGNED)
    accounts.other_organization.account_manager = None
    accounts.other_organization.save()
    subscription = SubscriptionFactory(
        organization=accounts.other_organization, plan=period_end_plan, quantity=6
    )
    named = LicenceAssignmentFactory(subscription=subscription)
    accounts.named = seat_change_signed(
        subscription, 2, free=[named.org_user_id], signer_name="Bo Buyer", signer_email="bo@globex.example"
    )
    SeatChange.objects.filter(pk=accounts.named.pk).update(signed_at=datetime(2026, 11, 9, 9, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return accounts


def test_a_managers_row_says_who_what_how_long_and_links_to_the_account_and_the_review(queue):
    body = signed_in(queue.manager).get("/backoffice/").content.decode()

    row = row_of(body, queue.decrease.number)
    assert f'<a href="/backoffice/accounts/{queue.organization.pk}/">Acme Secret-A Ltd</a>' in row
    assert "Alex Manager" in row  # its account manager, for a manager who sees everyone's
    assert queue.subscription.plan.product.name in row
    assert "Immediately once approved" in row
    assert "5 → 3" in row
    assert "<td>3</td>" in row  # licences in use, none named
    assert "Ada Admin" in row and "ada@customer.example" in row and "5 Nov 2026 10:30 UTC" in row
    assert "Not signed" in row  # no agreement PDF for this one
    assert '<time datetime="2026-11-05T10:30:00+00:00">4\xa0days, 5\xa0hours</time>' in row
    assert "Over 2 business days" in row
    assert f'href="/backoffice/changes/{queue.decrease.number}/">Review' in row
    assert f"{queue.decrease.number}, Acme Secret-A Ltd</span>" in row


def test_a_row_without_an_account_manager_and_with_named_licences_says_so(queue):
    body = signed_in(queue.manager).get("/backoffice/").content.decode()

    row = row_of(body, queue.named.number)
    assert "Globex Secret-B Ltd" in row and "No account manager" in row
    assert "At the end of the current period" in row
    assert "6 → 2" in row and "1 named to lose theirs" in row
    assert "Bo Buyer" in row and "bo@globex.example" in row and "9 Nov 2026 09:00 UTC" in row
    assert ">6\xa0hours, 45\xa0minutes</time>" in row
    assert "Over 2 business days" not in row


def test_an_account_manager_sees_only_their_rows_without_the_account_manager_line(queue):
    body = signed_in(queue.am).get("/backoffice/").content.decode()

    row = row_of(body, queue.decrease.number)
    assert "Acme Secret-A Ltd" in row and "Alex Manager" not in row
    assert queue.named.number not in body and "Globex" not in body


def test_a_signed_agreement_is_linked_from_its_row(accounts):
    change = seat_change_signed(
        SubscriptionFactory(organization=accounts.organization, plan=PlanFactory(product__code="forms")),
        2,
        with_agreement=True,
    )

    body = signed_in(accounts.am).get("/backoffice/").content.decode()

    row = row_of(body, change.number)
    assert f'<a href="/backoffice/changes/{change.number}/agreement.pdf">Signed agreement' in row
