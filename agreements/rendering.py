"""Agreement PDFs: Django templates rendered to PDF with WeasyPrint.

Two things matter here besides the layout:

* **Nothing remote is ever fetched.** WeasyPrint resolves every URL through
  `_fetcher()`: `data:` URLs, and the app's own static files addressed under the
  private origin `STATIC_BASE_URL` (resolved with the staticfiles finders, read from
  disk, never over the network). Everything else (`http:`, `https:`, `file:`, ...)
  is refused before a connection is attempted, so a stray remote URL can neither
  leak anything nor stall a render for WeasyPrint's 10 s timeout.
* **Warm renders are fast.** WeasyPrint is imported on first use (~0.5 s) rather than
  when Django starts; the stylesheet is parsed once and the fonts it declares are
  loaded once into one `FontConfiguration`, both reused by every later render.
  Renders in one process are serialised by a lock, since that font configuration is
  shared and Pango/Fontconfig are not meant to be driven from several threads.

All customer text reaches the PDF through Django templates with autoescaping on.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import posixpath
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import get_template, render_to_string

if TYPE_CHECKING:
    from subscriptions.models import SeatChange

# A private origin (".invalid" can never resolve) under which templates address the
# app's static files: `fonts/x.woff` or `/static/fonts/x.woff` in a template becomes
# https://static.seatmgr.invalid/static/fonts/x.woff, which `_fetcher()` reads from disk.
STATIC_ORIGIN = "https://static.seatmgr.invalid"
STATIC_PREFIX = "/static/"
STATIC_BASE_URL = STATIC_ORIGIN + STATIC_PREFIX

AGREEMENT_TEMPLATE = "agreements/pdf/agreement.html"
STYLESHEET_TEMPLATE = "agreements/pdf/agreement.css"
# Static files larger than this are not embedded (fonts and logos are far smaller).
MAX_STATIC_BYTES = 5 * 1024 * 1024

_render_lock = threading.Lock()


class StaticFileRefused(ValueError):
    """A URL outside `data:` and the app's own static files."""


@lru_cache(maxsize=64)
def _static_file(relative_path: str) -> tuple[bytes, str]:
    """Bytes and media type of one of the app's static files, found by the finders."""
    normalised = posixpath.normpath(relative_path)
    if normalised.startswith(("../", "/")) or normalised in ("..", "."):
        raise StaticFileRefused(f"Not a static file path: {relative_path!r}")
    found = finders.find(normalised)
    if not found:
        raise StaticFileRefused(f"No static file {normalised!r}")
    path = Path(found)
    if path.stat().st_size > MAX_STATIC_BYTES:
        raise StaticFileRefused(f"Static file {normalised!r} is too large to embed")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.read_bytes(), media_type


def static_path_for(url: str) -> str | None:
    """The static file path a URL under STATIC_BASE_URL names, or None for any other URL."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != STATIC_ORIGIN:
        return None
    path = unquote(parts.path)
    if not path.startswith(STATIC_PREFIX):
        return None
    return path[len(STATIC_PREFIX) :]


@dataclass
class _Resources:
    weasyprint: Any
    fetcher: Any
    font_config: Any
    stylesheet: Any


_resources: _Resources | None = None


def _fetcher_class(weasyprint):
    class StaticOnlyURLFetcher(weasyprint.URLFetcher):
        """`data:` URLs through WeasyPrint's own handler; the app's static files from
        disk; everything else refused before any connection is made."""

        def __init__(self):
            super().__init__(allowed_protocols={"data"}, allow_redirects=False, timeout=2)

        def fetch(self, url, headers=None):
            relative = static_path_for(url)
            if relative is not None:
                body, media_type = _static_file(relative)
                return weasyprint.urls.URLFetcherResponse(
                    url, body=body, headers={"Content-Type": media_type}
                )
            return super().fetch(url, headers)

    return StaticOnlyURLFetcher


def _load() -> _Resources:
    global _resources
    if _resources is None:
        # WeasyPrint logs every layout step at INFO, from its import on: noise in the web
        # and worker logs (its warnings and errors still come through).
        logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
        import weasyprint
        from weasyprint.text.fonts import FontConfiguration

        fetcher = _fetcher_class(weasyprint)()
        font_config = FontConfiguration()
        stylesheet = weasyprint.CSS(
            string=render_to_string(STYLESHEET_TEMPLATE),
            base_url=STATIC_BASE_URL,
            url_fetcher=fetcher,
            font_config=font_config,
        )
        _resources = _Resources(weasyprint, fetcher, font_config, stylesheet)
    return _resources


def html_to_pdf(html: str, *, attachments: Sequence[tuple[str, bytes, str]] = ()) -> bytes:
    """Render an HTML document to PDF bytes with the agreement stylesheet, fetching
    only `data:` URLs and the app's static files. `attachments` are embedded files
    given as (name, bytes, description)."""
    with _render_lock:
        resources = _load()
        weasyprint = resources.weasyprint
        document = weasyprint.HTML(string=html, base_url=STATIC_BASE_URL, url_fetcher=resources.fetcher)
        embedded = [
            weasyprint.Attachment(
                string=content,
                name=name,
                description=description,
                url_fetcher=resources.fetcher,
            )
            for name, content, description in attachments
        ]
        return document.write_pdf(
            stylesheets=[resources.stylesheet],
            font_config=resources.font_config,
            attachments=embedded or None,
        )


# --- The agreement document ------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """What the signed PDF shows of the signing: signer, evidence and times (UTC)."""

    signer_name: str
    signer_email: str
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
        "amount_credited": -seat_change.amount_due,
        "signature": signature,
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
