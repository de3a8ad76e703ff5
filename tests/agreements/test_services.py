import hashlib
import io
from datetime import timedelta

import pytest
from django.core import mail
from django.db import DatabaseError, transaction
from django.utils import timezone
from PIL import Image

from agreements import services
from agreements.errors import AgreementAlreadySigned, AgreementNotIssuable, SignerNotAllowed
from agreements.models import Agreement, AgreementImmutable
from audit.models import AuditEvent
from subscriptions import links
from subscriptions.errors import InvalidInput
from subscriptions.models import CapabilityLink, Membership, SeatChange
from subscriptions.seat_changes import QuoteExpired, seat_change_cancel
from tests.agreements.factories import (
    agreement_factory,
    drawn_signature_data_url,
    png_data_url,
    seat_change_factory,
    sign,
    signing_link,
    verified,
)
from tests.agreements.pdfs import image_count, page_texts, reader
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def sha256(data) -> str:
    return hashlib.sha256(bytes(data)).hexdigest()


# --- Issue and view ------------------------------------------------------------------


def test_issuing_stores_the_unsigned_pdf_and_its_sha256():
    seat_change = seat_change_factory()

    agreement = services.agreement_issue(seat_change=seat_change)

    agreement.refresh_from_db()
    assert bytes(agreement.unsigned_pdf).startswith(b"%PDF-")
    assert agreement.unsigned_sha256 == sha256(agreement.unsigned_pdf)
    assert agreement.sent_at is not None
    assert agreement.organization_id == seat_change.organization_id
    assert not agreement.is_signed
    assert AuditEvent.objects.filter(action="agreement.issued", object_id=str(agreement.pk)).exists()


def test_issuing_twice_returns_the_same_agreement():
    seat_change = seat_change_factory()
    first = services.agreement_issue(seat_change=seat_change)

    second = services.agreement_issue(seat_change=seat_change)

    assert second.pk == first.pk
    assert second.unsigned_sha256 == first.unsigned_sha256
    assert Agreement.objects.filter(seat_change=seat_change).count() == 1


def test_no_agreement_is_issued_for_a_change_that_is_no_longer_a_draft():
    seat_change = seat_change_cancel(seat_change=seat_change_factory())

    with pytest.raises(AgreementNotIssuable, match="cancelled"):
        services.agreement_issue(seat_change=seat_change)
    assert not Agreement.objects.exists()


def test_only_the_first_view_is_recorded():
    agreement = agreement_factory()
    first = timezone.now() - timedelta(minutes=5)

    services.agreement_mark_viewed(agreement=agreement, at=first)
    services.agreement_mark_viewed(agreement=agreement, at=timezone.now())

    agreement.refresh_from_db()
    assert agreement.viewed_at == first
    assert AuditEvent.objects.filter(action="agreement.viewed").count() == 1


# --- Sign ----------------------------------------------------------------------------


def test_signing_an_increase_moves_it_to_awaiting_payment_and_stores_the_signed_pdf():
    agreement = agreement_factory(new_quantity=5)

    signed = sign(agreement)

    signed.refresh_from_db()
    seat_change = SeatChange.objects.get(pk=signed.seat_change_id)
    assert seat_change.state == SeatChange.State.AWAITING_PAYMENT
    assert seat_change.signer_name == "Ada Lovelace"
    assert seat_change.signer_email == "ada@customer.example"
    assert signed.is_signed
    assert signed.signed_sha256 == sha256(signed.signed_pdf)
    assert signed.signed_at == signed.consent_at == seat_change.signed_at
    assert signed.viewed_at is not None
    assert (signed.signer_ip, signed.signature_kind, signed.signature_text) == (
        "203.0.113.7",
        "typed",
        "Ada Lovelace",
    )
    event = AuditEvent.objects.get(action="agreement.signed")
    assert event.after["signed_sha256"] == signed.signed_sha256
    assert event.organization_id == seat_change.organization_id


def test_signing_a_decrease_moves_it_to_awaiting_approval():
    agreement = agreement_factory(new_quantity=2)

    sign(agreement)

    seat_change = SeatChange.objects.get(pk=agreement.seat_change_id)
    assert seat_change.state == SeatChange.State.AWAITING_APPROVAL


