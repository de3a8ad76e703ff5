"""The admin's sign-in (allauth's page) and "Retrieve my links", in Chromium."""

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_the_vendor_admin_signs_in_to_the_admin_on_the_one_sign_in_page(page, screenshot):
    UserFactory(email="vendor@seatmgr.example", is_staff=True, is_superuser=True)

    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot("sign-in")
    sign_in(page, "vendor@seatmgr.example")

    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def test_a_customer_signing_in_at_the_admin_is_told_it_is_not_for_them(page, screenshot):
    MembershipFactory(user__email="ada@acme.example")

    page.goto("/admin/")
    sign_in(page, "ada@acme.example")

    expect(page.get_by_role("heading", name="No access to the admin")).to_be_visible()
    screenshot("refused")
    page.get_by_role("link", name="Go to My subscriptions").click()
    expect(page.get_by_role("heading", name="My subscriptions")).to_be_visible()


def test_retrieve_my_links_by_keyboard_answers_without_saying_whether_the_address_is_known(page, screenshot):
    page.goto("/links/retrieve/")
    page.get_by_label("Admin email address").fill("someone@example.com")
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text(
        "If that is the admin address of an active subscription, we're emailing the links to it."
    )
    screenshot("sent")
