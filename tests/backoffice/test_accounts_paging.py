"""The accounts list pages 50 at a time with Previous and Next, the search kept on
every link, without counting every match on each request."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from subscriptions.models import Organization

pytestmark = pytest.mark.django_db

ACCOUNTS = "/backoffice/accounts/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def organizations(names: list[str], account_manager) -> None:
    Organization.objects.bulk_create(
        Organization(
            name=name,
            slug=re.sub(r"[^a-z0-9]+", "-", name.lower()),
            billing_email=f"ap@{re.sub(r'[^a-z0-9]+', '-', name.lower())}.example",
            account_manager=account_manager,
        )
        for name in names
    )


def shown(response) -> list[str]:
    return [organization.name for organization in response.context["page"].object_list]


def pager_links(response) -> dict[str, str]:
    """The pager's links by label ("previous", "next"), as written in the page."""
    body = response.content.decode()
    return {
        label.lower(): href.replace("&amp;", "&")
        for href, label in re.findall(r'<a href="([^"]*)">(?:← )?(Previous|Next)(?: →)?</a>', body)
    }


@pytest.fixture
def many(accounts):
    """120 more organizations of `am` (Initech 000 … 059, Umbrella 000 … 059) and 60 of
    `other_am` (Initech 060 … 119), so that A's account manager has three pages."""
    organizations([f"Initech {n:03d}" for n in range(60)], accounts.am)
    organizations([f"Umbrella {n:03d}" for n in range(60)], accounts.am)
    organizations([f"Initech {n:03d}" for n in range(60, 120)], accounts.other_am)
    return accounts


def test_the_accounts_list_pages_fifty_at_a_time_with_previous_and_next(many):
    client = signed_in(many.am)

    first = client.get(ACCOUNTS)
    second = client.get(ACCOUNTS + pager_links(first)["next"])
    third = client.get(ACCOUNTS + pager_links(second)["next"])

    # Acme (A) and its 120 others, by name: 50, 50, 21.
    expected = ["Acme Secret-A Ltd"] + [f"Initech {n:03d}" for n in range(60)]
    expected += [f"Umbrella {n:03d}" for n in range(60)]
    assert (shown(first), shown(second), shown(third)) == (expected[:50], expected[50:100], expected[100:])
    assert pager_links(first) == {"next": "?q=&page=2"}
    assert pager_links(second) == {"previous": "?q=&page=1", "next": "?q=&page=3"}
    assert pager_links(third) == {"previous": "?q=&page=2"}
    assert "Page 3" in third.content.decode()


def test_the_search_is_kept_on_every_page_and_finds_only_the_account_managers_accounts(many):
    client = signed_in(many.am)

    first = client.get(ACCOUNTS, {"q": "initech 0"})
    second = client.get(ACCOUNTS + pager_links(first)["next"])

    # "Initech 060" … belong to the other account manager: never shown to this one.
    assert shown(first) == [f"Initech {n:03d}" for n in range(50)]
    assert shown(second) == [f"Initech {n:03d}" for n in range(50, 60)]
    assert pager_links(first) == {"next": "?q=initech%200&page=2"}
    assert pager_links(second) == {"previous": "?q=initech%200&page=1"}
    assert 'value="initech 0"' in second.content.decode()


def test_a_manager_pages_through_every_account(many):
    client = signed_in(many.manager)

    pages = [client.get(ACCOUNTS, {"q": "Initech", "page": number}) for number in (1, 2, 3)]

    assert [name for page in pages for name in shown(page)] == [f"Initech {n:03d}" for n in range(120)]
    assert "next" not in pager_links(pages[-1])


def test_no_page_counts_every_match(many):
    client = signed_in(many.manager)
    client.get(ACCOUNTS)

    for query in ({}, {"q": "Initech"}, {"q": "Initech", "page": "2"}):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(ACCOUNTS, query).status_code == 200
        counts = [q["sql"] for q in captured.captured_queries if "COUNT(*)" in q["sql"]]
        assert counts == [], (query, counts)


@pytest.mark.parametrize(
    ("page", "number"),
    [
        pytest.param("abc", 1, id="garbage"),
        pytest.param("", 1, id="empty"),
        pytest.param("-2", 3, id="negative"),
        pytest.param("0", 3, id="zero"),
        pytest.param("2.5", 1, id="decimal"),
        pytest.param("²", 1, id="superscript-digit"),
        pytest.param("2", 2, id="in-range"),
        pytest.param("4", 3, id="just-past-the-end"),
        pytest.param("99999", 3, id="far-past-the-end"),
        pytest.param("9" * 19, 3, id="past-bigint"),
        pytest.param("9" * 5000, 3, id="thousands-of-digits"),
    ],
)
def test_any_page_number_shows_a_page(many, page, number):
    response = signed_in(many.am).get(ACCOUNTS, {"page": page})

    assert response.status_code == 200
    assert response.context["page"].number == number
    assert f"Page {number}" in response.content.decode()
    assert len(shown(response)) == (21 if number == 3 else 50)


def test_a_search_past_its_last_page_shows_its_last_page(many):
    response = signed_in(many.am).get(ACCOUNTS, {"q": "Umbrella", "page": "7"})

    assert shown(response) == [f"Umbrella {n:03d}" for n in range(50, 60)]
    assert pager_links(response) == {"previous": "?q=Umbrella&page=1"}


@pytest.mark.parametrize("page", ["1", "5", "junk"])
def test_a_search_without_matches_says_so_on_any_page(many, page):
    response = signed_in(many.am).get(ACCOUNTS, {"q": "Hooli", "page": page})

    body = response.content.decode()
    assert response.status_code == 200
    assert "No accounts match “Hooli”." in body
    assert shown(response) == [] and pager_links(response) == {}
    assert 'aria-label="Pages"' not in body


def test_another_account_managers_account_is_not_found_by_searching_for_it(many):
    response = signed_in(many.am).get(ACCOUNTS, {"q": "Globex"})

    assert "No accounts match “Globex”." in response.content.decode()


@pytest.mark.parametrize("term", ["%", "_", "\\", "'; --", "x" * 1000])
def test_odd_search_terms_are_searched_for_as_typed(many, term):
    response = signed_in(many.manager).get(ACCOUNTS, {"q": term})

    assert response.status_code == 200
    assert shown(response) == []


def test_one_page_of_accounts_has_no_pager(accounts):
    response = signed_in(accounts.am).get(ACCOUNTS)

    assert shown(response) == ["Acme Secret-A Ltd"]
    assert 'aria-label="Pages"' not in response.content.decode()
