"""Local HTTP servers standing in for customers' connected orgs."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    """Records every POST. `fail_next(n)` answers 503 to the next n requests (with a
    body that names what answered, as a real service's error page would);
    `redirect_to(url)` answers every request with a redirect there; `stall_next()`
    holds the next request open until `release()`; `stop()`/`start()` take the org
    down and bring it back on the same port."""

    FAILURE_BODY = b"Service Unavailable: redis_version:7.2.4 on db-internal-01"

    def __init__(self):
        self.received: list[Received] = []
        self.accepted: list[Received] = []
        self._failures = 0
        self._redirect: tuple[int, str] | None = None
        self._stall = threading.Event()
        self._stall.set()
        self._stall_armed = False
        self._lock = threading.Lock()
        self._server = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/seatmgr"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                item = Received({k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.received.append(item)
                    fail = receiver._failures > 0
                    if fail:
                        receiver._failures -= 1
                    stall = receiver._stall_armed
                    receiver._stall_armed = False
                    redirect = receiver._redirect
                if stall:
                    receiver._stall.wait(30)
                if redirect:
                    self.send_response(redirect[0])
                    self.send_header("Location", redirect[1])
                    self.end_headers()
                    return
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(receiver.FAILURE_BODY)))
                    self.end_headers()
                    self.wfile.write(receiver.FAILURE_BODY)
                    return
                with receiver._lock:
                    receiver.accepted.append(item)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures = count

    def redirect_to(self, url: str, status: int = 307) -> None:
        with self._lock:
            self._redirect = (status, url)

    def stall_next(self) -> None:
        with self._lock:
            self._stall.clear()
            self._stall_armed = True

    def release(self) -> None:
        self._stall.set()

    def wait_for(self, predicate, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(self):
                    return True
            time.sleep(0.02)
        return False
