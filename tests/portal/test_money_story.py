"""One money story per seat change: every surface a customer reads (the change page, the
signing page, the seat change page, the agreement PDF, the emails, My subscriptions,
Invoices and payments, the API) and what Stripe will bill say the same amounts, for
increases and decreases, applied at once or at the period end, with a cancellation
pending or not."""

import html
import re

import pytest
from django.core import mail
from django.test import Client

from backoffice import services as backoffice
from billing.models import Payment
from subscriptions import services as subscription_services
from subscriptions.models import Plan, SeatChange, Subscription
from tests.agreements.pdfs import text as pdf_text
from tests.backoffice.factories import staff_factory
from tests.billing.factories import give_card_on_file, stripe_subscription
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

SIGNING = {
    "signer_name": "Ada Admin",
    "consent": "yes",
    "accept_terms": "yes",
    "signature_kind": "typed",
    "signature_text": "Ada Admin",
}
MONEY = re.compile(r"€[\d,]+\.\d\d")


def said(page: str, testid: str) -> str:
    """The text of the element marked `data-testid=testid`, tags and spaces tidied."""
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:dd|p|strong)>', page, re.S)
    assert match, f"nothing marked {testid!r} on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def amount(text: str) -> str:
    found = MONEY.search(text)
    assert found, f"no amount in {text!r}"
    return found.group(0)


def euros(minor: int) -> str:
    return f"€{minor // 100:,}.{minor % 100:02d}"


@pytest.fixture
def signature(activated, localstripe, use_localstripe, celery_eager):
    """The issue's example: Signature at €90.00 per user, 5 seats (2 licences in use),
    renewals billed by Stripe (a linked Stripe subscription at 5 seats, a card on file);
    the admin also signs in to My subscriptions (`dashboard`)."""
    subscription = activated.subscription
    Plan.objects.filter(pk=subscription.plan_id).update(unit_amount=9000)
    Subscription.objects.filter(pk=subscription.pk).update(quantity=5)
    subscription.refresh_from_db()
    give_card_on_file(localstripe, subscription)
    subscription.refresh_from_db()
    activated.stripe_id = stripe_subscription(localstripe, subscription)
    activated.localstripe = localstripe
    membership = MembershipFactory(organization=subscription.organization)
    activated.dashboard = Client()
    activated.dashboard.force_login(membership.user)
    activated.api = api_client(subscription)
    return activated


def api_client(subscription) -> Client:
    _, raw = subscription_services.api_key_create(organization=subscription.organization, name="CRM")
    return Client(headers={"Authorization": f"Api-Key {raw}"})


