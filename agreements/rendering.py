"""Agreement PDFs: the change agreement's Django templates, rendered to PDF by `pdfs`
(WeasyPrint, fetching only `data:` URLs and the app's static files, with the
stylesheet and fonts loaded once per process).

All customer text reaches the PDF through Django templates with autoescaping on.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.template.loader import get_template

import pdfs

# The static-only fetcher moved to `pdfs`; these stay importable from here for the
# agreement tests that exercise it.
from pdfs import StaticFileRefused, static_path_for
from pdfs import static_file as _static_file
from subscriptions.money_story import seat_change_money

from .models import signer_identification

if TYPE_CHECKING:
    from subscriptions.models import SeatChange

__all__ = [
    "AGREEMENT_TEMPLATE",
    "STYLESHEET_TEMPLATE",
    "Signature",
    "StaticFileRefused",
    "_static_file",
    "agreement_context",
    "agreement_html",
    "html_to_pdf",
    "render_agreement",
    "render_signed_agreement",
    "static_path_for",
]

AGREEMENT_TEMPLATE = "agreements/pdf/agreement.html"
STYLESHEET_TEMPLATE = "agreements/pdf/agreement.css"


def html_to_pdf(html: str, *, attachments: Sequence[tuple[str, bytes, str]] = ()) -> bytes:
    """Render an HTML document to PDF bytes with the agreement stylesheet (see
    `pdfs.html_to_pdf`). `attachments` are embedded files given as
    (name, bytes, description)."""
    return pdfs.html_to_pdf(html, stylesheet_template=STYLESHEET_TEMPLATE, attachments=attachments)


# --- The agreement document ------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """What the signed PDF shows of the signing: signer, evidence and times (UTC)."""

    signer_name: str
    signer_email: str
    signer_identified_by: str  # Agreement.SignerIdentifiedBy
    signer_ip: str | None
    signer_user_agent: str
    kind: str  # "drawn" or "typed"
    text: str
    png: bytes | None
    sent_at: datetime
    viewed_at: datetime | None
    consent_at: datetime
    signed_at: datetime
    unsigned_sha256: str
    # What the signer agreed to be charged, in the words they were shown ("" when
    # signing charged nothing, or they chose to pay later: then `charge_choice` says so).
    charge_consent: str = ""
    charge_choice: str = ""

    @property
    def identification(self) -> str:
        """ "by a link emailed to …" or "signed in as …"."""
        return signer_identification(self.signer_identified_by, self.signer_email)

    @property
    def png_data_url(self) -> str:
        if not self.png:
            return ""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _seconds(delta) -> int:
    return int(delta.total_seconds() // 1)


def agreement_context(seat_change: SeatChange, *, signature: Signature | None = None) -> dict:
    """Everything the agreement template shows, from the seat change's stored quote.

    Works on an unsaved SeatChange (or one built for a benchmark) as long as its
    subscription, plan, product and organization are set.
    """
    subscription = seat_change.subscription
    plan = subscription.plan
    remaining = _seconds(seat_change.period_end - seat_change.quoted_at)
    total = _seconds(seat_change.period_end - seat_change.period_start)
    delta = seat_change.new_quantity - seat_change.old_quantity
    return {
        "vendor_name": settings.VENDOR_NAME,
        "site_url": settings.SITE_URL,
        "seat_change": seat_change,
        "number": seat_change.number,
        "customer_name": subscription.organization.name,
        "product_name": plan.product.name,
        "plan_name": plan.name,
        "interval": plan.interval,
        "decrease_at_period_end": plan.decrease_policy == "period_end",
        "currency": seat_change.currency,
        "is_increase": delta > 0,
        "delta": delta,
        "delta_label": f"+{delta}" if delta > 0 else f"\u2212{-delta}",
        "remaining_seconds": f"{remaining:,}",
        "total_seconds": f"{total:,}",
        "signature": signature,
        "money": seat_change_money(seat_change),
    }


def agreement_html(seat_change: SeatChange, *, signature: Signature | None = None) -> str:
    return get_template(AGREEMENT_TEMPLATE).render(agreement_context(seat_change, signature=signature))


def render_agreement(seat_change: SeatChange) -> bytes:
    """The unsigned agreement PDF."""
    return html_to_pdf(agreement_html(seat_change))


def render_signed_agreement(seat_change: SeatChange, *, signature: Signature, unsigned_pdf: bytes) -> bytes:
    """The signed PDF: the same agreement pages (same template, same stored quote), then
    a signature page and a certificate of completion, with the exact unsigned PDF the
    signer reviewed embedded as a file attachment."""
    return html_to_pdf(
        agreement_html(seat_change, signature=signature),
        attachments=[
            (
                f"{seat_change.number}-unsigned.pdf",
                unsigned_pdf,
                f"The agreement as reviewed before signing (SHA-256 {signature.unsigned_sha256})",
            )
        ],
    )
