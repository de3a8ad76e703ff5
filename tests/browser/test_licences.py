import pytest
from playwright.sync_api import expect

from licensing.models import LicenceAssignment, OrgUser
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

    # Manage subscription shows the same counts, with the same words.
    page.goto(f"/subscriptions/{subscription.pk}/")
    expect(page.get_by_text("Users with a Documents licence")).to_be_visible()
    expect(page.get_by_test_id("active")).to_have_text("1")
    expect(page.get_by_test_id("available")).to_have_text("1")


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


def sign_in_to_manage_licences(page):
    page.goto("/")
    page.get_by_label("Email").fill("ada@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/licences/")


def test_making_a_user_active_again_asks_which_licences_then_offers_the_increase(page, screenshot):
    membership = MembershipFactory(user__email="ada@acme.example")
    organization = membership.organization
    subscription = SubscriptionFactory(organization=organization, quantity=2)
    cal = LicenceAssignmentFactory(subscription=subscription, org_user__name="Cal Comeback").org_user
    OrgUserFactory(organization=organization, name="Dee Dormant", status=OrgUser.Status.INACTIVE)
    sign_in_to_manage_licences(page)

    # Made Inactive, Cal's licence is freed; made Active again, it is offered back, ticked.
    page.get_by_label("Status of Cal Comeback").select_option("inactive")
    page.get_by_role("button", name="Save status of Cal Comeback").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Cal Comeback is now Inactive. Their licences are now free."
    )
    page.get_by_label("Status of Cal Comeback").select_option("active")
    page.get_by_role("button", name="Save status of Cal Comeback").click()

    expect(page.get_by_role("heading", name="Make Cal Comeback Active")).to_be_visible()
    documents = page.get_by_role("checkbox", name="Documents (2 available) held before")
    expect(documents).to_be_checked()
    screenshot("choose-licences")
    page.get_by_role("button", name="Make Cal Comeback Active").click()
    expect(page.get_by_role("status")).to_contain_text("Cal Comeback is now Active with a Documents licence.")
    assert LicenceAssignment.objects.filter(org_user=cal).exists()

    # Another user takes the last licence; Dee, made Locked, is offered the increase.
    LicenceAssignmentFactory(subscription=subscription)
    page.get_by_label("Status of Dee Dormant").select_option("locked")
    page.get_by_role("button", name="Save status of Dee Dormant").press("Enter")
    page.get_by_role("checkbox", name="Documents (none available").check()  # ticked already: every product
    page.get_by_role("button", name="Make Dee Dormant Locked").click()

    expect(page.get_by_role("heading", name="No licences available")).to_be_visible()
    expect(page.get_by_test_id("delta")).to_have_text("2 → 3 users")
    screenshot("increase-offer")
    page.get_by_label("I accept the terms of the increase").check()
    page.get_by_role("button", name="Make Dee Dormant Locked and increase my licences by 1").click()

    expect(
        page.get_by_role("status").filter(has_text="Dee Dormant is saved and waiting for a licence")
    ).to_be_visible()
    dee = OrgUser.objects.get(name="Dee Dormant")
    assert dee.status == OrgUser.Status.LOCKED and dee.pending_licences.exists()


def test_the_add_user_form_ticks_the_licences_and_sets_them_aside_for_a_room(page, screenshot):
    membership = MembershipFactory(user__email="ada@acme.example")
    SubscriptionFactory(organization=membership.organization, quantity=2)
    sign_in_to_manage_licences(page)

    licence = page.get_by_role("checkbox", name="Documents (2 available)")
    expect(licence).to_be_checked()
    page.get_by_label("Status", exact=True).select_option("room")
    expect(licence).to_be_disabled()
    page.get_by_label("Name").fill("Boardroom")
    page.get_by_label("Email", exact=True).fill("boardroom@acme.example")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_contain_text("Boardroom added.")

    page.get_by_label("Name").fill("Eve Active")
    page.get_by_label("Email", exact=True).fill("eve@acme.example")
    expect(page.get_by_role("checkbox", name="Documents (2 available)")).to_be_checked()
    screenshot("add-user")
    page.get_by_role("button", name="Add user").click()

    expect(page.get_by_role("status")).to_contain_text("Eve Active added.")
    assert list(LicenceAssignment.objects.values_list("org_user__name", flat=True)) == ["Eve Active"]
