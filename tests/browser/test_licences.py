import pytest
from playwright.sync_api import expect

from licensing.models import LicenceAssignment
from tests.factories import (
    PASSWORD,
    LicenceAssignmentFactory,
    MembershipFactory,
    OrgUserFactory,
    SubscriptionFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_signs_in_assigns_the_last_licence_and_is_refused_one_more(page, screenshot):
    membership = MembershipFactory(user__email="ada@acme.example")
    organization = membership.organization
    subscription = SubscriptionFactory(organization=organization, quantity=2)
    LicenceAssignmentFactory(subscription=subscription, org_user__name="Bea Busy")
    OrgUserFactory(organization=organization, name="Cal Candidate")
    OrgUserFactory(organization=organization, name="Dee Denied")

    page.goto("/")
    page.get_by_label("Email").fill("ada@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="My subscriptions")).to_be_visible()
    card = page.get_by_role("region", name="Documents")
    expect(card.get_by_test_id("active")).to_have_text("1")
    expect(card.get_by_test_id("maximum")).to_have_text("2")
    expect(card.get_by_test_id("available")).to_have_text("1")
    expect(card.get_by_text("Users with a Documents licence")).to_be_visible()
    expect(card.get_by_test_id("unlicensed")).to_have_text("2")  # Cal and Dee, Active without one
    screenshot("my-subscriptions")

    card.get_by_role("link", name="Manage licences").click()
    page.get_by_role("button", name="Assign Documents licence to Cal Candidate").click()
    expect(page.get_by_role("status")).to_contain_text("Cal Candidate now has a Documents licence.")
    expect(page.get_by_role("region", name="Documents").get_by_test_id("available")).to_have_text("0")

    page.get_by_role("button", name="Assign Documents licence to Dee Denied").click()
    expect(page.get_by_role("status")).to_contain_text("No Documents licence is available: all 2 are in use.")
    expect(page.get_by_role("link", name="Increase your seats")).to_have_attribute(
        "href", f"/subscriptions/{subscription.pk}/change/?new_total=3"
    )
    screenshot("refused")

    assert set(LicenceAssignment.objects.values_list("org_user__name", flat=True)) == {
        "Bea Busy",
        "Cal Candidate",
    }

    # Keyboard only: the status select and its Save button are reachable and labelled.
    page.get_by_label("Status of Cal Candidate").select_option("inactive")
    page.get_by_role("button", name="Save status of Cal Candidate").press("Enter")
    expect(page.get_by_role("status")).to_contain_text(
        "Cal Candidate is now Inactive. Their licences are now free."
    )
    expect(page.get_by_role("region", name="Documents").get_by_test_id("available")).to_have_text("1")


def test_a_semicolon_separated_excel_export_with_a_bom_imports(page, screenshot):
    membership = MembershipFactory(user__email="ada@acme.example")
    SubscriptionFactory(organization=membership.organization, quantity=3)

    page.goto("/")
    page.get_by_label("Email").fill("ada@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/licences/")
    page.get_by_role("link", name="Import users from a CSV file").click()
    page.get_by_label("CSV file").set_input_files(
        files=[
            {
                "name": "users.csv",
                "mimeType": "text/csv",
                "buffer": "\ufeffname;email;status;products\r\n"
                "Émile Zola;emile@acme.example;Active;documents\r\n"
                "Boardroom 1;room1@acme.example;Room;\r\n".encode(),
            }
        ]
    )
    page.get_by_role("button", name="Preview the import").click()

    expect(page.get_by_test_id("create")).to_have_text("2")
    expect(page.get_by_test_id("errors")).to_have_text("0")
    screenshot("preview")
    page.get_by_role("button", name="Import 2 new and 0 updated users").click()

    expect(page.get_by_role("status")).to_contain_text("Import done: 2 created")
    expect(page.locator("tr[data-user='emile@acme.example']")).to_contain_text("Licensed")
    assert LicenceAssignment.objects.get().org_user.name == "Émile Zola"
