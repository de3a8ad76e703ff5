"""Run the strict Stripe stand-in.

    python -m stripe_standin --port 8421 --upstream http://127.0.0.1:8420
    python -m stripe_standin --port 8421 [--state var/localstripe/state.pickle]

With `--upstream`, it checks and forwards to a localstripe already running there.
Without, it starts one of its own on a free port (`python -m billing.localstripe_server`:
loopback only, state in `--state` or nowhere) and stops it when it stops. Either way
it listens on 127.0.0.1 only.
"""

import argparse
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiohttp import web

from stripe_standin.app import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({process.returncode})")
        try:
            with urllib.request.urlopen(url + "/js.stripe.com/v3/", timeout=1):  # noqa: S310 - loopback
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on {url} within {timeout} s")


def start_localstripe(port: int, state: Path | None, log) -> subprocess.Popen:
    command = [sys.executable, "-m", "billing.localstripe_server", "--port", str(port)]
    if state is not None:
        command += ["--state", str(state)]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", help="a running localstripe's URL (default: start one)")
    parser.add_argument("--state", type=Path, help="the started localstripe's state file (default: none)")
    parser.add_argument(
        "--idempotency-ttl", type=float, default=24 * 3600, help="seconds an idempotency key is kept"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    localstripe = None
    upstream = args.upstream
    try:
        if upstream is None:
            port = free_port()
            upstream = f"http://127.0.0.1:{port}"
            localstripe = start_localstripe(port, args.state, sys.stderr)
            wait_until_up(upstream, localstripe)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.port))
        print(f"stripe_standin on http://127.0.0.1:{args.port} in front of {upstream}", flush=True)
        web.run_app(  # returns on SIGINT and SIGTERM
            create_app(upstream, idempotency_ttl=args.idempotency_ttl),
            sock=sock,
            print=None,
            access_log=logging.getLogger("aiohttp.access") if args.access_log else None,
        )
    finally:
        if localstripe is not None:
            localstripe.terminate()
            localstripe.wait(timeout=10)


if __name__ == "__main__":
    main()
