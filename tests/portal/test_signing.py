"""Who may sign, attacked through the pages: the admin's link or a signed-in admin
against a change someone else is named to sign, a signing link posting another
address, an empty "someone else signs", and two clicks on Sign at once."""

import threading

import pytest
from django.core import mail
from django.db import connection
from django.test import Client

from agreements.models import Agreement
from audit.models import AuditEvent
from subscriptions.models import SeatChange
from tests.agreements.factories import verified
from tests.agreements.pdfs import page_texts
from tests.factories import MembershipFactory
from tests.portal.conftest import open_link

pytestmark = pytest.mark.django_db(transaction=True)

SIGNING = {
    "signer_name": "Fin Ance",
    "consent": "yes",
    "accept_terms": "yes",
    "signature_kind": "typed",
    "signature_text": "Fin Ance",
}


def start_with_named_signer(client, activated) -> tuple[SeatChange, str]:
    """The admin asks Fin Ance to sign; returns the change and Fin's emailed link."""
    client.post(
        f"{activated.base}change/",
        {
            "new_total": "4",
            "other_signer": "on",
            "signer_name": "Fin Ance",
            "signer_email": "fin@acme.example",
        },
    )
    (request,) = [m for m in mail.outbox if m.to == ["fin@acme.example"]]
    url = next(line for line in request.body.splitlines() if "/l/" in line)
    mail.outbox.clear()
    return SeatChange.objects.get(), url.split("testserver", 1)[1]


def assert_unsigned(change):
    change.refresh_from_db()
    agreement = Agreement.objects.get(seat_change=change)
    assert change.state == "draft" and not agreement.is_signed
    assert change.signer_email == "fin@acme.example"
    assert not AuditEvent.objects.filter(action="agreement.signed").exists()
    assert not [m for m in mail.outbox if m.subject.startswith("Signed")]


def test_the_admins_link_cannot_sign_a_change_someone_else_is_named_to_sign(client, activated):
    change, _ = start_with_named_signer(client, activated)

    response = client.post(
        f"{activated.base}changes/{change.number}/sign/", {**SIGNING, "signer_email": "ada@acme.example"}
    )

    assert response.status_code == 403
    page = response.content.decode()
    assert "is to be signed by Fin Ance (fin@acme.example), with the link we emailed them" in page
    assert 'role="alert"' in page and "Sign agreement" not in page
    assert_unsigned(change)


def test_a_signed_in_admin_cannot_sign_a_change_someone_else_is_named_to_sign(client, activated):
    change, _ = start_with_named_signer(client, activated)
    admin = MembershipFactory(
        organization=activated.subscription.organization, user__email="ada@acme.example"
    )
    client.force_login(verified(admin.user))
    url = f"/subscriptions/{activated.subscription.pk}/changes/{change.number}/"

    assert "Waiting for Fin Ance (fin@acme.example) to sign" in client.get(url).content.decode()
    response = client.post(f"{url}sign/", SIGNING)

    assert response.status_code == 403
    assert "is to be signed by Fin Ance" in response.content.decode()
    assert_unsigned(change)


def test_a_signing_link_signs_as_its_own_address_whatever_email_is_posted(client, activated):
    change, url = start_with_named_signer(client, activated)
    signer = Client()
    page = open_link(signer, url)

    response = signer.post(f"{page}sign/", {**SIGNING, "signer_email": "ceo@acme.example"})

    assert response.status_code == 302
    agreement = Agreement.objects.get(seat_change=change)
    assert (agreement.signer_email, agreement.signer_identified_by) == ("fin@acme.example", "emailed_link")
    change.refresh_from_db()
    assert (change.state, change.signer_email) == ("awaiting_payment", "fin@acme.example")
    certificate = page_texts(agreement.signed_pdf)[-1]
    assert "Signer email fin@acme.example" in certificate
    assert "Signer identified By a link emailed to fin@acme.example" in certificate
    assert "ceo@acme.example" not in " ".join(page_texts(agreement.signed_pdf))
    signed_mail = [m.to[0] for m in mail.outbox if m.subject.startswith("Signed")]
    assert sorted(signed_mail) == ["ada@acme.example", "fin@acme.example"]