def test_the_signed_pdf_is_the_agreement_then_signature_then_certificate_of_completion():
    agreement = agreement_factory()
    viewed = timezone.now() - timedelta(minutes=2)
    services.agreement_mark_viewed(agreement=agreement, at=viewed)
    unsigned_pages = page_texts(agreement.unsigned_pdf)

    signed = sign(agreement, user_agent="Mozilla/5.0 (Agreement test) Chromium/156")

    pages = page_texts(signed.signed_pdf)
    assert len(unsigned_pages) == 2
    assert len(pages) == 4
    assert pages[:2] == unsigned_pages
    assert "Signature" in pages[2] and "Signed by Ada Lovelace" in pages[2]
    certificate = pages[3]
    for expected in [
        "Certificate of completion",
        f"Agreement number {agreement.number}",
        "Signer name Ada Lovelace",
        "Signer email ada@customer.example",
        "Signer identified By a link emailed to ada@customer.example",
        "IP address 203.0.113.7",
        "Mozilla/5.0 (Agreement test) Chromium/156",
        f"Sent (UTC) {agreement.sent_at:%Y-%m-%d %H:%M:%S}",
        f"Viewed (UTC) {viewed:%Y-%m-%d %H:%M:%S}",
        f"Signed (UTC) {signed.signed_at:%Y-%m-%d %H:%M:%S}",
        agreement.unsigned_sha256,
    ]:
        assert expected in certificate, expected
    # The exact unsigned PDF the signer reviewed travels inside the signed one.
    attachments = reader(signed.signed_pdf).attachments
    assert attachments[f"{agreement.number}-unsigned.pdf"] == [bytes(agreement.unsigned_pdf)]


def test_the_signers_text_is_escaped_and_appears_literally_in_the_signed_pdf():
    hostile = "<img src=x onerror=alert(1)> & Co"

    signed = sign(agreement_factory(), signer_name=hostile, signature_text=hostile)

    pages = page_texts(signed.signed_pdf)
    assert f"Signed by {hostile}" in pages[2]
    assert f"Signer name {hostile}" in pages[3]
    assert image_count(signed.signed_pdf) == 0


def test_a_drawn_signature_is_stored_as_png_and_shown_on_the_signature_page():
    agreement = agreement_factory()

    signed = sign(agreement, signature_kind="drawn", signature_png_data_url=drawn_signature_data_url())

    png = Image.open(io.BytesIO(bytes(signed.signature_png)))
    assert png.format == "PNG"
    # Cropped to the ink (with a margin), not the whole 600 x 200 canvas.
    assert png.size[0] < 600 and png.size[1] < 200
    assert signed.signature_text == ""
    assert image_count(agreement.unsigned_pdf) == 0
    assert len(reader(signed.signed_pdf).pages[2].images) == 1


def test_signing_twice_is_refused_and_the_signed_pdf_is_unchanged():
    agreement = agreement_factory()
    signed = sign(agreement)
    pdf = bytes(signed.signed_pdf)

    with pytest.raises(AgreementAlreadySigned, match="already signed"):
        sign(agreement, signer_name="Someone Else")

    signed.refresh_from_db()
    assert bytes(signed.signed_pdf) == pdf
    assert signed.signer_name == "Ada Lovelace"


