"""The seat change pages as the admin reaches them from the emailed link."""

import pytest
from django.core import mail
from django.test import Client
from pypdf import PdfReader

from subscriptions.models import SeatChange
from tests.factories import MembershipFactory, SubscriptionFactory
from tests.portal.conftest import open_link

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_link_opens_the_change_page_without_signing_in(client, activated):
    response = client.get(activated.change, follow=True)

    page = response.content.decode()
    assert response.status_code == 200
    assert response.redirect_chain == [(f"{activated.base}change/", 303)]
    assert "Add or remove users" in page
    assert 'data-testid="current-total">3<' in page
    assert 'data-testid="in-use">2<' in page
    assert "if you have 1 user and want 3 more, enter 4" in page


def test_the_preview_quotes_the_change_the_amount_due_and_the_renewal(client, activated):
    quote_url = f"{activated.base}change/quote/"

    data = client.get(quote_url, {"new_total": "5"}).json()

    assert data["ok"] is True
    assert data["delta"] == 2
    assert data["renewal_display"] == "€75.00"
    assert data["amount_due"] > 0
    assert client.get(quote_url, {"new_total": "3"}).json()["error"].startswith("You already have 3")
    assert client.get(quote_url, {"new_total": "abc"}).status_code == 400


def test_a_bad_total_is_refused_on_the_page_and_nothing_is_created(client, activated):
    response = client.post(f"{activated.base}change/", {"new_total": "0"})

    assert response.status_code == 400
    assert "needs at least 1 user" in response.content.decode()
    assert not SeatChange.objects.exists()


def test_submitting_a_new_total_opens_the_agreement_to_sign(client, activated):
    response = client.post(f"{activated.base}change/", {"new_total": "5"}, follow=True)

    change = SeatChange.objects.get()
    page = response.content.decode()
    assert (change.old_quantity, change.new_quantity, change.state) == (3, 5, "draft")
    assert f"Seat change {change.number}" in page
    assert "<iframe" in page and "agreement.pdf" in page
    pdf = client.get(f"{activated.base}changes/{change.number}/agreement.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(__import__("io").BytesIO(pdf.getvalue())).pages)
    assert change.number in text


def test_a_second_change_shows_the_open_one(client, activated):
    client.post(f"{activated.base}change/", {"new_total": "5"})
    change = SeatChange.objects.get()

    response = client.post(f"{activated.base}change/", {"new_total": "6"}, follow=True)

    assert SeatChange.objects.count() == 1
    assert f"already has a seat change in progress ({change.number}" in response.content.decode()


def test_a_decrease_below_licences_in_use_asks_who_loses_theirs(client, activated):
    response = client.post(f"{activated.base}change/", {"new_total": "1"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "2 licences are in use, so the new total cannot be 1" in page
    assert "Who loses their licence?" in page


def test_a_revoked_or_unknown_link_says_it_is_no_longer_valid_and_nothing_else(client, activated):
    from subscriptions import links

    links.links_rotate(subscription=activated.subscription)

    for url in (
        activated.change,
        f"/l/{'x' * 43}/",
        f"/l/{activated.change_token}/change/quote/?new_total=5",
        f"{activated.base}change/quote/?new_total=5",  # the session of the old link
        f"{activated.base}change/",
    ):
        response = client.get(url, follow=True)
        page = response.content.decode()
        assert response.status_code == 404
        assert "This link is no longer valid" in page
        assert activated.subscription.organization.name not in page
        assert "/links/retrieve/" in page


def test_a_link_cannot_reach_another_subscriptions_seat_change(client, activated):
    other = SubscriptionFactory(quantity=3)
    membership = MembershipFactory(organization=other.organization)
    client.force_login(membership.user)
    client.post(f"/subscriptions/{other.pk}/change/", {"new_total": "4"})
    foreign = SeatChange.objects.get(subscription=other)
    client.logout()
    activated.reopen()

    for suffix in ("", "agreement.pdf", "sign/", "withdraw/"):
        url = f"{activated.base}changes/{foreign.number}/{suffix}"
        response = client.post(url) if suffix.endswith("/") and suffix else client.get(url)
        assert response.status_code == 404


def test_the_cancel_link_confirms_the_end_date_cancels_at_period_end_and_emails(client, activated):
    page = client.get(activated.cancel, follow=True).content.decode()
    end = activated.subscription.current_period_end
    assert f"{end:%-d %B %Y}" in page

    response = client.post(activated.cancel_page, {"confirm": "on"})

    activated.subscription.refresh_from_db()
    assert activated.subscription.cancel_at_period_end is True
    assert f"Ends on <strong>{end:%-d %B %Y}</strong>" in response.content.decode()
    assert "Keep my subscription" in response.content.decode()
    assert [m.subject for m in mail.outbox] == [f"Opero Documents will be cancelled on {end:%d %B %Y}"]


def test_retrieve_links_says_clearly_when_rate_limited(client, activated):
    for _ in range(3):
        client.post("/links/retrieve/", {"email": "ada@acme.example"})

    response = client.post("/links/retrieve/", {"email": "ada@acme.example"})

    assert response.status_code == 429
    assert "Too many requests for links" in response.content.decode()


def test_a_named_signer_gets_their_own_link_to_that_agreement_only(client, activated):
    client.post(
        f"{activated.base}change/",
        {
            "new_total": "4",
            "other_signer": "on",
            "signer_name": "Fin Ance",
            "signer_email": "fin@acme.example",
        },
    )
    change = SeatChange.objects.get()
    (request,) = [m for m in mail.outbox if m.to == ["fin@acme.example"]]
    url = next(line for line in request.body.splitlines() if "/l/" in line).split("testserver", 1)[1]
    signer = Client()

    page_url = open_link(signer, url)
    page = signer.get(page_url).content.decode()
    assert page_url == f"{page_url.split('/changes/')[0]}/changes/{change.number}/"
    assert "Sign agreement" in page and '<strong data-testid="signer-email">fin@acme.example</strong>' in page
    base = page_url.split("changes/")[0]
    assert signer.get(f"{base}change/").status_code == 404  # a signing link can't change seats
    assert signer.get(f"{base}payments/").status_code == 404
    admin_view = client.get(f"{activated.base}changes/{change.number}/").content.decode()
    assert "Waiting for Fin Ance (fin@acme.example) to sign" in admin_view
    assert "Sign agreement" not in admin_view


def test_the_change_page_follows_the_count_from_sending_to_live(client, activated):
    from licensing import delivery
    from subscriptions.models import SeatSync
    from tests.factories import paid_seat_change

    change = paid_seat_change(activated.subscription, 5)
    url = f"{activated.base}changes/{change.number}/"

    page = client.get(url).content.decode()
    assert "Sending to your org" in page and 'data-live-status-url="' in page
    status = client.get(url + "pay/status/").json()
    assert (status["state"], status["push"]) == ("applying", "Sending to your org…")

    delivery.seat_sync_deliver(seat_sync_id=SeatSync.objects.get().pk)

    assert client.get(url + "pay/status/").json()["state"] == "applied"
    assert "Done: your org now has 5 users." in client.get(url).content.decode()
