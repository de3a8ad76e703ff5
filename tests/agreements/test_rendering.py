import http.server
import threading
import time

import pytest
from PIL import Image

from agreements import rendering
from tests.agreements.factories import png_data_url, seat_change_factory
from tests.agreements.pdfs import font_names, image_count, page_texts, reader, text

pytestmark = pytest.mark.django_db


def test_the_agreement_shows_parties_product_totals_proration_and_number():
    seat_change = seat_change_factory(new_quantity=5, organization_name="Acme Widgets GmbH")

    pdf = rendering.render_agreement(seat_change)

    pages = page_texts(pdf)
    assert len(pages) == 2
    content = " ".join(pages)
    for expected in [
        "Opero",
        "Customer Acme Widgets GmbH",
        "Product Documents",
        "Plan Documents monthly",
        "Unit price €10.00 per user per month",
        "Current total 3 users",
        "New total 5 users",
        "Change +2 users",
        "2,592,000 seconds",
        "1,684,800 seconds remaining",
        "-(€10.00 \u00d7 3 \u00d7 1,684,800 / 2,592,000) = -€19.50",
        "€10.00 \u00d7 5 \u00d7 1,684,800 / 2,592,000 = €32.50",
        "Amount due now €13.00",
        "Next renewal €50.00 per month for 5 users",
        "Quote valid until",
        f"Agreement {seat_change.number}",
        "Terms",
    ]:
        assert expected in content, expected
    assert seat_change.number.startswith("SC-")
    assert reader(pdf).metadata.title == f"Seat change agreement {seat_change.number}"


def test_a_decrease_is_neither_charged_nor_refunded_and_says_who_approves_it():
    seat_change = seat_change_factory(new_quantity=2)

    content = text(rendering.render_agreement(seat_change))

    assert "Change \u22121 user" in content
    assert "Amount due now €0.00" in content
    assert "neither charged nor refunded" in content
    assert "credit" not in content.lower()
    assert "account manager approves" in content


def test_customer_text_is_escaped_and_appears_literally():
    hostile = "<script>alert(1)</script> & Co"
    seat_change = seat_change_factory(organization_name=hostile)

    html = rendering.agreement_html(seat_change)
    pdf = rendering.render_agreement(seat_change)

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert f"Customer {hostile}" in text(pdf)
    assert b"/JavaScript" not in pdf and b"/JS " not in pdf


class _TrapHandler(http.server.BaseHTTPRequestHandler):
    """Records every request and then stalls, as an unreachable host would."""

    def do_GET(self):
        self.server.requests.append(self.path)
        time.sleep(5)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def trap_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TrapHandler)
    server.daemon_threads = True
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_remote_and_local_file_urls_are_refused_without_a_connection(trap_server, tmp_path):
    port = trap_server.server_address[1]
    local_png = tmp_path / "local.png"
    Image.new("RGB", (20, 20), "red").save(local_png)
    html = f"""<!doctype html><html><head>
      <link rel="stylesheet" href="http://127.0.0.1:{port}/style.css">
      <style>
        @import url("http://127.0.0.1:{port}/import.css");
        body {{ background: url("http://127.0.0.1:{port}/background.png"); }}
        @font-face {{ font-family: Remote; src: url("https://127.0.0.1:{port}/font.woff"); }}
      </style></head><body>
      <p style="font-family: Remote">Remote resources</p>
      <img src="http://127.0.0.1:{port}/image.png" alt="">
      <img src="{local_png.as_uri()}" alt="">
      <img src="/static/../../seatmgr/settings.py" alt="">
    </body></html>"""

    started = time.monotonic()
    pdf = rendering.html_to_pdf(html)
    elapsed = time.monotonic() - started

    assert elapsed < 3, f"the render waited {elapsed:.1f} s for a remote resource"
    assert trap_server.requests == []
    assert image_count(pdf) == 0
    assert "Remote resources" in text(pdf)


def test_data_urls_and_the_apps_static_files_are_used():
    image = Image.new("RGB", (20, 20), "blue")
    html = f"""<!doctype html><html><body>
      <img src="{png_data_url(image)}" alt="">
      <p class="typed-signature">Ada Lovelace</p>
    </body></html>"""

    pdf = rendering.html_to_pdf(html)

    assert image_count(pdf) == 1
    # The signature font comes from static/fonts/ through the static-only fetcher.
    assert any("Dancing-Script" in name for name in font_names(pdf))


@pytest.mark.parametrize(
    "url",
    [
        "https://static.seatmgr.invalid/static/../seatmgr/settings.py",
        "https://static.seatmgr.invalid/static/%2e%2e/seatmgr/settings.py",
        "https://static.seatmgr.invalid/static/no/such/file.woff",
    ],
)
def test_the_static_fetcher_serves_only_static_files(url):
    relative = rendering.static_path_for(url)

    with pytest.raises(rendering.StaticFileRefused):
        rendering._static_file(relative)


def test_static_urls_resolve_only_under_the_private_origin():
    assert rendering.static_path_for("https://static.seatmgr.invalid/static/css/app.css") == ("css/app.css")
    assert rendering.static_path_for("https://example.com/static/css/app.css") is None
    assert rendering.static_path_for("https://static.seatmgr.invalid/media/x.png") is None