def test_an_expired_quote_is_refused_and_the_change_is_then_expired():
    agreement = agreement_factory()
    SeatChange.objects.filter(pk=agreement.seat_change_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    with pytest.raises(QuoteExpired, match="expired"):
        sign(agreement)

    agreement.refresh_from_db()
    assert not agreement.is_signed
    assert SeatChange.objects.get(pk=agreement.seat_change_id).state == SeatChange.State.EXPIRED


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"consent": False}, "consent", "I agree to sign electronically"),
        ({"accept_terms": False}, "accept_terms", "I accept the terms"),
        ({"consent": "false"}, "consent", "I agree to sign electronically"),
        ({"signer_name": "   "}, "signer_name", "Enter your full name."),
        ({"signature_kind": "stamp"}, "signature_kind", "draw or type"),
        ({"signature_text": " "}, "signature_text", "Type your name as your signature."),
        ({"signature_kind": "drawn"}, "signature_png", "Draw your signature"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_changes(overrides, field, message):
    agreement = agreement_factory()

    with pytest.raises(InvalidInput) as refused:
        sign(agreement, **overrides)

    assert message in refused.value.extra["errors"][field]
    agreement.refresh_from_db()
    assert not agreement.is_signed
    assert SeatChange.objects.get(pk=agreement.seat_change_id).state == SeatChange.State.DRAFT
    assert not AuditEvent.objects.filter(action="agreement.signed").exists()


def test_missing_consent_and_terms_are_both_reported():
    agreement = agreement_factory()

    with pytest.raises(InvalidInput) as refused:
        sign(agreement, consent=False, accept_terms=False)

    assert set(refused.value.extra["errors"]) == {"consent", "accept_terms"}


@pytest.mark.parametrize(
    ("data_url", "message"),
    [
        (png_data_url(Image.new("RGBA", (600, 200), (0, 0, 0, 0))), "The signature box is empty"),
        (png_data_url(Image.new("RGB", (600, 200), "white")), "The signature box is empty"),
        ("data:image/jpeg;base64,/9j/4AAQ", "must be a PNG image"),
        ("data:image/png;base64,not base64!!", "could not be read"),
        ("data:image/png;base64,aGVsbG8gd29ybGQ=", "not a valid PNG image"),
        ("data:image/png;base64," + "A" * (700 * 1024), "too large"),
        (png_data_url(Image.new("RGBA", (5000, 10), "black")), "unexpected size"),
    ],
)
def test_a_drawn_signature_must_be_a_real_non_blank_png_of_bounded_size(data_url, message):
    agreement = agreement_factory()

    with pytest.raises(InvalidInput) as refused:
        sign(agreement, signature_kind="drawn", signature_png_data_url=data_url)

    assert message in refused.value.extra["errors"]["signature_png"]
    agreement.refresh_from_db()
    assert not agreement.is_signed


def test_the_signer_and_the_admin_get_the_signed_pdf_by_email(django_capture_on_commit_callbacks):
    agreement = agreement_factory(admin_email="admin@customer.example")

    with django_capture_on_commit_callbacks(execute=True):
        signed = sign(agreement, signer_email="Finance@Customer.example")

    signed_emails = [m for m in mail.outbox if m.subject.startswith("Signed:")]
    assert sorted(m.to[0] for m in signed_emails) == [
        "admin@customer.example",
        "finance@customer.example",
    ]
    for message in signed_emails:
        assert agreement.number in message.subject
        assert signed.signed_sha256 in message.body
        [(filename, content, mimetype)] = message.attachments
        assert filename.startswith("change-agreement-") and f"-{agreement.number}-signed-" in filename
        assert mimetype == "application/pdf"
        assert content == bytes(signed.signed_pdf)


def test_no_email_is_sent_when_signing_is_refused(django_capture_on_commit_callbacks):
    agreement = agreement_factory()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidInput):
        sign(agreement, consent=False)

    assert mail.outbox == []


# --- Who signs -----------------------------------------------------------------------


def named_signer_agreement():
    """An agreement its admin asked Fin Ance (fin@customer.example) to sign."""
    return services.agreement_issue(
        seat_change=seat_change_factory(
            admin_email="admin@customer.example", signer_name="Fin Ance", signer_email="fin@customer.example"
        )
    )


def admins_change_link(agreement):
    subscription = agreement.seat_change.subscription
    link, _ = links.link_issue(
        subscription=subscription, action=CapabilityLink.Action.CHANGE_SEATS, email=subscription.admin_email
    )
    return link


def admin_of(agreement, email="admin@customer.example"):
    return verified(
        MembershipFactory(
            organization=agreement.seat_change.subscription.organization, user__email=email
        ).user
    )


def assert_nothing_signed(agreement):
    agreement.refresh_from_db()
    seat_change = SeatChange.objects.get(pk=agreement.seat_change_id)
    assert not agreement.is_signed and agreement.signer_email == ""
    assert (seat_change.state, seat_change.signer_email) == ("draft", "fin@customer.example")
    assert not AuditEvent.objects.filter(action="agreement.signed").exists()


def test_with_a_named_signer_the_admins_link_cannot_sign():
    agreement = named_signer_agreement()

    with pytest.raises(SignerNotAllowed) as refused:
        sign(agreement, signer=services.Signer(link=admins_change_link(agreement)))

    assert refused.value.status_code == 403
    assert "is to be signed by Fin Ance (fin@customer.example)" in refused.value.message
    assert_nothing_signed(agreement)


def test_with_a_named_signer_a_signed_in_admin_cannot_sign():
    agreement = named_signer_agreement()

    with pytest.raises(SignerNotAllowed):
        sign(agreement, signer=services.Signer(user=admin_of(agreement)))

    assert_nothing_signed(agreement)


def test_a_signing_link_for_another_address_cannot_sign_for_the_named_signer():
    agreement = named_signer_agreement()

    with pytest.raises(SignerNotAllowed):
        sign(agreement, signer_email="mallory@customer.example")

    assert_nothing_signed(agreement)


def test_the_named_signers_link_signs_as_the_address_it_was_emailed_to():
    agreement = named_signer_agreement()

    signed = sign(agreement, signer_email="fin@customer.example", signer_name="Fin Ance")

    signed.refresh_from_db()
    assert (signed.signer_email, signed.signer_identified_by) == ("fin@customer.example", "emailed_link")
    assert signed.signer_identification == "by a link emailed to fin@customer.example"
    certificate = page_texts(signed.signed_pdf)[-1]
    assert "Signer email fin@customer.example" in certificate
    assert "Signer identified By a link emailed to fin@customer.example" in certificate


