"""A small HTTP server in front of the session's localstripe that can answer for it the
way Stripe answers when things go wrong: an HTTP error with Stripe's error body (402
card errors with a decline code, 400/401/403/404/409 refusals, 429, 500), a 200 whose
body is not what the call expects, or a dropped connection. Everything else is passed
through to localstripe unchanged, and every request is recorded (method, path,
headers) so a test can see what the real stripe client sent, and that nothing was sent.

Kept minimal on purpose, for tests/billing only: a full strict Stripe stand-in
(`stripe_standin/`) is being built separately and will replace it.

    def test_x(stripe_faults):
        stripe_faults.fail("POST", "/v1/payment_intents", status=500)
"""

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# Headers the stripe client sends that localstripe (or a test) cares about.
FORWARDED = ("Authorization", "Content-Type", "Idempotency-Key", "Stripe-Version")


@dataclass
class Fault:
    method: str
    path: str
    status: int = 500
    body: dict | None = None
    drop: bool = False
    # How many requests it answers; None: every one until cleared.
    times: int | None = None


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FaultServer:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def fail(self, method: str, path: str, *, status: int = 500, body=None, drop=False, times=None) -> None:
        """Answer `method` requests whose path starts with `path` with `status` and
        `body` (Stripe's error body for the status by default), or drop the connection."""
        with self.lock:
            self.faults.append(Fault(method, path, status, body, drop, times))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def sent(self, method: str, path: str) -> list[Request]:
        """The requests received for `method` and a path starting with `path`."""
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            self.requests.append(Request(method, path, {}))
            for fault in self.faults:
                if fault.method == method and path.startswith(fault.path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self.faults.remove(fault)
                    return fault
        return None


_ERROR_BODIES = {
    400: {
        "type": "invalid_request_error",
        "code": "parameter_invalid_integer",
        "message": "Invalid integer.",
    },
    401: {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_live_****"},
    403: {"type": "invalid_request_error", "code": "secret_key_required", "message": "Permission denied."},
    404: {"type": "invalid_request_error", "code": "resource_missing", "message": "No such payment_intent."},
    429: {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests."},
    500: {"type": "api_error", "message": "An unknown error occurred."},
}


def _handler(server: FaultServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            fault = server._fault_for(self.command, self.path)
            with server.lock:
                server.requests[-1].headers = {name: self.headers.get(name, "") for name in FORWARDED}
            if fault is not None:
                self._answer_fault(fault)
                return
            request = urllib.request.Request(  # noqa: S310 - our loopback localstripe
                server.upstream + self.path,
                data=body,
                method=self.command,
                headers={name: self.headers[name] for name in FORWARDED if self.headers.get(name)},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status, answer = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, answer = error.code, error.read()
            self._send(status, answer)

        def _answer_fault(self, fault: Fault):
            if fault.drop:
                # No answer at all: the client sees the connection closed (a network error).
                self.close_connection = True
                return
            body = fault.body if fault.body is not None else {"error": _ERROR_BODIES.get(fault.status, {})}
            # Stripe-Should-Retry: false keeps the client from retrying (and sleeping).
            self._send(fault.status, json.dumps(body).encode(), {"Stripe-Should-Retry": "false"})

        def _send(self, status: int, body: bytes, headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _handle

    return Handler


@pytest.fixture
def stripe_faults(use_localstripe, settings):
    """The settings' Stripe goes through a FaultServer in front of localstripe."""
    server = FaultServer(upstream=use_localstripe.url)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    settings.STRIPE_API_BASE = server.url
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
