import pytest

from licensing.models import LicenceAssignment, OrgUser, SetupWizard
from subscriptions import links
from subscriptions.models import Subscription
from tests.factories import MembershipFactory, OrgUserFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_admin(client):
    membership = MembershipFactory()
    subscription = SubscriptionFactory(
        organization=membership.organization, status=Subscription.Status.PENDING, quantity=2
    )
    links.subscription_activate(subscription=subscription)
    client.force_login(membership.user)
    client.subscription = subscription
    return client


def test_a_new_organizations_admin_is_walked_through_setup_first(new_admin):
    response = new_admin.get("/dashboard/", follow=True)

    assert response.redirect_chain[-1][0] == "/welcome/subscriptions/"
    page = response.content.decode()
    assert "Step 1 of 4: Your subscriptions" in page
    assert "Documents licences paid for" in page and "Licences available" in page


def test_the_wizard_resumes_where_the_admin_left_off(new_admin):
    new_admin.post("/welcome/subscriptions/")

    response = new_admin.get("/dashboard/", follow=True)

    assert response.redirect_chain[-1][0] == "/welcome/users/"


def test_inside_the_wizard_users_are_added_and_deleted_but_not_deactivated(new_admin):
    subscription = new_admin.subscription
    new_admin.post(
        "/licences/users/add/",
        {
            "name": "Ada",
            "email": "ada@example.com",
            "status": "active",
            "subscriptions": [subscription.pk],
            "next": "/welcome/users/",
        },
    )
    page = new_admin.get("/welcome/users/").content.decode()

    assert "Ada" in page and "Status of Ada" not in page  # no status control here
    assert LicenceAssignment.objects.count() == 1
    ada = OrgUser.objects.get()
    response = new_admin.post(f"/licences/users/{ada.pk}/delete/", {"next": "/welcome/users/"})
    assert response["Location"] == "/welcome/users/"
    assert not LicenceAssignment.objects.exists()


def test_finishing_the_wizard_means_it_is_never_shown_again(new_admin):
    for step in ("subscriptions", "users", "licences", "links"):
        response = new_admin.post(f"/welcome/{step}/")

    assert response["Location"] == "/dashboard/"
    assert new_admin.get("/dashboard/").status_code == 200
    assert new_admin.get("/welcome/users/")["Location"] == "/dashboard/"
    assert SetupWizard.objects.get().finished_at is not None


def test_an_organization_that_already_has_users_gets_no_wizard(client):
    membership = MembershipFactory()
    OrgUserFactory(organization=membership.organization)
    subscription = SubscriptionFactory(
        organization=membership.organization, status=Subscription.Status.PENDING
    )
    links.subscription_activate(subscription=subscription)
    client.force_login(membership.user)

    assert client.get("/dashboard/").status_code == 200
    assert not SetupWizard.objects.exists()


def test_redirects_back_into_the_wizard_never_leave_the_site(new_admin):
    response = new_admin.post(
        "/licences/users/add/",
        {"name": "Bo", "email": "bo@example.com", "status": "room", "next": "https://evil.example/welcome/"},
    )
    assert response["Location"] == "/licences/"


def test_the_links_step_names_the_email_as_it_was_sent(new_admin, settings):
    settings.VENDOR_NAME = "Acme Software"

    page = new_admin.get("/welcome/links/").content.decode()

    assert "“Acme Software Documents is now active”" in page
    assert "<em>Product</em>" not in page