def test_a_signing_link_signs_only_its_own_seat_change():
    agreement = agreement_factory()
    other = agreement_factory()

    with pytest.raises(SignerNotAllowed, match="no longer works"):
        sign(agreement, signer=services.Signer(link=signing_link(other)))

    agreement.refresh_from_db()
    assert not agreement.is_signed


def test_a_revoked_link_no_longer_signs():
    agreement = agreement_factory()
    link = signing_link(agreement)
    links.link_revoke(link=link)

    with pytest.raises(SignerNotAllowed, match="no longer works"):
        sign(agreement, signer=services.Signer(link=link))  # the link as it was read before

    agreement.refresh_from_db()
    assert not agreement.is_signed


def test_a_signed_in_admin_signs_as_their_account_address():
    agreement = agreement_factory(admin_email="admin@customer.example")
    admin = admin_of(agreement, email="Grace@Customer.example")

    signed = sign(agreement, signer=services.Signer(user=admin), signer_name="Grace Hopper")

    signed.refresh_from_db()
    assert (signed.signer_email, signed.signer_identified_by) == ("grace@customer.example", "signed_in")
    assert "Signer identified Signed in as grace@customer.example" in page_texts(signed.signed_pdf)[-1]
    event = AuditEvent.objects.get(action="agreement.signed")
    assert (event.actor_id, event.after["signer_identified_by"]) == (admin.pk, "signed_in")
    result = services.agreement_verify(sha256=signed.signed_sha256)
    assert "identified signed in as grace@customer.example" in result.message


def test_the_admins_link_signs_as_the_admin_address_when_nobody_else_is_named():
    agreement = agreement_factory(admin_email="admin@customer.example")

    signed = sign(agreement, signer=services.Signer(link=admins_change_link(agreement)))

    signed.refresh_from_db()
    assert (signed.signer_email, signed.signer_identified_by) == ("admin@customer.example", "emailed_link")


@pytest.mark.parametrize("role", [Membership.Role.MEMBER, None])
def test_only_an_admin_of_the_organization_signs_when_signed_in(role):
    agreement = agreement_factory()
    user = verified(
        MembershipFactory(organization=agreement.seat_change.subscription.organization, role=role).user
        if role
        else MembershipFactory().user  # an admin of another organization
    )

    with pytest.raises(SignerNotAllowed, match="Only an admin"):
        sign(agreement, signer=services.Signer(user=user))

    agreement.refresh_from_db()
    assert not agreement.is_signed


def test_a_signed_in_admin_whose_address_is_not_verified_cannot_sign():
    agreement = agreement_factory()
    admin = MembershipFactory(
        organization=agreement.seat_change.subscription.organization, user__verified=False
    ).user

    with pytest.raises(SignerNotAllowed, match=f"Confirm your email address {admin.email} first"):
        sign(agreement, signer=services.Signer(user=admin))

    agreement.refresh_from_db()
    assert not agreement.is_signed


def test_a_refused_signer_is_told_before_their_input_is_checked():
    agreement = named_signer_agreement()

    with pytest.raises(SignerNotAllowed):
        sign(agreement, signer=services.Signer(link=admins_change_link(agreement)), consent=False)


# --- Immutability --------------------------------------------------------------------


def test_the_model_refuses_to_change_a_signed_pdf():
    signed = sign(agreement_factory())
    agreement = Agreement.objects.get(pk=signed.pk)

    agreement.signed_pdf = b"%PDF-1.7 forged"
    with pytest.raises(AgreementImmutable):
        agreement.save()


def test_the_database_refuses_to_change_a_signed_pdf():
    signed = sign(agreement_factory())

    with pytest.raises(DatabaseError, match="is signed"), transaction.atomic():
        Agreement.objects.filter(pk=signed.pk).update(signed_pdf=b"%PDF-1.7 forged")

    assert bytes(Agreement.objects.get(pk=signed.pk).signed_pdf) == bytes(signed.signed_pdf)


def test_the_database_refuses_to_change_how_the_signer_was_identified():
    signed = sign(agreement_factory())

    with pytest.raises(DatabaseError, match="is signed"), transaction.atomic():
        Agreement.objects.filter(pk=signed.pk).update(signer_identified_by="signed_in")

    assert Agreement.objects.get(pk=signed.pk).signer_identified_by == "emailed_link"


