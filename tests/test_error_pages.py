"""A refused page (403) says why and where this person can go instead."""

import pytest
from django.test import Client

from tests.backoffice.factories import staff_factory
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_opening_my_subscriptions_are_sent_to_the_back_office():
    manager = staff_factory("manager", email="boss@vendor.example")

    response = signed_in(manager).get("/", follow=True)

    page = response.content.decode()
    assert response.status_code == 403
    assert "This page isn't for you" in page and "member of" in page and "staff" in page
    assert '<a href="/backoffice/">Back office: approvals and your accounts</a>' in page
    assert '<a href="/admin/">' in page
    assert "<main" in page  # the site's page, with its header and navigation


def test_a_customer_opening_the_back_office_is_sent_to_my_subscriptions():
    membership = MembershipFactory()

    response = signed_in(membership.user).get("/backoffice/")

    page = response.content.decode()
    assert response.status_code == 403
    assert '<a href="/dashboard/">My subscriptions</a>' in page
    assert "/backoffice/" not in page.split("<main", 1)[1]


def test_someone_in_no_organization_is_told_to_ask_their_admin():
    response = signed_in(UserFactory(password=None)).get("/dashboard/")

    page = response.content.decode()
    assert response.status_code == 403
    assert "You are not a member of any customer organization." in page
    assert "Ask your organization's admin to invite you" in page