def test_the_admins_link_signs_as_the_address_it_was_emailed_to(client, activated):
    client.post(f"{activated.base}change/", {"new_total": "4"})
    change = SeatChange.objects.get()
    page = client.get(f"{activated.base}changes/{change.number}/").content.decode()
    assert '<strong data-testid="signer-email">ada@acme.example</strong>' in page
    assert "The address this link was emailed to" in page
    assert 'name="signer_email"' not in page

    client.post(
        f"{activated.base}changes/{change.number}/sign/", {**SIGNING, "signer_email": "someone@else.example"}
    )

    agreement = Agreement.objects.get(seat_change=change)
    assert (agreement.signer_email, agreement.signer_identified_by) == ("ada@acme.example", "emailed_link")


def test_a_signed_in_admin_signs_as_their_account_address(client, activated):
    admin = MembershipFactory(
        organization=activated.subscription.organization, user__email="grace@acme.example"
    )
    client.force_login(verified(admin.user))
    base = f"/subscriptions/{activated.subscription.pk}/"
    client.post(f"{base}change/", {"new_total": "4"})
    change = SeatChange.objects.get()
    page = client.get(f"{base}changes/{change.number}/").content.decode()
    assert '<strong data-testid="signer-email">grace@acme.example</strong>' in page
    assert "The address you are signed in with" in page

    client.post(f"{base}changes/{change.number}/sign/", {**SIGNING, "signer_email": "ada@acme.example"})

    agreement = Agreement.objects.get(seat_change=change)
    assert (agreement.signer_email, agreement.signer_identified_by) == ("grace@acme.example", "signed_in")
    assert "Signer identified Signed in as grace@acme.example" in page_texts(agreement.signed_pdf)[-1]


@pytest.mark.parametrize(
    ("name", "email", "message"),
    [
        ("", "", "Enter the full name of the person who will sign, or untick"),
        ("Fin Ance", "", "Enter a valid email address for the person who will sign"),
        ("Fin Ance", "not-an-address", "Enter a valid email address for the person who will sign"),
        ("", "fin@acme.example", "Enter the full name of the person who will sign"),
    ],
)
def test_someone_else_signs_without_a_name_and_email_is_refused(client, activated, name, email, message):
    response = client.post(
        f"{activated.base}change/",
        {"new_total": "4", "other_signer": "on", "signer_name": name, "signer_email": email},
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert 'name="other_signer" id="id_other_signer" checked' in page
    assert not SeatChange.objects.exists() and not Agreement.objects.exists()
    assert mail.outbox == []


def test_two_sign_requests_at_once_sign_once_and_both_get_a_page(client, activated):
    client.post(f"{activated.base}change/", {"new_total": "4"})
    change = SeatChange.objects.get()
    url = f"{activated.base}changes/{change.number}/sign/"
    answers, start = [], threading.Barrier(2)

    def click():
        second = Client()
        second.cookies = client.cookies
        start.wait()
        try:
            answers.append(second.post(url, {**SIGNING, "signer_name": "Ada Admin"}, follow=True))
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [answer.status_code for answer in answers] == [200, 200]
    pages = sorted(answer.content.decode() for answer in answers)
    assert any("Agreement signed." in page for page in pages)
    assert any(f"Agreement {change.number} is already signed" in page for page in pages)
    assert all('data-testid="state">Waiting for payment<' in page for page in pages)
    assert AuditEvent.objects.filter(action="agreement.signed").count() == 1


def test_a_signed_in_admin_with_an_unverified_address_is_asked_to_confirm_it_first(client, activated):
    admin = MembershipFactory(
        organization=activated.subscription.organization,
        user__email="new@acme.example",
        user__verified=False,
    )
    client.force_login(admin.user)
    base = f"/subscriptions/{activated.subscription.pk}/"
    client.post(f"{base}change/", {"new_total": "4"})
    change = SeatChange.objects.get()

    page = client.get(f"{base}changes/{change.number}/").content.decode()
    refused = client.post(f"{base}changes/{change.number}/sign/", SIGNING)

    assert "Confirm your email address new@acme.example first" in page and "Sign agreement" not in page
    assert refused.status_code == 403
    change.refresh_from_db()
    assert change.state == "draft" and not Agreement.objects.get(seat_change=change).is_signed
