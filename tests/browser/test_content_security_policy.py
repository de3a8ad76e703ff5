"""Pages that are not ours to write (Swagger UI, Django admin, allauth) and the dev
mailbox work under the Content-Security-Policy, and a refusal fails a test.

The app's own pages are walked by the other browser tests, each failing on a refusal
(tests/browser/conftest.py)."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from devmail.models import StoredEmail
from tests.factories import PASSWORD, SubscriptionFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_script_the_policy_refuses_is_caught(page, csp_violations):
    page.goto("/accounts/login/")
    # What an injected script would be: inline, or from another origin.
    page.evaluate(
        """() => {
            const inline = document.createElement("script");
            inline.textContent = "document.title = 'injected'";
            document.head.append(inline);
            const remote = document.createElement("script");
            remote.src = "https://scripts.example.com/steal.js";
            document.head.append(remote);
        }"""
    )

    expect(page).not_to_have_title("injected")
    page.wait_for_timeout(200)
    assert any("inline script" in violation for violation in csp_violations), csp_violations
    assert any("scripts.example.com" in violation for violation in csp_violations), csp_violations
    csp_violations.clear()  # seen: this test is about catching them


def test_swagger_ui_renders_the_api_docs(page, screenshot):
    response = page.goto("/api/docs/")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="seatmgr API")).to_be_visible()
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_role("heading", name="Available authorizations")).to_be_visible()
    screenshot("api-docs")


def test_the_vendor_admin_works_in_the_django_admin(page, screenshot):
    UserFactory(email="vendor@seatmgr.example", is_staff=True, is_superuser=True)
    subscription = SubscriptionFactory()

    page.goto("/admin/")
    page.get_by_label("Email").fill("vendor@seatmgr.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    page.goto("/admin/subscriptions/subscription/")
    page.locator("#result_list tbody a").first.click()
    expect(page.get_by_role("heading", name="Change subscription")).to_be_visible()
    expect(page.get_by_role("heading", name=str(subscription))).to_be_visible()
    # The admin's own scripts run: the navigation sidebar closes.
    expect(page.locator("#main")).to_have_class(re.compile(r"\bshifted\b"))
    page.get_by_role("button", name="Toggle navigation").click()
    expect(page.locator("#main")).not_to_have_class(re.compile(r"\bshifted\b"))
    screenshot("admin-change-form")


def test_sign_in_by_code_and_the_dev_mailbox(page, settings, screenshot):
    UserFactory(email="ada@acme.example")
    settings.EMAIL_BACKEND = "devmail.backends.StoredEmailBackend"

    page.goto(reverse("account_request_login_code"))
    page.get_by_label("Email").fill("ada@acme.example")
    page.get_by_role("button", name=re.compile("code", re.IGNORECASE)).click()
    expect(page.get_by_label("Code")).to_be_visible()

    page.goto("/_dev/mail/")
    email = StoredEmail.objects.get()
    page.get_by_role("link", name=email.subject).click()
    expect(page.get_by_role("heading", name=email.subject)).to_be_visible()
    screenshot("dev-mailbox")
