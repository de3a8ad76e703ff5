"""Every PDF a person downloads (the agreement, the signed copy with its certificate, a
receipt) comes with a `Content-Disposition` naming what it is, on the customer's pages,
in the back office and on the emails' attachments; the customer's text in the name is
sanitised."""

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.test import Client

from pdfs.downloads import pdf_filename
from subscriptions.models import SeatChange
from tests.backoffice.factories import payment_factory, seat_change_signed
from tests.factories import MembershipFactory, SubscriptionFactory
from tests.portal.conftest import activated  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("organization", "expected"),
    [
        ("Acme Field Services", "change-agreement-acme-field-services-S-0042-2026-12-01.pdf"),
        ('Evil"; filename="x.exe', "change-agreement-evil-filenamexexe-S-0042-2026-12-01.pdf"),
        (
            "../../etc/passwd\r\nSet-Cookie: a=b",
            "change-agreement-etcpasswd-set-cookie-ab-S-0042-2026-12-01.pdf",
        ),
        ("Société Générale", "change-agreement-societe-generale-S-0042-2026-12-01.pdf"),
        ("日本", "change-agreement-S-0042-2026-12-01.pdf"),
    ],
)
def test_a_filename_keeps_only_letters_digits_and_dashes(organization, expected):
    assert (
        pdf_filename("change-agreement", organization, "S-0042", on=datetime(2026, 12, 1, tzinfo=UTC))
        == expected
    )


def test_the_agreement_opens_inline_or_downloads_under_its_name(client, activated):  # noqa: F811
    client.post(f"{activated.base}change/", {"new_total": "5"})
    change = SeatChange.objects.get()
    url = f"{activated.base}changes/{change.number}/agreement.pdf"
    organization = activated.subscription.organization
    name = pdf_filename("change-agreement", organization.name, change.number, on=change.agreement.sent_at)

    shown, saved = client.get(url), client.get(url, {"download": "1"})

    assert name.startswith("change-agreement-") and change.number in name
    assert shown["Content-Disposition"] == f'inline; filename="{name}"'
    assert saved["Content-Disposition"] == f'attachment; filename="{name}"'
    assert shown.content.startswith(b"%PDF-") and shown["Content-Length"] == str(len(shown.content))


def test_the_signed_copy_and_the_receipt_are_named_on_the_page_and_in_the_email(
    django_capture_on_commit_callbacks,
):
    membership = MembershipFactory(organization__name='Acme "Field" Services')
    subscription = SubscriptionFactory(organization=membership.organization, quantity=2)
    with django_capture_on_commit_callbacks(execute=True):
        change = seat_change_signed(subscription, 4, with_agreement=True)
    paid = payment_factory(change, receipt_number="R-2026-0042")
    client = Client()
    client.force_login(membership.user)
    signed_day = f"{change.agreement.signed_at:%Y-%m-%d}"

    receipt = client.get(
        f"/subscriptions/{subscription.pk}/payments/R-2026-0042/receipt.pdf", {"download": "1"}
    )

    assert receipt["Content-Disposition"] == (
        f'attachment; filename="receipt-acme-field-services-R-2026-0042-{paid.paid_at:%Y-%m-%d}.pdf"'
    )
    attachments = [name for message in mail.outbox for name, _, _ in message.attachments]
    assert f"change-agreement-acme-field-services-{change.number}-signed-{signed_day}.pdf" in attachments
