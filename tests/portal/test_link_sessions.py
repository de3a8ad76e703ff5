"""Opening an emailed link gives the browser's session that link's capability and
leaves the token behind: no page of the link carries it, revoking the link ends the
session's access at once, and the session grants the link's one action and nothing
else."""

import re

import pytest
from django.core import mail
from django.test import Client

from subscriptions import links
from subscriptions.models import CapabilityLink, SeatChange
from tests.billing.factories import awaiting_payment
from tests.portal.conftest import open_link

pytestmark = pytest.mark.django_db(transaction=True)

URL_ATTRIBUTES = re.compile(r'(?:href|src|action|data-[a-z-]*url)="([^"]*)"')


def urls_in(page: str) -> list[str]:
    return URL_ATTRIBUTES.findall(page)


def test_opening_a_link_redirects_to_pages_without_the_token(client, activated):
    response = client.get(activated.change)

    assert response.status_code == 303
    assert response["Location"] == f"{activated.base}change/"
    assert activated.change_token not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer" and "no-store" in response["Cache-Control"]
    assert activated.change_token not in str(dict(client.session))


def test_no_page_of_a_link_carries_its_token_the_payment_page_included(client, activated, settings):
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_seatmgr"
    change = awaiting_payment(activated.subscription, new_quantity=5)
    visited = [
        f"{activated.base}change/",
        f"{activated.base}changes/{change.number}/",
        f"{activated.base}changes/{change.number}/pay/",
        f"{activated.base}payments/",
    ]

    for url in visited:
        response = client.get(url)
        page = response.content.decode()
        assert response.status_code == 200, url
        assert activated.change_token not in url and activated.change_token not in page, url
        for linked in urls_in(page):
            assert "/l/" not in linked, (url, linked)
    pay_page = client.get(visited[2]).content.decode()
    assert "js.stripe.com/v3/" in pay_page and 'id="card-element"' in pay_page


def test_an_emailed_link_to_a_page_lands_on_that_page_and_nowhere_else(client, activated):
    change = awaiting_payment(activated.subscription, new_quantity=5)

    assert open_link(client, f"{activated.change}changes/{change.number}/pay/") == (
        f"{activated.base}changes/{change.number}/pay/"
    )
    for elsewhere in ("../../admin/", "changes/x/../../../admin/", "nowhere/", "//evil.example/"):
        assert open_link(client, f"{activated.change}{elsewhere}") == f"{activated.base}change/"


def test_a_revoked_link_stops_working_in_the_session_that_opened_it(client, activated):
    url = f"{activated.base}change/"
    assert client.get(url).status_code == 200

    link = CapabilityLink.objects.get(action=CapabilityLink.Action.CHANGE_SEATS)
    links.link_revoke(link=link)

    for method, path in (("get", url), ("post", url), ("get", f"{url}quote/?new_total=5")):
        response = getattr(client, method)(path, {"new_total": "5"} if method == "post" else None)
        assert response.status_code == 404
        assert "This link is no longer valid" in response.content.decode()
    assert not SeatChange.objects.exists()


def test_a_links_session_id_is_worthless_in_another_browser(client, activated):
    stranger = Client()

    response = stranger.get(f"{activated.base}change/")

    assert response.status_code == 404
    assert activated.subscription.organization.name not in response.content.decode()
    assert stranger.post(f"{activated.base}change/", {"new_total": "5"}).status_code == 404
    assert not SeatChange.objects.exists()


def test_a_links_session_grants_its_one_action_and_nothing_else(client, activated):
    cancel_base = activated.cancel_page.removesuffix("cancel/")
    subscription = activated.subscription

    assert client.get(f"{activated.base}cancel/").status_code == 404  # the change link can't cancel
    assert client.post(f"{activated.base}cancel/", {"confirm": "on"}).status_code == 404
    assert client.get(f"{cancel_base}change/").status_code == 404  # the cancel link can't change seats
    assert client.get(f"{cancel_base}payments/").status_code == 404
    # Opening links signs nobody in: the dashboard still wants a sign-in.
    assert client.get(f"/subscriptions/{subscription.pk}/change/").status_code == 302
    assert client.get(f"/subscriptions/{subscription.pk}/").status_code == 302
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end


def test_opening_a_link_changes_the_session_key(client, activated):
    before = client.cookies["sessionid"].value

    open_link(client, activated.change)

    assert client.cookies["sessionid"].value != before


def test_replacing_the_links_ends_the_signing_links_and_sends_the_signer_a_fresh_one(client, activated):
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
    old_url = next(line for line in request.body.splitlines() if "/l/" in line).split("testserver", 1)[1]
    signer = Client()
    old_page = open_link(signer, old_url)
    mail.outbox.clear()

    links.links_rotate(subscription=activated.subscription)

    assert signer.get(old_page).status_code == 404  # the session of the old signing link
    assert signer.get(old_url, follow=True).status_code == 404  # the old signing link itself
    assert signer.post(f"{old_page}sign/", {"signer_name": "Fin Ance"}).status_code == 404
    (fresh,) = [m for m in mail.outbox if m.to == ["fin@acme.example"]]
    assert fresh.subject == f"Please sign the Opero Documents seat change agreement {change.number}"
    new_url = next(line for line in fresh.body.splitlines() if "/l/" in line).split("testserver", 1)[1]
    assert new_url != old_url
    assert "Sign agreement" in signer.get(open_link(signer, new_url)).content.decode()
    assert CapabilityLink.objects.filter(revoked_at__isnull=True, action="sign").count() == 1
    change.refresh_from_db()
    assert change.state == "draft"


def test_replacing_the_links_ends_the_payment_links_too(client, activated):
    change = awaiting_payment(activated.subscription, new_quantity=5)
    _, raw = links.link_issue(
        subscription=activated.subscription,
        action=CapabilityLink.Action.SIGN,
        email="fin@acme.example",
        seat_change=change,
    )
    payer = Client()
    pay_page = open_link(payer, f"/l/{raw}/changes/{change.number}/pay/")

    links.links_rotate(subscription=activated.subscription)

    assert payer.get(pay_page).status_code == 404
    assert not [m for m in mail.outbox if m.to == ["fin@acme.example"]]  # nothing left for them to sign
