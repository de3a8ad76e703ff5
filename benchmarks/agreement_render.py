"""Agreement PDF render times, beside a bare WeasyPrint render of the same HTML.

    .venv/bin/python benchmarks/agreement_render.py [--runs 50]

Renders, warm, `--runs` times each and interleaved (so that both sides see the same
machine load):

- the unsigned agreement: `agreements.rendering.render_agreement` (Django template +
  WeasyPrint with the shared stylesheet, fonts and static-only fetcher);
- the signed agreement, typed and drawn: `render_signed_agreement` (the same pages +
  signature page + certificate of completion + the unsigned PDF attached);
- for each, the bare render: `weasyprint.HTML(string=html).write_pdf()` of the same
  HTML, with the same stylesheet inlined in a <style> element (its font URL made a
  file:// URL so that the bare render loads the same font).

Prints p50/p95 in milliseconds and the ratio to the bare render (goal: <= 1.3x) as a
markdown table. Needs no database: the seat change is built in memory, never saved.
"""

import argparse
import hashlib
import io
import os
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seatmgr.settings")
# Development settings (no database, cache or email is used); the settings need a key.
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

import django  # noqa: E402

django.setup()

from django.contrib.staticfiles import finders  # noqa: E402
from django.template.loader import render_to_string  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from agreements import rendering  # noqa: E402
from subscriptions.models import Organization, Plan, Product, SeatChange, Subscription  # noqa: E402


def seat_change() -> SeatChange:
    start = datetime(2028, 4, 1, tzinfo=UTC)
    organization = Organization(name="Acme Widgets GmbH", slug="acme", billing_email="a@acme.test")
    plan = Plan(
        product=Product(code="documents", name="Documents"),
        code="documents-monthly",
        name="Documents monthly",
        interval="month",
        unit_amount=1000,
        currency="eur",
    )
    subscription = Subscription(
        organization=organization,
        plan=plan,
        quantity=3,
        admin_email="admin@acme.test",
        current_period_start=start,
        current_period_end=start + timedelta(days=30),
    )
    quoted_at = start + timedelta(days=10, hours=12)
    return SeatChange(
        organization=organization,
        subscription=subscription,
        number="SC-2028-000042",
        old_quantity=3,
        new_quantity=5,
        unit_amount=1000,
        currency="eur",
        quoted_at=quoted_at,
        period_start=start,
        period_end=subscription.current_period_end,
        credit=-1950,
        debit=3250,
        amount_due=1300,
        renewal_amount=5000,
        expires_at=quoted_at + timedelta(days=7),
    )


def drawn_png() -> bytes:
    image = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).line(
        [(40, 150), (120, 40), (180, 160), (260, 60), (340, 150)], fill="#1d2330", width=4
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def signature(kind: str, unsigned_sha256: str) -> rendering.Signature:
    at = datetime(2028, 4, 11, 12, 5, tzinfo=UTC)
    return rendering.Signature(
        signer_name="Ada Lovelace",
        signer_email="ada@acme.test",
        signer_identified_by="emailed_link",
        signer_ip="203.0.113.7",
        signer_user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36",
        kind=kind,
        text="Ada Lovelace" if kind == "typed" else "",
        png=drawn_png() if kind == "drawn" else None,
        sent_at=at - timedelta(minutes=5),
        viewed_at=at - timedelta(minutes=4),
        consent_at=at,
        signed_at=at,
        unsigned_sha256=unsigned_sha256,
    )


def standalone(html: str) -> str:
    """The same document for a bare render: the agreement stylesheet inlined, with its
    relative font URL turned into a file:// URL."""
    css = render_to_string(rendering.STYLESHEET_TEMPLATE)
    font = "fonts/dancing-script/dancing-script-400.woff"
    css = css.replace(f'url("{font}")', f'url("{Path(finders.find(font)).as_uri()}")')
    return html.replace("</head>", f"<style>{css}</style></head>", 1)


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def percentiles(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    change = seat_change()
    # The first render imports WeasyPrint (quietening its progress log) and loads fonts.
    unsigned = rendering.render_agreement(change)
    import weasyprint

    unsigned_sha256 = hashlib.sha256(unsigned).hexdigest()
    cases = {
        "unsigned agreement (2 pages)": (
            lambda: rendering.render_agreement(change),
            standalone(rendering.agreement_html(change)),
        )
    }
    for kind in ("typed", "drawn"):
        signed = signature(kind, unsigned_sha256)
        cases[f"signed, {kind} signature (4 pages + attachment)"] = (
            lambda signed=signed: rendering.render_signed_agreement(
                change, signature=signed, unsigned_pdf=unsigned
            ),
            standalone(rendering.agreement_html(change, signature=signed)),
        )

    rows = []
    for name, (ours, html) in cases.items():

        def bare(html=html):
            return weasyprint.HTML(string=html).write_pdf()

        for _ in range(args.warmup):
            ours()
            bare()
        ours_ms, bare_ms = [], []
        for _ in range(args.runs):
            ours_ms.append(timed(ours))
            bare_ms.append(timed(bare))
        rows.append((name, percentiles(ours_ms), percentiles(bare_ms)))

    print(f"Agreement renders, {args.runs} warm runs each (ms), WeasyPrint {weasyprint.VERSION}")
    print()
    print("| render | p50 | p95 | bare p50 | bare p95 | ratio p50 | ratio p95 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (p50, p95), (bare50, bare95) in rows:
        print(
            f"| {name} | {p50:.0f} | {p95:.0f} | {bare50:.0f} | {bare95:.0f} "
            f"| {p50 / bare50:.2f}x | {p95 / bare95:.2f}x |"
        )
    print()
    print(f"unsigned PDF: {len(unsigned):,} bytes")


if __name__ == "__main__":
    main()
