"""The parts the fault suite breaks on purpose, each a real process or server of its own.

- `RedisServer`: a `redis-server` of the suite's own on a free port (nothing saved to
  disk), which a test can SIGKILL and start again on the same port; the session's Redis
  (REDIS_URL) is shared and never touched.
- `Beat`: `celery -A seatmgr beat` on that Redis, with the schedule of the settings
  (`CELERY_BEAT_SCHEDULE`); the worker is `tests.celery_worker.Worker`.
- `ConnectedOrg`: a Standard Webhooks receiver whose behaviour a test switches: accept,
  refuse connections, answer 500, answer slowly, or hold each request until released.
  Every request is verified with the `standardwebhooks` package, not our own code.
- `SmtpServer`: an SMTP server that accepts, or answers every command 421 ("service not
  available", as a server that is shutting down does), or refuses connections.
- `BackendTerminator`: `pg_terminate_backend` on every connection to the test database
  but the test's own, again and again during a window.
- `this_process_on(redis)`: the test's own process (which plays the web process) uses
  that Redis for its cache and its Celery broker.
- `wait_until`: every wait is a poll with a deadline, never an assertion on speed.
"""

import os
import random
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2
import redis
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "test-artifacts"
# Seconds, after a fault ends, within which every side effect has landed: the recovery
# goal of issue 15 (measured by benchmarks/recovery.py).
RECOVERY = 60
LIVE = "Your new seat count is live"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, interval: float = 0.1) -> bool:
    """Poll `condition` until it is true or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --- Redis --------------------------------------------------------------------------


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="seatmgr-faults-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
                *("--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        if not wait_until(lambda: self._pings(client), timeout=20):
            raise RuntimeError(f"redis-server did not start on port {self.port}; see {self.dir}/redis.log")

    @staticmethod
    def _pings(client) -> bool:
        try:
            return client.ping()
        except redis.RedisError:
            return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: everything it held (queued and unacknowledged tasks) is gone."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            self.process.wait(timeout=10)


# --- Beat ---------------------------------------------------------------------------


class Beat:
    """`celery -A seatmgr beat`, its schedule state in a file of its own."""

    def __init__(self, env: dict, name: str):
        self.env = env
        LOG_DIR.mkdir(exist_ok=True)
        self.log_path = LOG_DIR / f"celery-beat-{name}.log"
        self.schedule = Path(tempfile.mkdtemp(prefix="seatmgr-faults-beat-")) / "schedule"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "seatmgr", "beat", "--loglevel", "INFO"),
                *("--schedule", str(self.schedule), "--max-interval", "1"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_until(lambda: "beat: Starting" in self.log_path.read_text(errors="replace"), timeout=60):
            raise RuntimeError(f"Celery beat did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class Supervisor:
    """Restarts the worker and beat when they exit, within a second, as compose's
    `restart: unless-stopped` does in the production shape: Celery 5.7's worker exits
    ("Unrecoverable error") when Redis goes away while it holds unacknowledged tasks.
    `kill_worker()` SIGKILLs the worker; the supervisor brings it back."""

    def __init__(self, worker, beat):
        self.worker, self.beat = worker, beat
        self.restarts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self.ensure_running()
        self._thread.start()

    def ensure_running(self) -> None:
        with self._lock:
            for process in (self.worker, self.beat):
                if process.process is None or process.process.poll() is not None:
                    if process.process is not None and process is self.worker:
                        self.restarts += 1
                        self.worker._reset_log()
                    process.start()

    def kill_worker(self) -> None:
        with self._lock:
            os.killpg(self.worker.process.pid, signal.SIGKILL)
            self.worker.process.wait(timeout=10)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            self.ensure_running()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=90)
        with self._lock:
            self.beat.stop()
            if self.worker.process is not None and self.worker.process.poll() is None:
                self.worker.kill()  # nothing to finish: the test database is flushed after each test


# --- The connected org ----------------------------------------------------------------


@dataclass
class Delivery:
    seats: int
    version: int
    webhook_id: str
    organization: str
    answered_at: float = field(default_factory=time.monotonic)


class ConnectedOrg:
    """A connected org's Standard Webhooks endpoint. `mode` is one of:

    - "accept": 204 to every correctly signed request (what it applied is `accepted`);
    - "refuse": nothing listens on the port (connection refused);
    - "error": 500 to every request;
    - "slow": answers (204) after `delay` seconds;
    - "hold": keeps each request open until `release()` (or `delay` seconds), then 204.

    A request whose signature does not verify is answered 401 and counted in `forged`.
    """

    def __init__(self, secret: str):
        self.secret = secret
        self.accepted: list[Delivery] = []
        self.requests = 0
        self.in_flight = 0
        self.forged = 0
        self.mode = "accept"
        self.delay = 30.0
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = free_port()
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/seatmgr"

    def switch(self, mode: str, *, delay: float | None = None) -> None:
        assert mode in {"accept", "refuse", "error", "slow", "hold"}, mode
        if delay is not None:
            self.delay = delay
        if mode == "hold":
            self._released.clear()
        else:
            self._released.set()
        if mode == "refuse" and self._server is not None:
            self._close()
        elif mode != "refuse" and self._server is None:
            self._listen()
        self.mode = mode

    def release(self) -> None:
        self._released.set()

    def seats(self) -> list[int]:
        with self._lock:
            return [delivery.seats for delivery in self.accepted]

    def versions(self) -> list[int]:
        with self._lock:
            return [delivery.version for delivery in self.accepted]

    def _listen(self) -> None:
        org = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with org._lock:
                    org.requests += 1
                    org.in_flight += 1
                try:
                    self._answer(body)
                finally:
                    with org._lock:
                        org.in_flight -= 1

            def _answer(self, body: bytes) -> None:
                try:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    payload = Webhook(org.secret).verify(body, headers)
                except WebhookVerificationError:
                    with org._lock:
                        org.forged += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if org.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    return
                if org.mode == "slow":
                    time.sleep(org.delay)
                elif org.mode == "hold":
                    org._released.wait(org.delay)
                with org._lock:
                    org.accepted.append(
                        Delivery(
                            seats=payload["seats"],
                            version=payload["version"],
                            webhook_id=self.headers["webhook-id"],
                            organization=payload["organization"],
                        )
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._close()


# --- SMTP ---------------------------------------------------------------------------


class SmtpServer:
    """Enough of SMTP (RFC 5321) for Django's SMTP backend, without TLS nor AUTH.
    `mode`: "accept" (every message is kept in `messages`), "unavailable" (421 to every
    command, then the connection is closed), "refuse" (nothing listens on the port)."""

    def __init__(self):
        self.messages: list = []
        self.mode = "accept"
        self.port = free_port()
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._listen()

    def subjects(self) -> list[str]:
        """As a mail client shows them: a subject with non-ASCII characters is folded
        onto a line of its own (RFC 2047), which `email` keeps as a leading space."""
        with self._lock:
            return [message["Subject"].strip() for message in self.messages]

    def switch(self, mode: str) -> None:
        assert mode in {"accept", "unavailable", "refuse"}, mode
        if mode == "refuse" and self._server is not None:
            self._close()
        elif mode != "refuse" and self._server is None:
            self._listen()
        self.mode = mode

    def _listen(self) -> None:
        smtp = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                if smtp.mode == "unavailable":
                    self.reply("421 4.3.2 Service not available, closing transmission channel")
                    return
                self.reply("220 faults.example ESMTP")
                recipients: list[str] = []
                while line := self.rfile.readline():
                    command = line.decode(errors="replace").strip()
                    verb = command.split(" ", 1)[0].upper()
                    if smtp.mode == "unavailable":
                        self.reply("421 4.3.2 Service not available, closing transmission channel")
                        return
                    if verb == "EHLO":
                        self.reply("250-faults.example")
                        self.reply("250 8BITMIME")
                    elif verb in {"HELO", "NOOP", "RSET", "MAIL"}:
                        recipients = [] if verb in {"RSET", "MAIL"} else recipients
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(command.split(":", 1)[1].strip(" <>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = bytearray()
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        message = message_from_bytes(bytes(data), policy=default_policy)
                        with smtp._lock:
                            smtp.messages.append(message)
                        self.reply("250 OK: queued")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("502 Command not implemented")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def stop(self) -> None:
        if self._server is not None:
            self._close()


# --- PostgreSQL -----------------------------------------------------------------------


class BackendTerminator:
    """Terminates every other connection to `dbname` (the worker's, beat's: the app's),
    every 0.5 to 2 s by default, from a connection of its own, until stopped. The test's own
    connection (`spare_pid`) is spared: it is the operator watching."""

    def __init__(self, dsn: dict, dbname: str, spare_pid: int, every: tuple[float, float] = (0.5, 2.0)):
        self.dsn, self.dbname, self.spare_pid, self.every = dsn, dbname, spare_pid, every
        self.terminated = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def terminate_once(self) -> int:
        with psycopg2.connect(**self.dsn, dbname="postgres") as conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() AND pid <> %s",
                [self.dbname, self.spare_pid],
            )
            count = cursor.fetchone()[0]
        conn.close()
        self.terminated += count
        return count

    def __enter__(self):
        def run():
            while not self._stop.wait(random.uniform(*self.every)):
                self.terminate_once()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


# --- This process -------------------------------------------------------------------


@contextmanager
def this_process_on(redis_server: RedisServer):
    """The test's process (standing in for the web process: it commits the payments and
    approvals) uses `redis_server` for its cache and as its Celery broker."""
    from django.conf import settings
    from django.test import override_settings

    from seatmgr.celery import app
    from subscriptions import hot_cache

    def use_broker(url: str) -> None:
        # Not closed: kombu keeps one pool per broker URL for the process, reused later.
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_url = url
        hot_cache.forget()

    previous_broker = app.conf.broker_url
    caches = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": redis_server.url}}
    use_broker(redis_server.url)
    try:
        with override_settings(CACHES=caches):
            yield
    finally:
        use_broker(previous_broker)
