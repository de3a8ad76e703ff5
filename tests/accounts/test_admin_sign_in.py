"""`/admin/` signs in through allauth's sign-in page, so its failed-attempt limit
guards the vendor admin's password too."""

import pytest

from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ADMIN_SIGN_IN = "/accounts/login/?next=%2Fadmin%2F"


@pytest.fixture
def vendor_admin():
    return UserFactory(email="vendor@seatmgr.example", is_staff=True, is_superuser=True)


def test_the_admin_sends_signed_out_visitors_to_the_one_sign_in_page_and_back(client, vendor_admin):
    response = client.get("/admin/", follow=True)

    assert [url for url, _ in response.redirect_chain][-1] == ADMIN_SIGN_IN
    signed_in = client.post(ADMIN_SIGN_IN, {"login": vendor_admin.email, "password": PASSWORD}, follow=True)
    assert signed_in.redirect_chain[-1][0] == "/admin/"
    assert "Site administration" in signed_in.content.decode()


def test_posting_a_password_to_the_admins_own_sign_in_url_checks_nothing(client, vendor_admin):
    for password in ("wrong", PASSWORD):
        response = client.post(
            "/admin/login/?next=/admin/", {"username": vendor_admin.email, "password": password}
        )

        assert response.status_code == 302 and response["Location"] == ADMIN_SIGN_IN
        assert "_auth_user_id" not in client.session


def test_after_five_wrong_passwords_even_the_right_one_is_refused(client, vendor_admin):
    for _ in range(5):
        refused = client.post(ADMIN_SIGN_IN, {"login": vendor_admin.email, "password": "guess"})
        assert "not correct" in refused.content.decode()

    response = client.post(ADMIN_SIGN_IN, {"login": vendor_admin.email, "password": PASSWORD})

    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_a_customer_who_signs_in_is_kept_out_of_the_admin(client):
    customer = MembershipFactory(user__email="ada@acme.example").user

    response = client.post(ADMIN_SIGN_IN, {"login": customer.email, "password": PASSWORD}, follow=True)

    assert response.status_code == 403
    assert "No access to the admin" in response.content.decode()
    assert client.get("/admin/accounts/user/").status_code == 302
    assert client.get("/admin/login/?next=/admin/accounts/user/").status_code == 403


def test_an_outside_next_address_is_not_followed(client, vendor_admin):
    response = client.get("/admin/login/?next=https://evil.example/")

    assert response["Location"] == ADMIN_SIGN_IN
