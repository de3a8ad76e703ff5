import pytest
from playwright.sync_api import expect

from licensing.models import LicenceAssignment, SetupWizard
from subscriptions import links
from subscriptions.models import Subscription
from tests.factories import PASSWORD, MembershipFactory, SubscriptionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_new_organization_is_walked_through_setup_end_to_end(page, screenshot):
    membership = MembershipFactory(user__email="nia@new.example")
    subscription = SubscriptionFactory(
        organization=membership.organization, status=Subscription.Status.PENDING, quantity=2
    )
    links.subscription_activate(subscription=subscription)

    page.goto("/")
    page.get_by_label("Email").fill("nia@new.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Step 1 of 4: Your subscriptions")).to_be_visible()
    expect(page.get_by_test_id("maximum")).to_have_text("2")
    expect(page.get_by_test_id("available")).to_have_text("2")
    screenshot("subscriptions")
    page.get_by_role("button", name="Next →").click()

    expect(page.get_by_role("heading", name="Step 2 of 4: Add your users")).to_be_visible()
    page.get_by_label("Name").fill("Nia Newcomer")
    page.get_by_label("Email").fill("nia@new.example")
    page.get_by_label("Documents (2 available)").check()
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_contain_text("Nia Newcomer added.")
    expect(page.get_by_label("Status of Nia Newcomer")).to_have_count(0)  # no deactivating here
    screenshot("users")

    # Leave and come back: the wizard resumes where it was.
    page.goto("/dashboard/")
    expect(page.get_by_role("heading", name="Step 2 of 4: Add your users")).to_be_visible()
    page.get_by_role("button", name="Next →").click()

    expect(page.get_by_role("heading", name="Step 3 of 4: Assign licences")).to_be_visible()
    expect(page.get_by_test_id("available")).to_have_text("1")
    page.get_by_role("button", name="Next →").click()

    expect(page.get_by_role("heading", name="Step 4 of 4: Your unique links")).to_be_visible()
    expect(page.get_by_role("link", name="Get your links again")).to_be_visible()
    expect(page.get_by_text("“Opero Documents is now active”")).to_be_visible()
    page.get_by_role("button", name="Finish setup").click()

    expect(page.get_by_role("heading", name="My subscriptions")).to_be_visible()
    page.goto("/dashboard/")
    expect(page.get_by_role("heading", name="My subscriptions")).to_be_visible()
    assert SetupWizard.objects.get().finished_at is not None
    assert LicenceAssignment.objects.filter(org_user__name="Nia Newcomer").count() == 1
