"""Sentry gets errors only when SENTRY_DSN is set, and never a capability token: a real
round trip from Sentry's SDK, in a process of its own, to a local HTTP server standing
in for Sentry's ingestion endpoint."""

import gzip
import json
import os
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.observability.processes import ROOT


class Ingest(ThreadingHTTPServer):
    """Keeps every envelope POSTed to /api/<project>/envelope/, decompressed."""

    def __init__(self):
        self.envelopes: list[bytes] = []
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        self.server.envelopes.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def ingest():
    server = Ingest()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_app(token: str, **env) -> dict:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SENTRY_")}
    result = subprocess.run(
        [sys.executable, "-m", "tests.observability.sentry_client"],
        cwd=ROOT,
        env={**environment, "LINK_TOKEN": token, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def events(envelopes: list[bytes]) -> list[dict]:
    found = []
    for envelope in envelopes:
        for line in envelope.split(b"\n"):
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and "exception" in item:
                found.append(item)
    return found


def test_with_a_dsn_each_error_reaches_sentry_without_tokens_nor_personal_data(ingest):
    token = secrets.token_urlsafe(32)
    dsn = f"http://publickey@127.0.0.1:{ingest.server_address[1]}/42"

    assert run_app(token, SENTRY_DSN=dsn, SENTRY_ENVIRONMENT="test") == {"active": True}

    received = events(ingest.envelopes)
    assert sorted(event["tags"]["request_id"] for event in received) == ["sentry-api", "sentry-page"]
    everything = b"".join(ingest.envelopes).decode()
    assert token not in everything
    for event in received:
        assert event["environment"] == "test"
        assert event["exception"]["values"][-1]["type"] == "RuntimeError"
        assert event["request"]["headers"]["Referer"] == "http://testserver/l/<redacted>/"
        assert "Cookie" not in event["request"].get("headers", {}) and "user" not in event
    page = next(event for event in received if event["tags"]["request_id"] == "sentry-page")
    assert page["request"]["url"].endswith("/l/<redacted>/broken/")
    assert page["exception"]["values"][-1]["value"] == "a bug while serving /l/<redacted>/broken/"
    assert page["request"]["headers"]["Referer"] == "http://testserver/l/<redacted>/"


def test_without_a_dsn_sentry_is_off_and_nothing_is_sent(ingest):
    assert run_app(secrets.token_urlsafe(32)) == {"active": False}

    assert ingest.envelopes == []
