"""The strict Stripe stand-in for tests (`stripe_standin/`): fixtures that start it,
with a localstripe of its own behind it, on free ports, once per session.

`stripe_standin_server` is the session's server; `stripe_standin` gives a test the same
server with its faults, recorded requests and idempotency keys forgotten. Point the
real `stripe` library at `.url` (`.client()`), or send raw requests (`.call()`);
`.localstripe_url` is localstripe itself, behind it, to compare with or to check what
reached it. tests/conftest.py lists this module in `pytest_plugins`: the same server is
the Stripe of every other test too (`tests/stripe_server.py`).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import stripe

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "sk_test_seatmgr_standin"
PUBLISHABLE_KEY = "pk_test_seatmgr_standin"


@dataclass
class Answer:
    status: int
    headers: dict
    body: dict


@dataclass
class StripeStandIn:
    url: str
    localstripe_url: str
    log_path: Path

    def client(self, api_key: str = SECRET_KEY, *, timeout: float = 10, base: str | None = None):
        """The real stripe library, talking to the stand-in (or to `base`)."""
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": base or self.url},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def call(
        self,
        method: str,
        path: str,
        params: dict | str | None = None,
        *,
        api_key: str | None = SECRET_KEY,
        headers: dict | None = None,
        base: str | None = None,
    ) -> Answer:
        """A raw request: `params` form-encoded as given (a dict of flat names, e.g.
        {"items[0][price]": "p"}), or a body string sent unchanged."""
        body = params if isinstance(params, str) else urlencode(params or {}, doseq=True)
        url = (base or self.url) + path
        data = None
        if method in ("GET", "DELETE"):
            url += f"?{body}" if body else ""
        else:
            data = body.encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if api_key:
            request.add_header("Authorization", f"Bearer {api_key}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return Answer(response.status, dict(response.headers), _json(response.read()))
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), _json(error.read()))

    def control(self, method: str, path: str, data: dict | None = None):
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback
            self.url + path, data=body, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return _json(response.read())

    def fault(
        self,
        path: str,
        *,
        method: str = "POST",
        status=None,
        delay: float = 0,
        times: int = 1,
        body: dict | None = None,
        drop: bool = False,
    ):
        """Arm a fault (`/_standin/faults`): `path` exact or a template
        (`/v1/payment_intents/{intent}/cancel`)."""
        return self.control(
            "POST",
            "/_standin/faults",
            {
                "path": path,
                "method": method,
                "status": status,
                "delay": delay,
                "times": times,
                "body": body,
                "drop": drop,
            },
        )

    def clear_faults(self) -> None:
        self.control("DELETE", "/_standin/faults")

    def requests(self) -> list[dict]:
        return self.control("GET", "/_standin/requests")["data"]

    def sent(self, method: str, path: str) -> list[dict]:
        """The requests received for `method` on `path` (exact, or a template like a
        fault's), oldest first."""
        pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")
        return [r for r in self.requests() if r["method"] == method and pattern.match(r["path"])]

    def search_lag(self, seconds: float) -> None:
        """PaymentIntents created in the last `seconds` are not found by search yet."""
        self.control("POST", "/_standin/search", {"lag": seconds})

    def reset(self) -> None:
        self.control("POST", "/_standin/reset")


def _json(payload: bytes):
    return json.loads(payload) if payload.strip() else {}


def _wait_until_up(process: subprocess.Popen, log_path: Path) -> str:
    """The localstripe URL the stand-in announces once it listens."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"stripe_standin exited ({process.returncode}):\n{log_path.read_text()}")
        found = re.search(r"stripe_standin on (\S+) in front of (\S+)", log_path.read_text())
        if found:
            try:
                with urllib.request.urlopen(found[1] + "/_standin/faults", timeout=1):  # noqa: S310
                    return found[2]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        time.sleep(0.05)
    raise RuntimeError(f"stripe_standin did not start:\n{log_path.read_text()}")


def start_standin(directory: str, *args: str) -> tuple[subprocess.Popen, StripeStandIn]:
    """`python -m stripe_standin` on a free port with a localstripe of its own (or the
    `--upstream` in `args`)."""
    from stripe_standin.__main__ import free_port

    log_path = Path(directory) / f"standin-{len(os.listdir(directory))}.log"
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "stripe_standin", "--port", str(port), *args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": directory},
            start_new_session=True,
        )
    try:
        upstream = _wait_until_up(process, log_path)
    except RuntimeError:
        stop(process)
        raise
    return process, StripeStandIn(url=f"http://127.0.0.1:{port}", localstripe_url=upstream, log_path=log_path)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def stripe_standin_server():
    with tempfile.TemporaryDirectory(prefix="seatmgr-standin-") as directory:
        process, server = start_standin(directory)
        try:
            yield server
        finally:
            stop(process)


@pytest.fixture
def stripe_standin(stripe_standin_server):
    stripe_standin_server.reset()
    return stripe_standin_server