def test_the_database_refuses_to_change_what_the_signer_consented_to_be_charged():
    shown = "Sign and pay €10.00 with Visa •••• 4242"
    signed = sign(
        agreement_factory(),
        charge_consent=services.ChargeConsent(
            pay_now=True, shown=shown, amount=1000, currency="eur", card_brand="visa", card_last4="4242"
        ),
    )
    forged = {**signed.charge_consent, "choice": "pay_later", "amount": 0}

    with pytest.raises(DatabaseError, match="is signed"), transaction.atomic():
        Agreement.objects.filter(pk=signed.pk).update(charge_consent=forged)
    with pytest.raises(DatabaseError, match="is signed"), transaction.atomic():
        Agreement.objects.filter(pk=signed.pk).update(charge_consent={})

    stored = Agreement.objects.get(pk=signed.pk).charge_consent
    assert (stored["choice"], stored["amount"], stored["shown"]) == ("pay_now", 1000, shown)


@pytest.mark.parametrize(
    "forged",
    [
        {"signer_ip": "203.0.113.66"},
        {"signer_user_agent": "curl/8"},
        {"signature_kind": "drawn"},
        {"signature_text": "Someone Else"},
        {"signature_png": b"\x89PNG forged"},
        {"viewed_at": None},
        {"consent_at": None},
    ],
    ids=lambda forged: next(iter(forged)),
)
def test_the_database_refuses_to_change_the_rest_of_the_signings_evidence(forged):
    signed = sign(agreement_factory())
    (field,) = forged
    before = getattr(Agreement.objects.get(pk=signed.pk), field)

    with pytest.raises(DatabaseError, match="is signed"), transaction.atomic():
        Agreement.objects.filter(pk=signed.pk).update(**forged)

    after = getattr(Agreement.objects.get(pk=signed.pk), field)
    assert (bytes(after) if isinstance(after, memoryview) else after) == (
        bytes(before) if isinstance(before, memoryview) else before
    )


def test_an_unsigned_agreements_charge_consent_can_still_change():
    unsigned = agreement_factory()

    Agreement.objects.filter(pk=unsigned.pk).update(charge_consent={"choice": "pay_later"})

    assert Agreement.objects.get(pk=unsigned.pk).charge_consent == {"choice": "pay_later"}


# --- Verify --------------------------------------------------------------------------


def test_the_signed_pdf_verifies_as_valid_with_its_signer():
    signed = sign(agreement_factory())

    result = services.agreement_verify(pdf_bytes=bytes(signed.signed_pdf))

    assert result.valid
    assert (result.agreement_number, result.signer_name) == (signed.number, "Ada Lovelace")
    assert result.signer_identification == "by a link emailed to ada@customer.example"
    assert result.message.startswith(
        "Valid: signed by Ada Lovelace, identified by a link emailed to ada@customer.example, on "
    )
    assert result.message.endswith(f"agreement {signed.number}.")


def test_a_pasted_sha256_verifies_whatever_its_case_and_spacing():
    signed = sign(agreement_factory())
    pasted = " ".join([signed.signed_sha256[:32].upper(), signed.signed_sha256[32:]]) + "\n"

    assert services.agreement_verify(sha256=pasted).valid


def test_one_changed_byte_is_not_a_document_we_issued():
    signed = sign(agreement_factory())
    tampered = bytearray(signed.signed_pdf)
    tampered[len(tampered) // 2] ^= 0x01

    result = services.agreement_verify(pdf_bytes=bytes(tampered))

    assert not result.valid
    assert result.status == "unknown"
    assert result.message == "Not a document we issued."
    assert result.signer_name == "" and result.agreement_number == ""


def test_a_random_hash_is_not_a_document_we_issued():
    sign(agreement_factory())

    result = services.agreement_verify(sha256="ab" * 32)

    assert not result.valid and result.status == "unknown"


def test_the_unsigned_agreement_is_recognised_as_issued_but_not_signed():
    agreement = agreement_factory()

    result = services.agreement_verify(pdf_bytes=bytes(agreement.unsigned_pdf))

    assert not result.valid
    assert result.status == "issued_unsigned"
    assert result.agreement_number == agreement.number
    assert result.signer_name == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "Upload the signed PDF or paste its SHA-256."),
        ({"sha256": "xyz"}, "64 hexadecimal characters"),
        ({"sha256": "ab" * 31}, "64 hexadecimal characters"),
        ({"pdf_bytes": b""}, "empty"),
        ({"pdf_bytes": b"%PDF", "sha256": "ab" * 32}, "not both"),
    ],
)
def test_verification_input_is_checked(arguments, message):
    with pytest.raises(InvalidInput, match=message):
        services.agreement_verify(**arguments)
