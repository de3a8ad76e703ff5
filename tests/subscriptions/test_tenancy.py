"""A person in several organizations works in one at a time, chosen with the switcher
in the header and kept in the session; every customer page and the API follow it."""

import pytest
from django.test import Client

from subscriptions.tenancy import SESSION_KEY
from tests.factories import MembershipFactory, OrganizationFactory, OrgUserFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def person():
    """Ada, admin of Acme and of Zenith (each with a user of its own), and a stranger
    organization Globex she has nothing to do with."""
    ada = UserFactory(email="ada@example.com")
    acme = MembershipFactory(user=ada, organization__name="Acme").organization
    zenith = MembershipFactory(user=ada, organization__name="Zenith").organization
    OrgUserFactory(organization=acme, name="Ann Acme-only")
    OrgUserFactory(organization=zenith, name="Zed Zenith-only")
    globex = OrganizationFactory(name="Globex")
    OrgUserFactory(organization=globex, name="Gus Globex-only")
    client = Client(enforce_csrf_checks=True)
    client.force_login(ada)
    return {"client": client, "acme": acme, "zenith": zenith, "globex": globex}


def csrf_of(client: Client) -> str:
    return client.get("/licences/").context["csrf_token"]


def switch(client: Client, organization_id, **kwargs):
    return client.post(
        "/subscriptions/organization/",
        {"organization": organization_id, "csrfmiddlewaretoken": csrf_of(client)},
        follow=True,
        **kwargs,
    )


def test_without_a_choice_the_first_organization_by_name_is_shown_and_named_in_the_header(person):
    page = person["client"].get("/licences/").content.decode()

    assert "Ann Acme-only" in page and "Zed Zenith-only" not in page
    assert f'<option value="{person["acme"].pk}" selected>Acme</option>' in page
    assert f'<option value="{person["zenith"].pk}">Zenith</option>' in page


def test_switching_shows_the_other_organizations_data_and_is_remembered(person):
    client = person["client"]

    response = switch(client, person["zenith"].pk)

    assert "You are now working in Zenith." in response.content.decode()
    page = client.get("/licences/").content.decode()
    assert "Zed Zenith-only" in page and "Ann Acme-only" not in page
    assert f'<option value="{person["zenith"].pk}" selected>Zenith</option>' in page
    assert client.session[SESSION_KEY] == person["zenith"].pk
    # The API, signed in by session, acts for the same organization.
    names = [user["name"] for user in client.get("/api/v1/users/").json()["results"]]
    assert names == ["Zed Zenith-only"]


def test_a_forged_organization_id_in_the_switch_is_refused_and_changes_nothing(person):
    client = person["client"]
    switch(client, person["zenith"].pk)

    for forged in (person["globex"].pk, "not-a-number", ""):
        response = switch(client, forged)

        assert "You are not a member of that organization." in response.content.decode()
        assert client.session[SESSION_KEY] == person["zenith"].pk
    page = client.get("/licences/").content.decode()
    assert "Gus Globex-only" not in page and "Globex" not in page


def test_a_forged_id_planted_in_the_session_falls_back_to_the_first_organization(person):
    client = person["client"]
    session = client.session
    session[SESSION_KEY] = person["globex"].pk
    session.save()

    page = client.get("/licences/").content.decode()

    assert "Ann Acme-only" in page and "Gus Globex-only" not in page


def test_a_removed_membership_falls_back_to_the_first_remaining_organization(person):
    client = person["client"]
    switch(client, person["zenith"].pk)
    person["zenith"].memberships.all().delete()

    page = client.get("/licences/").content.decode()

    assert "Ann Acme-only" in page and "Zed Zenith-only" not in page


def test_the_switch_needs_a_post_with_a_csrf_token(person):
    client = person["client"]

    without_token = client.post("/subscriptions/organization/", {"organization": person["zenith"].pk})
    by_get = client.get("/subscriptions/organization/", {"organization": person["zenith"].pk})

    assert (without_token.status_code, by_get.status_code) == (403, 405)
    assert SESSION_KEY not in client.session


def test_someone_in_one_organization_sees_its_name_and_no_switcher():
    membership = MembershipFactory(organization__name="Solo Ltd")
    client = Client()
    client.force_login(membership.user)

    page = client.get("/licences/").content.decode()

    assert '<strong data-testid="current-organization">Solo Ltd</strong>' in page
    assert 'name="organization"' not in page