def start(client, activated, new_total: int) -> SeatChange:
    response = client.post(f"{activated.base}change/", {"new_total": str(new_total)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return SeatChange.objects.get(state=SeatChange.State.DRAFT)


def sign(client, activated, change: SeatChange, **extra) -> SeatChange:
    client.post(f"{activated.base}changes/{change.number}/sign/", {**SIGNING, **extra})
    change.refresh_from_db()
    return change


def subscription_surfaces(client, activated) -> dict[str, str]:
    """What the subscription's pages and the API say of its next renewal."""
    subscription = activated.subscription
    change_page = client.get(f"{activated.base}change/").content.decode()
    invoices = client.get(f"{activated.base}payments/").content.decode()
    dashboard = activated.dashboard.get("/dashboard/").content.decode()
    detail = activated.dashboard.get(f"/subscriptions/{subscription.pk}/").content.decode()
    (api,) = activated.api.get("/api/v1/subscriptions/").json()["results"]
    ending = 'data-testid="ends-on"' in change_page
    testid = "ends-on" if ending else "next-renewal"
    return {
        "change page": said(change_page, testid),
        "invoices and payments": said(invoices, testid),
        "my subscriptions": said(dashboard, "ends-on" if ending else "renewal"),
        "manage subscription": said(detail, testid),
        "api next_renewal_amount": "None"
        if api["next_renewal_amount"] is None
        else euros(api["next_renewal_amount"]),
        "api ends_on": str(api["ends_on"]),
    }


def change_surfaces(client, activated, change: SeatChange, signing_page: str) -> dict[str, str]:
    """What the seat change's own surfaces say: due now and the renewal it leads to."""
    change.refresh_from_db()
    page = client.get(f"{activated.base}changes/{change.number}/").content.decode()
    pdf = pdf_text(bytes(change.agreement.signed_pdf))
    signed_email = next(
        m for m in mail.outbox if m.subject.startswith("Signed:") and change.number in m.subject
    ).body
    api = activated.api_summary(change)
    ending = 'data-testid="ends-on"' in page
    renewal_pdf = re.search(r"Next renewal (None: [^.]*|€[\d,]+\.\d\d)", pdf).group(1)
    email_renewal = re.search(r"(renewals are €[\d,]+\.\d\d|ends on [^.]*)", signed_email).group(1)
    return {
        "signing page due": said(signing_page, "due-now"),
        "seat change page due": said(page, "due-now"),
        "pdf due": re.search(r"Amount due now (€[\d,]+\.\d\d)", pdf).group(1),
        "api due": euros(api["amount_due"]),
        "signing page renewal": said(signing_page, "ends-on" if ending else "renewal"),
        "seat change page renewal": said(page, "ends-on" if ending else "renewal"),
        "pdf renewal": renewal_pdf,
        "signed copy email renewal": email_renewal,
        "api renewal": "None" if api["renewal_amount"] is None else euros(api["renewal_amount"]),
    }


@pytest.fixture
def story(signature):
    from licensing.serializers import seat_change_summary

    signature.api_summary = seat_change_summary
    return signature


def approve(change: SeatChange) -> SeatChange:
    manager = staff_factory("manager")
    return backoffice.seat_change_approve(seat_change=change, actor=manager)


def stripe_bills(story) -> str:
    """What the Stripe subscription will bill at the renewal: its quantity times the price."""
    stripe = story.localstripe.get(f"/v1/subscriptions/{story.stripe_id}")
    if stripe["cancel_at_period_end"]:
        return "None"
    item = stripe["items"]["data"][0]
    return euros(item["quantity"] * story.subscription.plan.unit_amount)


@pytest.mark.parametrize("policy", [Plan.DecreasePolicy.IMMEDIATE, Plan.DecreasePolicy.PERIOD_END])
def test_a_decrease_is_neither_charged_nor_credited_and_renews_at_the_new_total_everywhere(
    client, story, policy
):
    Plan.objects.filter(pk=story.subscription.plan_id).update(decrease_policy=policy)
    change = start(client, story, 4)
    signing_page = client.get(f"{story.base}changes/{change.number}/").content.decode()
    assert "Credited" not in signing_page
    change = sign(client, story, change)
    change = approve(change)
    assert change.state in (("applying", "applied") if policy == "immediate" else ("scheduled",))

    story.subscription.refresh_from_db()
    every = {**subscription_surfaces(client, story), **change_surfaces(client, story, change, signing_page)}
    dues = {name: amount(text) for name, text in every.items() if name.endswith("due")}
    renewals = {
        name: amount(text)
        for name, text in every.items()
        if "renewal" in name and "ends_on" not in name and name != "api ends_on"
    }
    assert set(dues.values()) == {"€0.00"}, dues
    # 4 seats at €90.00: what the agreement says, and what Stripe will bill at the boundary
    # (for a period-end decrease its quantity is set when approved, before the boundary).
    assert set(renewals.values()) == {"€360.00"}, renewals
    assert stripe_bills(story) == "€360.00"
    approved = next(m for m in mail.outbox if m.subject.startswith("Approved:"))
    assert "decrease to 4 users" in approved.subject
    assert "Next renewal: €360.00 for 4 users" in approved.body


def test_an_increase_charges_its_quote_once_and_renews_at_the_new_total_everywhere(client, story):
    change = start(client, story, 6)
    signing_page = client.get(f"{story.base}changes/{change.number}/").content.decode()
    change = sign(client, story, change, payment=consent_choice(signing_page))

    payment = Payment.objects.get()
    assert payment.status == "succeeded" and payment.amount == change.amount_due
    story.subscription.refresh_from_db()
    every = {**subscription_surfaces(client, story), **change_surfaces(client, story, change, signing_page)}
    dues = {name: amount(text) for name, text in every.items() if name.endswith("due")}
    renewals = {name: amount(text) for name, text in every.items() if "renewal" in name}
    assert set(dues.values()) == {euros(change.amount_due)}, dues
    assert set(renewals.values()) == {"€540.00"}, renewals
    assert stripe_bills(story) == "€540.00"
    receipt = next(m for m in mail.outbox if m.subject.startswith("Receipt"))
    assert "renewals are €540.00 per month for 6 users" in receipt.body


def test_with_a_cancellation_pending_every_surface_says_it_ends_and_increases_are_refused(client, story):
    subscription_services.subscription_cancel(subscription=story.subscription)
    story.subscription.refresh_from_db()
    end = f"{story.subscription.current_period_end:%-d %B %Y}"

    refused = client.post(f"{story.base}change/", {"new_total": "6"})
    preview = client.get(f"{story.base}change/quote/", {"new_total": "6"})
    assert refused.status_code == 400 and preview.status_code == 400
    assert f"Your subscription ends on {end}" in html.unescape(refused.content.decode())
    assert "Keep my subscription" in refused.content.decode()
    assert "Keep my subscription" in preview.json()["error"]
    assert not SeatChange.objects.exists()

    Plan.objects.filter(pk=story.subscription.plan_id).update(decrease_policy="period_end")
    change = start(client, story, 4)
    signing_page = client.get(f"{story.base}changes/{change.number}/").content.decode()
    change = approve(sign(client, story, change))

    every = {**subscription_surfaces(client, story), **change_surfaces(client, story, change, signing_page)}
    renewals = {name: text for name, text in every.items() if "renewal" in name or "ends" in name}
    assert not any(MONEY.search(text) for text in renewals.values()), renewals
    assert every["api next_renewal_amount"] == every["api renewal"] == "None"
    assert every["api ends_on"].startswith(f"{story.subscription.current_period_end:%Y-%m-%d}")
    pages = {name: text for name, text in renewals.items() if not name.startswith("api")}
    assert all(end in text for text in pages.values()), pages
    assert {name: amount(text) for name, text in every.items() if name.endswith("due")} == dict.fromkeys(
        ("signing page due", "seat change page due", "pdf due", "api due"), "€0.00"
    )
    assert stripe_bills(story) == "None"


def test_keeping_the_subscription_brings_the_renewal_back_everywhere_and_allows_increases(client, story):
    subscription_services.subscription_cancel(subscription=story.subscription)

    response = client.post(f"{story.base}keep/", {"new_total": "6"}, follow=True)

    story.subscription.refresh_from_db()
    assert story.subscription.cancel_at_period_end is False
    assert response.redirect_chain[-1][0].endswith("change/?new_total=6")
    assert "no longer cancelled" in html.unescape(response.content.decode())
    surfaces = subscription_surfaces(client, story)
    assert {name: text for name, text in surfaces.items() if name != "api ends_on"} and all(
        amount(text) == "€450.00" for name, text in surfaces.items() if name != "api ends_on"
    ), surfaces
    assert surfaces["api ends_on"] == "None"
    assert stripe_bills(story) == "€450.00"
    assert client.get(f"{story.base}change/quote/", {"new_total": "6"}).json()["ok"] is True


def consent_choice(signing_page: str) -> str:
    return re.search(r'name="payment" value="(card:[^"]+)"', signing_page).group(1)


def test_a_scheduled_decrease_counts_until_it_is_replaced_by_an_increase(client, story):
    Plan.objects.filter(pk=story.subscription.plan_id).update(decrease_policy="period_end")
    decrease = approve(sign(client, story, start(client, story, 4)))
    assert decrease.state == "scheduled"
    pending = subscription_surfaces(client, story)
    assert {amount(text) for name, text in pending.items() if name != "api ends_on"} == {"€360.00"}, pending
    assert stripe_bills(story) == "€360.00"

    # The change page says a change is open and offers to replace it; replacing it with
    # an increase withdraws the decrease in the same step.
    change_page = client.get(f"{story.base}change/").content.decode()
    assert "Replace the open change" in change_page
    response = client.post(f"{story.base}change/", {"new_total": "6", "replace_open": decrease.number})
    assert response.status_code == 302
    decrease.refresh_from_db()
    assert decrease.state == "cancelled"
    increase = SeatChange.objects.get(state=SeatChange.State.DRAFT)
    signing_page = client.get(f"{story.base}changes/{increase.number}/").content.decode()
    sign(client, story, increase, payment=consent_choice(signing_page))

    story.subscription.refresh_from_db()
    every = {**subscription_surfaces(client, story), **change_surfaces(client, story, increase, signing_page)}
    renewals = {name: amount(text) for name, text in every.items() if "renewal" in name}
    assert set(renewals.values()) == {"€540.00"}, renewals
    assert stripe_bills(story) == "€540.00"
