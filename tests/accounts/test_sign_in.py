import re

import pytest
from django.core import mail

from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_signs_in_with_email_and_password(client):
    membership = MembershipFactory(user__email="ada@acme.example")

    response = client.post(
        "/accounts/login/", {"login": "ADA@acme.example", "password": PASSWORD}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert membership.organization.name in response.content.decode()


def test_a_wrong_password_is_refused_with_a_message(client):
    MembershipFactory(user__email="ada@acme.example")

    response = client.post("/accounts/login/", {"login": "ada@acme.example", "password": "nope"})

    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_admin_signs_in_with_a_code_sent_by_email(client):
    MembershipFactory(user__email="ada@acme.example")

    client.post("/accounts/login/code/", {"email": "ada@acme.example"}, follow=True)
    (message,) = mail.outbox
    code = re.search(r"^\s*([A-Z0-9-]{6,})\s*$", message.body, re.MULTILINE).group(1)
    response = client.post("/accounts/login/code/confirm/", {"code": code}, follow=True)

    assert response.redirect_chain[-1][0] == "/dashboard/"


def test_nobody_can_sign_up_on_their_own(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "a-long-password-1", "password2": "a-long-password-1"},
    )

    from accounts.models import User

    assert response.status_code in (200, 403)
    assert not User.objects.filter(email="new@example.com").exists()
    assert "_auth_user_id" not in client.session


def test_account_managers_land_in_the_back_office(client):
    from tests.factories import UserFactory

    UserFactory(email="am@vendor.example", is_staff=True, staff_role="account_manager")

    response = client.post("/accounts/login/", {"login": "am@vendor.example", "password": PASSWORD})

    assert response["Location"] == "/backoffice/"
