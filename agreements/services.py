"""Writes of the agreements app: issue an agreement, record that it was viewed, sign it,
and verify a PDF against the agreements we issued."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

import outbox
from accounts.services import has_verified_email
from audit.services import audit_record
from subscriptions.errors import InvalidInput
from subscriptions.models import CapabilityLink, Membership, SeatChange
from subscriptions.seat_changes import QuoteExpired, seat_change_mark_signed

from . import notifications, rendering
from .errors import AgreementAlreadySigned, AgreementNotIssuable, SignerNotAllowed
from .models import Agreement, signer_identification

# A drawn signature arrives as a PNG data URL from the browser's canvas.
SIGNATURE_PNG_PREFIX = "data:image/png;base64,"
MAX_SIGNATURE_BYTES = 500 * 1024
MAX_SIGNATURE_SIDE = 4000
# Pixels darker than this (once flattened on white) are ink, and a signature needs at
# least MIN_INK_PIXELS of them: an empty or near-empty canvas is not a signature.
_INK_LEVEL = 192
MIN_INK_PIXELS = 30
_SIGNATURE_MARGIN = 8
_SIGNATURE_TOO_LARGE = "The drawn signature is too large (at most 500 KB): clear it and draw it again."
MAX_NAME_LENGTH = 200
MAX_USER_AGENT_LENGTH = 500
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seat_change_for_rendering(seat_change: SeatChange) -> SeatChange:
    return SeatChange.objects.select_related("subscription__plan__product", "subscription__organization").get(
        pk=seat_change.pk
    )


# --- Issue and view ------------------------------------------------------------------


def agreement_issue(*, seat_change: SeatChange, request=None) -> Agreement:
    """Render the change agreement of a draft seat change and store the unsigned PDF
    with its SHA-256 (`sent_at` = now).

    Idempotent: a seat change has at most one agreement (a unique constraint), and a
    second call, or a concurrent one, returns the existing agreement. Refuses to issue
    a first agreement for a change that is no longer a draft.
    """
    existing = Agreement.objects.filter(seat_change_id=seat_change.pk).first()
    if existing is not None:
        return existing
    seat_change = _seat_change_for_rendering(seat_change)
    if seat_change.state != SeatChange.State.DRAFT:
        raise AgreementNotIssuable(
            f"Seat change {seat_change.number} is {seat_change.get_state_display().lower()}: "
            "there is nothing left to sign."
        )
    pdf = rendering.render_agreement(seat_change)
    try:
        with transaction.atomic():
            agreement = Agreement.objects.create(
                organization_id=seat_change.organization_id,
                seat_change=seat_change,
                unsigned_pdf=pdf,
                unsigned_sha256=sha256_hex(pdf),
                sent_at=timezone.now(),
            )
            audit_record(
                action="agreement.issued",
                organization=seat_change.subscription.organization,
                actor_label="system",
                obj=agreement,
                after={"number": seat_change.number, "unsigned_sha256": agreement.unsigned_sha256},
                request=request,
            )
    except IntegrityError:
        return Agreement.objects.get(seat_change_id=seat_change.pk)
    return agreement


def agreement_mark_viewed(*, agreement: Agreement, at: datetime | None = None, request=None) -> Agreement:
    """Record the first time the agreement was shown to the person asked to sign it.
    Only the first view is kept (a conditional UPDATE, safe under concurrency); later
    calls change nothing."""
    at = at or timezone.now()
    with transaction.atomic():
        updated = Agreement.objects.filter(pk=agreement.pk, viewed_at__isnull=True).update(viewed_at=at)
        if updated:
            audit_record(
                action="agreement.viewed",
                organization=agreement.organization,
                actor_label="signer",
                obj=agreement,
                after={"viewed_at": at.isoformat()},
                request=request,
            )
    agreement.viewed_at = Agreement.objects.values_list("viewed_at", flat=True).get(pk=agreement.pk)
    return agreement


# --- Who signs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """Who is asking to sign, as the request established it: a unique link (a signing
    link emailed to one address, or the admin's link to change seats) or a signed-in
    user. The address on the certificate comes from here, never from a form."""

    link: CapabilityLink | None = None
    user: object | None = None

    def __post_init__(self):
        if (self.link is None) == (self.user is None):
            raise ValueError("A signer is either a unique link or a signed-in user.")

    @property
    def email(self) -> str:
        if self.link is not None:
            return self.link.email
        return (self.user.email or "").strip().lower()

    @property
    def identified_by(self) -> str:
        if self.link is not None:
            return Agreement.SignerIdentifiedBy.EMAILED_LINK
        return Agreement.SignerIdentifiedBy.SIGNED_IN

    @property
    def identification(self) -> str:
        return signer_identification(self.identified_by, self.email)


_LINK_GONE = (
    "This link no longer works: it was replaced or withdrawn. Open the latest link we "
    "emailed you, or ask for your links again."
)


def signing_refusal(*, seat_change: SeatChange, signer: Signer) -> str:
    """Why `signer` may not sign the agreement of `seat_change`, or "" when they may.

    The one rule of who signs (the signing page asks it to show the form; signing
    enforces it under the agreement's lock):
    - a change that names a signer is signed only with the signing link of that change
      emailed to that address: neither the admin's link nor a signed-in admin signs it;
    - otherwise the subscription's admin signs (with their link to change seats, or
      signed in as an admin of the organization whose login address is verified), or
      whoever holds a signing link of that change (one the API handed out, say).
    A link must be active and of the change's subscription; a signing link signs its
    own change only."""
    named = seat_change.signer_email if seat_change.state == SeatChange.State.DRAFT else ""
    link = signer.link
    if link is not None:
        if link.revoked_at is not None or link.subscription_id != seat_change.subscription_id:
            return _LINK_GONE
        if link.action == CapabilityLink.Action.SIGN:
            if link.seat_change_id != seat_change.pk:
                return _LINK_GONE
            if named and link.email != named:
                return _named_signer_only(seat_change)
            return ""
        if link.action != CapabilityLink.Action.CHANGE_SEATS:
            return "This link cannot sign agreements."
    else:
        user = signer.user
        is_admin = (
            getattr(user, "is_authenticated", False)
            and user.is_active
            and Membership.objects.filter(
                user=user, organization_id=seat_change.organization_id, role=Membership.Role.ADMIN
            ).exists()
        )
        if not is_admin:
            return "Only an admin of the organization can sign its seat change agreements."
    if named:
        return _named_signer_only(seat_change)
    if link is None and not _login_address_verified(signer):
        return (
            f"Confirm your email address {signer.email} first (we emailed you a link): the "
            "certificate of completion gives the address you are signed in with."
        )
    return ""


def _login_address_verified(signer: Signer) -> bool:
    return has_verified_email(signer.user, signer.email)


def _named_signer_only(seat_change: SeatChange) -> str:
    return (
        f"Seat change {seat_change.number} is to be signed by {seat_change.signer_name} "
        f"({seat_change.signer_email}), with the link we emailed them: it cannot be signed "
        "from here. Nothing was changed."
    )


def _signer_under_lock(signer: Signer) -> Signer:
    """The signer with its link read again and locked, inside the signing transaction,
    so that a link revoked a moment ago (links replaced) no longer signs."""
    if signer.link is None:
        return signer
    link = CapabilityLink.objects.select_for_update(of=("self",)).filter(pk=signer.link.pk).first()
    if link is None:
        raise SignerNotAllowed(_LINK_GONE)
    return Signer(link=link)


# --- Sign ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _SigningInput:
    name: str
    kind: str
    text: str
    png: bytes | None


def _clean_name(raw: str) -> str:
    return " ".join(str(raw or "").split())


def _signature_png(data_url: str) -> tuple[bytes | None, str]:
    """The drawn signature as a clean PNG cropped to its ink, or an error message."""
    data_url = (data_url or "").strip()
    if not data_url:
        return None, "Draw your signature in the box, or choose Type."
    if not data_url.startswith(SIGNATURE_PNG_PREFIX):
        return None, "The drawn signature must be a PNG image from the signature box."
    encoded = data_url[len(SIGNATURE_PNG_PREFIX) :]
    if len(encoded) > (MAX_SIGNATURE_BYTES * 4) // 3 + 4:
        return None, _SIGNATURE_TOO_LARGE
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None, "The drawn signature could not be read: clear it and draw it again."
    if len(raw) > MAX_SIGNATURE_BYTES:
        return None, _SIGNATURE_TOO_LARGE
    try:
        image = Image.open(io.BytesIO(raw), formats=["PNG"])
        width, height = image.size
        if not (0 < width <= MAX_SIGNATURE_SIDE and 0 < height <= MAX_SIGNATURE_SIDE):
            return None, "The drawn signature has an unexpected size: clear it and draw it again."
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None, "The drawn signature is not a valid PNG image: clear it and draw it again."
    rgba = image.convert("RGBA")
    flattened = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("L")
    if sum(flattened.histogram()[:_INK_LEVEL]) < MIN_INK_PIXELS:
        return None, "The signature box is empty: draw your signature, or choose Type."
    left, top, right, bottom = (
        ImageOps.invert(flattened).point(lambda level: 255 if level > 255 - _INK_LEVEL else 0).getbbox()
    )
    cropped = rgba.crop(
        (
            max(left - _SIGNATURE_MARGIN, 0),
            max(top - _SIGNATURE_MARGIN, 0),
            min(right + _SIGNATURE_MARGIN, width),
            min(bottom + _SIGNATURE_MARGIN, height),
        )
    )
    out = io.BytesIO()
    cropped.save(out, format="PNG")
    return out.getvalue(), ""


def _validate_signing(
    *,
    signer_name,
    consent,
    accept_terms,
    signature_kind,
    signature_text,
    signature_png_data_url,
) -> _SigningInput:
    """Check everything a person submitted; raise one InvalidInput listing every problem
    (`extra["errors"]` maps each form field to its message), before anything changes."""
    errors: dict[str, str] = {}
    name = _clean_name(signer_name)
    if not name:
        errors["signer_name"] = "Enter your full name."
    elif len(name) > MAX_NAME_LENGTH or _CONTROL_CHARS.search(name):
        errors["signer_name"] = f"Enter your full name in at most {MAX_NAME_LENGTH} characters."

    if consent is not True:
        errors["consent"] = "Tick “I agree to sign electronically” to sign this agreement online."
    if accept_terms is not True:
        errors["accept_terms"] = "Tick “I accept the terms” to sign this agreement."

    text, png = "", None
    if signature_kind == Agreement.SignatureKind.TYPED:
        text = _clean_name(signature_text)
        if not text:
            errors["signature_text"] = "Type your name as your signature."
        elif len(text) > MAX_NAME_LENGTH or _CONTROL_CHARS.search(text):
            errors["signature_text"] = f"Type your signature in at most {MAX_NAME_LENGTH} characters."
    elif signature_kind == Agreement.SignatureKind.DRAWN:
        png, problem = _signature_png(signature_png_data_url)
        if problem:
            errors["signature_png"] = problem
    else:
        errors["signature_kind"] = "Choose whether to draw or type your signature."

    if errors:
        field, message = next(iter(errors.items()))
        raise InvalidInput(message, field=field, errors=errors)
    return _SigningInput(name=name, kind=signature_kind, text=text, png=png)


def _clean_ip(ip: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((ip or "").strip()))
    except ValueError:
        return None


@dataclass(frozen=True)
class ChargeConsent:
    """What the signer of an increase was offered for paying it, and chose: to be
    charged `amount` on the card on file (`card_brand` •••• `card_last4`) at once,
    agreeing to the words `shown`; or (`pay_now=False`) to pay later on the payment page.
    Recorded on the agreement and its certificate of completion."""

    pay_now: bool
    shown: str
    amount: int = 0
    currency: str = ""
    card_brand: str = ""
    card_last4: str = ""

    def as_json(self, *, at) -> dict:
        return {
            "choice": "pay_now" if self.pay_now else "pay_later",
            "shown": self.shown,
            "amount": self.amount,
            "currency": self.currency,
            "card_brand": self.card_brand,
            "card_last4": self.card_last4,
            "at": at.isoformat(),
        }


def agreement_sign(
    *,
    agreement: Agreement,
    signer: Signer,
    signer_name: str,
    consent: bool,
    accept_terms: bool,
    signature_kind: str,
    signature_text: str = "",
    signature_png_data_url: str = "",
    ip: str | None,
    user_agent: str,
    charge_consent: ChargeConsent | None = None,
    request=None,
) -> Agreement:
    """Sign an agreement: draft → signed → awaiting payment (increase) or awaiting
    approval (decrease), and store the signed PDF.

    Guarantees:
    - One transaction, under a lock on the agreement row (and on the signer's link):
      refuses an agreement already signed (AgreementAlreadySigned, so that a second
      click gets an answer, not a second signature), then a signer who may not sign it
      (`signing_refusal`: SignerNotAllowed), then bad input (InvalidInput, every problem
      in `extra["errors"]`, keyed by form field); nothing changes when refused.
    - The signer's email is the one `signer` was identified by (the address the link
      was emailed to, or the signed-in account's), stored with how it was identified;
      the name is the one typed.
    - Moves the seat change with `seat_change_mark_signed` (InvalidTransition and
      QuoteExpired propagate; an expired quote is still committed as `expired`, so do
      not call this inside an outer transaction that the exception would roll back);
      renders the signed PDF, stores it with its SHA-256 and writes an
      `agreement.signed` audit event.
    - `consent` and `accept_terms` must be exactly True (a ticked box), not truthy.
    - `charge_consent` (what the signer of an increase was offered for paying it, and
      chose) is stored with the signature and printed on the certificate; charging is
      the caller's, and only with a consent to pay now.
    - On commit, the signer and the subscription's admin get the signed PDF by email.

    The signed PDF is one WeasyPrint render of the same template and stored quote as
    the unsigned one (so the agreement pages are laid out identically), followed by a
    signature page and a certificate of completion; the exact unsigned PDF the signer
    reviewed is embedded in it as a file attachment, and its SHA-256 is printed on the
    certificate.
    """
    now = timezone.now()
    expired: QuoteExpired | None = None
    with transaction.atomic():
        agreement = Agreement.objects.select_for_update(of=("self",)).get(pk=agreement.pk)
        if agreement.is_signed:
            raise AgreementAlreadySigned(agreement.number)
        signer = _signer_under_lock(signer)
        refusal = signing_refusal(seat_change=agreement.seat_change, signer=signer)
        if refusal:
            raise SignerNotAllowed(refusal)
        signing = _validate_signing(
            signer_name=signer_name,
            consent=consent,
            accept_terms=accept_terms,
            signature_kind=signature_kind,
            signature_text=signature_text,
            signature_png_data_url=signature_png_data_url,
        )
        try:
            seat_change = seat_change_mark_signed(
                seat_change=agreement.seat_change,
                signer_name=signing.name,
                signer_email=signer.email,
                at=now,
                actor=signer.user,
                request=request,
            )
        except QuoteExpired as error:
            # seat_change_mark_signed marked the change expired: keep that, refuse after.
            expired = error
        else:
            _store_signature(
                agreement=agreement,
                seat_change=seat_change,
                signing=signing,
                signer=signer,
                now=now,
                ip=_clean_ip(ip),
                user_agent=str(user_agent or "")[:MAX_USER_AGENT_LENGTH],
                charge_consent=charge_consent,
                request=request,
            )
    if expired is not None:
        raise expired
    return agreement


def _store_signature(
    *,
    agreement: Agreement,
    seat_change: SeatChange,
    signing: _SigningInput,
    signer: Signer,
    now,
    ip,
    user_agent,
    charge_consent: ChargeConsent | None,
    request,
) -> None:
    agreement.viewed_at = agreement.viewed_at or now
    signature = rendering.Signature(
        signer_name=signing.name,
        signer_email=signer.email,
        signer_identified_by=signer.identified_by,
        signer_ip=ip,
        signer_user_agent=user_agent,
        kind=signing.kind,
        text=signing.text,
        png=signing.png,
        sent_at=agreement.sent_at,
        viewed_at=agreement.viewed_at,
        consent_at=now,
        signed_at=now,
        unsigned_sha256=agreement.unsigned_sha256,
        charge_consent=charge_consent.shown if charge_consent and charge_consent.pay_now else "",
        charge_choice=(
            "" if charge_consent is None else "pay_now" if charge_consent.pay_now else "pay_later"
        ),
    )
    signed_pdf = rendering.render_signed_agreement(
        seat_change, signature=signature, unsigned_pdf=bytes(agreement.unsigned_pdf)
    )
    agreement.seat_change = seat_change
    agreement.signed_pdf = signed_pdf
    agreement.signed_sha256 = sha256_hex(signed_pdf)
    agreement.consent_at = now
    agreement.signed_at = now
    agreement.signer_name = signing.name
    agreement.signer_email = signer.email
    agreement.signer_identified_by = signer.identified_by
    agreement.signer_ip = ip
    agreement.signer_user_agent = user_agent
    agreement.signature_kind = signing.kind
    agreement.signature_text = signing.text
    agreement.signature_png = signing.png
    agreement.charge_consent = charge_consent.as_json(at=now) if charge_consent else {}
    agreement.save(
        update_fields=[
            "signed_pdf",
            "signed_sha256",
            "viewed_at",
            "consent_at",
            "signed_at",
            "signer_name",
            "signer_email",
            "signer_identified_by",
            "signer_ip",
            "signer_user_agent",
            "signature_kind",
            "signature_text",
            "signature_png",
            "charge_consent",
        ]
    )
    audit_record(
        action="agreement.signed",
        organization=seat_change.subscription.organization,
        actor=signer.user,
        actor_label="" if signer.user else f"unique link sent to {signer.email}",
        obj=agreement,
        after={
            "number": seat_change.number,
            "signer_name": signing.name,
            "signer_email": signer.email,
            "signer_identified_by": signer.identified_by,
            "link": signer.link.pk if signer.link else None,
            "signature_kind": signing.kind,
            "unsigned_sha256": agreement.unsigned_sha256,
            "signed_sha256": agreement.signed_sha256,
            **({"charge_consent": agreement.charge_consent} if agreement.charge_consent else {}),
        },
        request=request,
    )
    agreement_id = agreement.pk
    outbox.enqueue(
        notifications.agreement_signed,
        key=f"agreement-signed:{agreement_id}",
        kind="email",
        agreement_id=agreement_id,
    )


# --- Verify --------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationResult:
    """What the public verification page may say about a document: nothing beyond what
    the document itself shows (its signer and how they were identified, date and
    number), and only when its SHA-256 matches an agreement we issued exactly."""

    SIGNED = "signed"
    ISSUED_UNSIGNED = "issued_unsigned"
    UNKNOWN = "unknown"

    status: str
    sha256: str
    agreement_number: str = ""
    signer_name: str = ""
    # "by a link emailed to …" / "signed in as …", as the certificate says it.
    signer_identification: str = ""
    signed_at: datetime | None = None

    @property
    def valid(self) -> bool:
        return self.status == self.SIGNED

    @property
    def message(self) -> str:
        if self.status == self.SIGNED:
            identified = f", identified {self.signer_identification}," if self.signer_identification else ""
            return (
                f"Valid: signed by {self.signer_name}{identified} on {self.signed_at.day} "
                f"{self.signed_at:%B %Y}, agreement {self.agreement_number}."
            )
        if self.status == self.ISSUED_UNSIGNED:
            return (
                f"Issued by {settings.VENDOR_NAME}, not signed: this is agreement "
                f"{self.agreement_number} as sent for signature. Only the signed PDF "
                "carries a signature."
            )
        return "Not a document we issued."


def normalise_sha256(raw: str) -> str:
    value = "".join(str(raw or "").split()).lower()
    if not _SHA256_RE.fullmatch(value):
        raise InvalidInput(
            "A SHA-256 is 64 hexadecimal characters (0 to 9 and a to f). Paste it again, or "
            "upload the PDF instead.",
            field="sha256",
        )
    return value


def agreement_verify(*, pdf_bytes: bytes | None = None, sha256: str | None = None) -> VerificationResult:
    """Is this exact document (or SHA-256) a signed agreement we issued?

    Only an exact SHA-256 match counts: one changed byte gives "not a document we
    issued". The unsigned agreement we sent for signature is recognised as "issued,
    not signed". Reads hashes only; never loads a PDF from the database.
    """
    if pdf_bytes is not None and sha256:
        raise InvalidInput("Upload the PDF or paste its SHA-256, not both.", field="sha256")
    if pdf_bytes is not None:
        if not pdf_bytes:
            raise InvalidInput("The uploaded file is empty.", field="pdf")
        digest = sha256_hex(pdf_bytes)
    elif sha256:
        digest = normalise_sha256(sha256)
    else:
        raise InvalidInput("Upload the signed PDF or paste its SHA-256.", field="pdf")

    signed = (
        Agreement.objects.filter(signed_sha256=digest)
        .values("signer_name", "signer_email", "signer_identified_by", "signed_at", "seat_change__number")
        .first()
    )
    if signed is not None:
        return VerificationResult(
            status=VerificationResult.SIGNED,
            sha256=digest,
            agreement_number=signed["seat_change__number"],
            signer_name=signed["signer_name"],
            signer_identification=signer_identification(
                signed["signer_identified_by"], signed["signer_email"]
            ),
            signed_at=signed["signed_at"],
        )
    issued = Agreement.objects.filter(unsigned_sha256=digest).values("seat_change__number").first()
    if issued is not None:
        return VerificationResult(
            status=VerificationResult.ISSUED_UNSIGNED,
            sha256=digest,
            agreement_number=issued["seat_change__number"],
        )
    return VerificationResult(status=VerificationResult.UNKNOWN, sha256=digest)
