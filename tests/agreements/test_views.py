import re

import pytest
from django.contrib.staticfiles import finders
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from agreements import views
from tests.agreements.factories import agreement_factory, drawn_signature_data_url, sign

pytestmark = pytest.mark.django_db

VERIFY_URL = "/agreements/verify/"


def visible_text(response) -> str:
    html = response.content.decode()
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def test_the_verification_page_has_a_labelled_upload_and_hash_field(client):
    response = client.get(VERIFY_URL)

    assert response.status_code == 200
    assert reverse("agreements:verify") == VERIFY_URL
    html = response.content.decode()
    assert '<label for="verify-pdf">Signed agreement (PDF)</label>' in html
    assert '<label for="verify-sha256">SHA-256 of the PDF</label>' in html
    assert 'enctype="multipart/form-data"' in html
    assert "csrfmiddlewaretoken" in html


def test_an_uploaded_signed_pdf_is_valid_and_reveals_only_its_own_signer(client):
    mine = sign(
        agreement_factory(organization_name="Mine Ltd"),
        signer_name="Grace Hopper",
        signer_email="grace@mine.example",
    )
    other = sign(
        agreement_factory(organization_name="Other Customer plc"),
        signer_name="Alan Turing",
        signer_email="alan@other.example",
    )

    response = client.post(
        VERIFY_URL,
        {"pdf": SimpleUploadedFile("a.pdf", bytes(mine.signed_pdf), "application/pdf")},
    )

    assert response.status_code == 200
    page = visible_text(response)
    # How the signer was identified, as the certificate in the document says it.
    assert (
        "Valid: signed by Grace Hopper, identified by a link emailed to grace@mine.example, "
        f"on {mine.signed_at.day} "
    ) in page
    assert f"agreement {mine.number}." in page
    for secret in ["Alan Turing", other.number, "Other Customer plc", "Mine Ltd", "alan@"]:
        assert secret not in page


def test_a_pasted_sha256_is_verified(client):
    signed = sign(agreement_factory())

    response = client.post(VERIFY_URL, {"sha256": signed.signed_sha256.upper()})

    assert "Valid: signed by Ada Lovelace" in visible_text(response)


def test_a_tampered_pdf_is_not_a_document_we_issued(client):
    signed = sign(agreement_factory())
    tampered = bytearray(signed.signed_pdf)
    tampered[-100] ^= 0x20

    response = client.post(
        VERIFY_URL, {"pdf": SimpleUploadedFile("a.pdf", bytes(tampered), "application/pdf")}
    )

    page = visible_text(response)
    assert "Not a document we issued" in page
    assert "Ada Lovelace" not in page and signed.number not in page


def test_a_malformed_hash_gets_a_clear_message(client):
    response = client.post(VERIFY_URL, {"sha256": "12345"})

    assert response.status_code == 400
    assert "A SHA-256 is 64 hexadecimal characters" in visible_text(response)


def test_an_upload_over_the_size_limit_is_refused(client, monkeypatch):
    monkeypatch.setattr(views, "MAX_UPLOAD_BYTES", 1024)

    response = client.post(VERIFY_URL, {"pdf": SimpleUploadedFile("big.pdf", b"%PDF" + b"0" * 2048)})

    assert response.status_code == 413
    assert "larger than 10 MB" in visible_text(response)


def test_an_oversized_request_is_refused_before_its_body_is_read(client, monkeypatch):
    monkeypatch.setattr(views, "MAX_UPLOAD_BYTES", 1024)

    def reads_the_body(request):
        raise AssertionError("the oversized request reached the view that reads its body")

    monkeypatch.setattr(views, "_verify", reads_the_body)

    response = client.post(VERIFY_URL, {"pdf": SimpleUploadedFile("big.pdf", b"%PDF" + b"0" * 200_000)})

    assert response.status_code == 413
    assert "larger than 10 MB" in visible_text(response)


def test_posting_without_a_csrf_token_is_refused():
    response = Client(enforce_csrf_checks=True).post(VERIFY_URL, {"sha256": "ab" * 32})

    assert response.status_code == 403


# --- The signing partial ---------------------------------------------------------------


def render_partial(agreement, **extra):
    context = {
        "agreement": agreement,
        "seat_change": agreement.seat_change,
        "pdf_url": "/sign/abc/agreement.pdf",
        "download_url": "/sign/abc/agreement.pdf?download=1",
        "sign_url": "/sign/abc/",
        "form_errors": None,
        "form": None,
        "signer_defaults": {
            "name": "Ada Lovelace",
            "email": "ada@customer.example",
            "identified_by": "emailed_link",
        },
        **extra,
    }
    return render_to_string("agreements/_agreement_and_sign.html", context)


def labels(html: str) -> dict[str, str]:
    """Accessible label text -> the id of the control it labels."""
    found = {}
    for target, inner in re.findall(r'<label[^>]*for="([^"]+)"[^>]*>(.*?)</label>', html, re.S):
        found[" ".join(re.sub(r"<[^>]+>", " ", inner).split())] = target
    return found


def test_the_signing_form_has_the_accessible_labels_and_controls():
    agreement = agreement_factory()

    html = render_partial(agreement)

    assert labels(html) == {
        "Full name": "field-signer_name",
        "I agree to sign electronically": "field-consent",
        "I accept the terms": "field-accept_terms",
        "Draw": "field-signature_kind",
        "Type": "field-signature_kind-typed",
        "Type your name as your signature": "field-signature_text",
    }
    assert f'<iframe class="agreement-frame" title="Change agreement {agreement.number}"' in html
    assert 'src="/sign/abc/agreement.pdf"' in html
    assert 'href="/sign/abc/agreement.pdf?download=1"' in html
    assert 'action="/sign/abc/"' in html
    assert "<canvas" in html and "data-signature-canvas" in html
    assert 'type="hidden" name="signature_png"' in html
    assert ">Clear</button>" in html
    assert ">Sign agreement</button>" in html
    assert "/static/js/signature.js" in html and "/static/css/agreements.css" in html
    assert 'value="Ada Lovelace"' in html
    # The email is shown, not typed: the one the signer was identified by.
    assert 'name="signer_email"' not in html
    assert '<strong data-testid="signer-email">ada@customer.example</strong>' in html
    assert "The address this link was emailed to" in html
    for disclosure in ["paper copy", "withdraw your consent", "Scope"]:
        assert disclosure in html


def test_the_signing_form_shows_errors_and_keeps_what_was_entered():
    agreement = agreement_factory(organization_name="<b>Bold</b> & Co")
    drawn = drawn_signature_data_url()

    html = render_partial(
        agreement,
        form={
            "signer_name": "<script>x</script>",
            "accept_terms": "yes",
            "signature_kind": "drawn",
            "signature_png": drawn,
        },
        form_errors={"consent": "Tick “I agree to sign electronically” to sign."},
    )

    assert 'role="alert"' in html
    assert '<a href="#field-consent">' in html
    assert 'aria-invalid="true"' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    assert f'value="{drawn}"' in html
    assert re.search(r'id="field-accept_terms"[^>]*checked', html)
    assert not re.search(r'id="field-consent"[^>]*checked', html)


def test_the_static_assets_of_the_signing_page_are_shipped():
    for path in [
        "js/signature.js",
        "css/agreements.css",
        "fonts/dancing-script/dancing-script-400.woff",
        "fonts/dancing-script/OFL.txt",
    ]:
        assert finders.find(path), path
