"""The API keys page shows a new key once: no browser or proxy cache may keep it."""

import pytest

from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_the_page_showing_a_new_api_key_may_not_be_stored_by_any_cache(client):
    client.force_login(MembershipFactory().user)

    response = client.post("/subscriptions/api-keys/", {"name": "Salesforce prod"})

    assert 'id="new-key"' in response.content.decode()
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= directives
    assert "no-store" in client.get("/subscriptions/api-keys/")["Cache-Control"]
