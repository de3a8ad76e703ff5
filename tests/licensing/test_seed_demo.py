import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_demo_logins_sign_in_at_once_with_their_verified_addresses():
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())  # a second run changes nothing
    mail.outbox.clear()

    for email, lands_on in (("admin@acme.example", "/dashboard/"), ("manager@seatmgr.local", "/backoffice/")):
        client = Client()
        response = client.post("/accounts/login/", {"login": email, "password": "seatmgr-demo"})
        assert response["Location"] == lands_on, email
    assert mail.outbox == []  # no "verify your email" on the way
