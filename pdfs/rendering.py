"""Django templates rendered to PDF with WeasyPrint.

Two things matter here besides the layout:

* **Nothing remote is ever fetched.** WeasyPrint resolves every URL through one
  `StaticOnlyURLFetcher`: `data:` URLs, and the app's own static files addressed under
  the private origin `STATIC_BASE_URL` (resolved with the staticfiles finders, read
  from disk, never over the network). Everything else (`http:`, `https:`, `file:`,
  ...) is refused before a connection is attempted, so a stray remote URL can neither
  leak anything nor stall a render for WeasyPrint's 10 s timeout.
* **Warm renders are fast.** WeasyPrint is imported on first use (~0.5 s) rather than
  when Django starts; each stylesheet template is rendered and parsed once, and the
  fonts it declares are loaded once into one shared `FontConfiguration`, all reused by
  every later render. Renders in one process are serialised by a lock, since that font
  configuration is shared and Pango/Fontconfig are not meant to be driven from several
  threads.

Callers pass HTML they rendered with Django's autoescaping on, and the name of the
template of their stylesheet (a Django template too, rendered without context).
"""

from __future__ import annotations

import logging
import mimetypes
import posixpath
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

# A private origin (".invalid" can never resolve) under which templates address the
# app's static files: `fonts/x.woff` or `/static/fonts/x.woff` in a template becomes
# https://static.seatmgr.invalid/static/fonts/x.woff, which the fetcher reads from disk.
STATIC_ORIGIN = "https://static.seatmgr.invalid"
STATIC_PREFIX = "/static/"
STATIC_BASE_URL = STATIC_ORIGIN + STATIC_PREFIX

# Static files larger than this are not embedded (fonts and logos are far smaller).
MAX_STATIC_BYTES = 5 * 1024 * 1024

_render_lock = threading.Lock()


class StaticFileRefused(ValueError):
    """A URL outside `data:` and the app's own static files."""


@lru_cache(maxsize=64)
def static_file(relative_path: str) -> tuple[bytes, str]:
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
    # Parsed stylesheets, by template name.
    stylesheets: dict[str, Any] = field(default_factory=dict)


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
                body, media_type = static_file(relative)
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

        _resources = _Resources(weasyprint, _fetcher_class(weasyprint)(), FontConfiguration())
    return _resources


def _stylesheet(resources: _Resources, template: str):
    stylesheet = resources.stylesheets.get(template)
    if stylesheet is None:
        stylesheet = resources.weasyprint.CSS(
            string=render_to_string(template),
            base_url=STATIC_BASE_URL,
            url_fetcher=resources.fetcher,
            font_config=resources.font_config,
        )
        resources.stylesheets[template] = stylesheet
    return stylesheet


def html_to_pdf(
    html: str, *, stylesheet_template: str, attachments: Sequence[tuple[str, bytes, str]] = ()
) -> bytes:
    """Render an HTML document to PDF bytes with the stylesheet rendered from
    `stylesheet_template` (parsed once per process), fetching only `data:` URLs and the
    app's static files. `attachments` are embedded files given as
    (name, bytes, description)."""
    with _render_lock:
        resources = _load()
        weasyprint = resources.weasyprint
        stylesheet = _stylesheet(resources, stylesheet_template)
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
            stylesheets=[stylesheet],
            font_config=resources.font_config,
            attachments=embedded or None,
        )
