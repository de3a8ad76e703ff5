"""Numbers a person types or an API client sends are bounded before they are parsed
(`subscriptions.numbers`): a total of 4,301 digits, "²" or a number no column can hold
gets the form's message or a JSON 400, never an error page, and changes nothing."""

import json

import pytest
from django.test import Client

from licensing.models import LicenceAssignment, OrgUser
from subscriptions import numbers
from subscriptions.models import Organization, SeatChange, Subscription
from tests.api.conftest import API
from tests.backoffice.factories import staff_factory
from tests.factories import MembershipFactory, OrgUserFactory, SubscriptionFactory
from tests.portal.conftest import activated  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)

HUGE = "9" * 4301  # one digit more than Python turns into an int
LONG = "9" * 30  # more than any database column holds
NOT_NUMBERS = [HUGE, LONG, "²", "١٢", "-1", "1e3", "4.0", " ", "0x10"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        (" 7 ", 7),
        ("007", 7),
        ("0" * 5000 + "7", 7),
        (7, 7),
        (str(numbers.BIGINT_MAX), numbers.BIGINT_MAX),
        (str(numbers.BIGINT_MAX + 1), None),
        (HUGE, None),
        ("²", None),
        ("١٢", None),
        ("-1", None),
        (-1, None),
        (True, None),
        (None, None),
        ("", None),
        ("1_000", None),
    ],
)
def test_a_whole_number_is_read_only_when_it_is_plain_digits_within_bounds(raw, expected):
    assert numbers.whole_number(raw) == expected


def test_the_bound_is_the_callers():
    assert numbers.whole_number("2147483647", maximum=numbers.INTEGER_MAX) == 2147483647
    assert numbers.whole_number("2147483648", maximum=numbers.INTEGER_MAX) is None
    assert numbers.whole_numbers(["1", "2"]) == [1, 2]
    assert numbers.whole_numbers(["1", HUGE]) is None


@pytest.mark.parametrize("raw", NOT_NUMBERS)
def test_the_change_form_and_its_live_quote_refuse_a_total_that_is_no_seat_count(
    client,
    activated,  # noqa: F811
    raw,
):
    quote = client.get(f"{activated.base}change/quote/", {"new_total": raw})
    page = client.post(f"{activated.base}change/", {"new_total": raw})

    assert quote.status_code == 400 and quote.json()["ok"] is False
    assert page.status_code == 400
    message = quote.json()["error"]
    assert message in page.content.decode()
    if raw.strip() and raw.strip().isascii() and raw.strip().isdigit():
        assert message.startswith("The Documents monthly plan allows at most 500 users.")
    assert not SeatChange.objects.exists()


def test_licences_to_free_that_are_not_ids_are_refused(client, activated):  # noqa: F811
    response = client.post(f"{activated.base}change/", {"new_total": "1", "licences_to_free": [HUGE, "²"]})

    assert response.status_code == 400
    assert "Choose users from the list." in response.content.decode()
    assert not SeatChange.objects.exists()


@pytest.fixture
def admin(client):
    membership = MembershipFactory()
    client.force_login(membership.user)
    client.organization = membership.organization
    return client


@pytest.mark.parametrize("raw", [HUGE, LONG, "²"])
def test_manage_licences_refuses_products_that_are_not_ids(admin, raw):
    subscription = SubscriptionFactory(organization=admin.organization, quantity=3)
    inactive = OrgUserFactory(organization=admin.organization, status=OrgUser.Status.INACTIVE)

    added = admin.post(
        "/licences/users/add/",
        {"name": "Nia New", "email": "nia@acme.example", "status": "active", "subscriptions": [raw]},
    )
    activated_user = admin.post(
        f"/licences/users/{inactive.pk}/status/",
        {"status": "active", "licences_chosen": "yes", "subscriptions": [str(subscription.pk), raw]},
        follow=True,
    )
    listed = admin.get("/licences/", {"page": HUGE})

    assert added.status_code in (400, 409)
    assert activated_user.status_code == 200 and listed.status_code == 200
    assert not OrgUser.objects.filter(email="nia@acme.example").exists()
    inactive.refresh_from_db()
    assert inactive.status == OrgUser.Status.INACTIVE
    assert not LicenceAssignment.objects.exists()


def test_the_organization_switcher_ignores_a_number_that_is_no_id(admin):
    response = admin.post("/organization/", {"organization": HUGE})

    assert response.status_code in (302, 303, 404)


def test_the_back_office_refuses_totals_and_filters_that_are_no_numbers(db):
    manager = staff_factory("manager", email="boss@vendor.example", full_name="Mo Manager")
    subscription = SubscriptionFactory(quantity=3)
    client = Client()
    client.force_login(manager)

    change = client.post(
        f"/backoffice/subscriptions/{subscription.pk}/change/",
        {"new_total": HUGE, "signer_name": "Ada", "signer_email": "ada@customer.example"},
    )
    queue = [client.get("/backoffice/", {"account_manager": raw, "page": raw}) for raw in (HUGE, "²", LONG)]
    new_subscription = client.post(
        f"/backoffice/accounts/{subscription.organization.pk}/subscriptions/new/",
        {
            "plan": subscription.plan.pk,
            "seats": LONG,
            "admin_email": "a@b.example",
            "period_start": "2026-12-01",
        },
    )

    assert change.status_code == 400 and "allows at most" in change.content.decode()
    assert [response.status_code for response in queue] == [200, 200, 200]
    assert new_subscription.status_code in (200, 400)
    assert "less than or equal to" in new_subscription.content.decode()
    assert not SeatChange.objects.exists()
    assert Subscription.objects.count() == 1 and Organization.objects.count() == 1


def _api_client(organization) -> Client:
    from tests.api.conftest import api_key_for, key_client

    return key_client(api_key_for(organization))


def test_the_api_answers_400_for_numbers_it_cannot_read_and_changes_nothing(db):
    subscription = SubscriptionFactory(quantity=3, plan__product__code="documents")
    user = OrgUserFactory(organization=subscription.organization)
    api = _api_client(subscription.organization)
    licences = f"{API}/subscriptions/{subscription.pk}/licences/"

    answers = [
        api.post(licences, data=f'{{"user_id": {HUGE}}}', content_type="application/json"),
        api.post(licences, data=json.dumps({"user_id": int(LONG)}), content_type="application/json"),
        api.post(licences, data=json.dumps({"user_id": "²"}), content_type="application/json"),
        api.post(
            f"{API}/users/",
            data=f'{{"name": "Nia", "email": "nia@acme.example", "status": {HUGE}}}',
            content_type="application/json",
        ),
        api.patch(f"{API}/users/{user.pk}/", data=f'{{"name": {HUGE}}}', content_type="application/json"),
        api.get(f"{API}/users/", {"limit": HUGE}),
        api.get(f"{API}/users/", {"offset": LONG}),
    ]
    not_found = [api.get(f"{API}/users/{HUGE}/"), api.get(f"{API}/users/{LONG}/")]

    assert [answer.status_code for answer in answers] == [400] * len(answers)
    assert all(answer.json()["code"] for answer in answers)
    assert [answer.status_code for answer in not_found] == [404, 404]
    assert not LicenceAssignment.objects.exists()
    assert OrgUser.objects.count() == 1
