"""PDFs as people save them: a `Content-Disposition` with a filename that says what the
file is (`change-agreement-acme-field-services-SC-0042-2026-12-01.pdf`), the same name
on the page's download and on the email's attachment.

Filenames are made from our own text and the customer's (an organization's name), so
every part is reduced to ASCII letters, digits and dashes: no quote, slash, newline or
header trick survives, and Django's `content_disposition_header` quotes the rest.
"""

from datetime import datetime

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.utils.text import slugify

MAX_PART = 60


def _part(text) -> str:
    """ASCII letters, digits and single dashes: our numbers (SC-0042) keep their case,
    anything else (an organization's name) is slugified."""
    text = str(text or "")
    if not all(c.isascii() and (c.isalnum() or c == "-") for c in text):
        text = slugify(text)
    return "-".join(word for word in text.split("-") if word)[:MAX_PART].strip("-")


def pdf_filename(kind: str, *parts, on: datetime | None = None) -> str:
    """`<kind>-<part>-…-<YYYY-MM-DD>.pdf`, each part sanitised, empty ones left out."""
    words = [_part(kind), *(_part(p) for p in parts)]
    if on is not None:
        words.append(f"{on:%Y-%m-%d}")
    return "-".join(w for w in words if w) + ".pdf"


def pdf_response(data: bytes, *, filename: str, as_attachment: bool) -> HttpResponse:
    """The PDF, shown in the browser (inline) or saved (attachment), under `filename`."""
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(as_attachment, filename)
    response["Content-Length"] = str(len(data))
    return response
