"""A local HTTPS stand-in for Salesforce: the few REST calls the LMA connector makes.

    POST  /services/oauth2/token                             (username-password flow)
    GET   /services/data/v59.0/query?q=SELECT … FROM sfLma__License__c WHERE …
    PATCH /services/data/v59.0/sobjects/sfLma__License__c/<Id>

It listens on 127.0.0.1 only, with a self-signed certificate for 127.0.0.1 and
localhost generated at start (point SALESFORCE_CA_BUNDLE at `ca_bundle`), keeps its
licence records in memory and logs every request, and the TLS server names clients
asked for. `fail_next(n)` answers 503 (or another status) to the next n requests;
`instance_url` is what sign-in names as the instance (its own URL unless set).
Nothing here ever reaches the internet.
"""

import datetime
import ipaddress
import json
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

API_VERSION = "59.0"
LICENSE = "sfLma__License__c"
DATA_PREFIX = f"/services/data/v{API_VERSION}"
TOKEN_PATH = "/services/oauth2/token"
# The integration user and connected app the stand-in accepts, unless told others.
CLIENT_ID = "3MVG9-test-consumer-key"
CLIENT_SECRET = "test-consumer-secret"
USERNAME = "integration@vendor.example"
PASSWORD = "integration-password-and-token"


# --- Certificate ---------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert_path: Path  # PEM; also the CA bundle clients trust
    key_path: Path


def generate_certificate(
    directory: Path, common_name: str = "seatmgr test Salesforce", *, ip_address: bool = True
) -> Certificate:
    """A self-signed certificate for localhost and (unless `ip_address` is false)
    127.0.0.1, valid for a day."""
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if ip_address:
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "salesforce-cert.pem", directory / "salesforce-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return Certificate(cert_path, key_path)


# --- Requests seen -------------------------------------------------------------------


@dataclass
class Logged:
    method: str
    path: str
    query: dict  # the query string, each name to its first value
    headers: dict  # names lower-cased
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.monotonic)

    @property
    def form(self) -> dict:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def json(self):
        return json.loads(self.body)


# --- SOQL, just enough ---------------------------------------------------------------

_LITERAL = r"'((?:[^'\\]|\\.)*)'"
_SELECT = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?P<rest>.*)$", re.I | re.S)
_CONDITION = re.compile(rf"(\w+)\s*=\s*{_LITERAL}")
_LIMIT = re.compile(r"\bLIMIT\s+(\d+)\s*$", re.I)


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal)


class SoqlError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def parse_soql(soql: str) -> tuple[str, list[str], dict[str, str], int | None]:
    """(object, fields, {field: value} of the WHERE's `=` conditions joined by AND, limit)."""
    match = _SELECT.match(soql)
    if not match:
        raise SoqlError("MALFORMED_QUERY", f"unexpected query: {soql}")
    fields = [f.strip() for f in match["fields"].split(",")]
    rest = match["rest"]
    limit_match = _LIMIT.search(rest)
    limit = int(limit_match[1]) if limit_match else None
    if limit_match:
        rest = rest[: limit_match.start()]
    conditions: dict[str, str] = {}
    where = re.match(r"^\s*WHERE\s+(.*)$", rest, re.I | re.S)
    if where:
        clauses = re.split(r"\s+AND\s+(?=(?:[^']*'[^']*')*[^']*$)", where[1].strip(), flags=re.I)
        for clause in clauses:
            condition = _CONDITION.fullmatch(clause.strip())
            if not condition:
                raise SoqlError("MALFORMED_QUERY", f"unsupported condition: {clause}")
            conditions[condition[1]] = _unescape(condition[2])
    elif rest.strip():
        raise SoqlError("MALFORMED_QUERY", f"unsupported clause: {rest.strip()}")
    return match["object"], fields, conditions, limit


# --- The server ----------------------------------------------------------------------


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    ssl_context: ssl.SSLContext
    on_handshake_failure = None

    def finish_request(self, request, client_address):
        # The TLS handshake happens here, in the connection's own thread, so a client
        # that stalls or refuses the certificate never blocks the accepting loop.
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            if self.on_handshake_failure:
                self.on_handshake_failure(error)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()


class SalesforceServer:
    """Salesforce on https://127.0.0.1:<port>. Use as a context manager or call
    `stop()`. `records` are the licence records (plain dicts, as the REST API shows
    them); `log` every request, in order; `handshake_failures` the TLS handshakes a
    client aborted (for instance because it did not trust the certificate)."""

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        username: str = USERNAME,
        password: str = PASSWORD,
        certificate: Certificate | None = None,
    ):
        self.client_id, self.client_secret = client_id, client_secret
        self.username, self.password = username, password
        self._tempdir = None
        if certificate is None:
            self._tempdir = tempfile.mkdtemp(prefix="seatmgr-salesforce-")
            certificate = generate_certificate(Path(self._tempdir))
        self.certificate = certificate
        self.records: list[dict] = []
        self.log: list[Logged] = []
        self.handshake_failures: list[str] = []
        self.server_names: list[str | None] = []  # SNI of each TLS handshake
        self.instance_url: str | None = None
        self.tokens: set[str] = set()
        self._failures = 0
        self._failure_status = 503
        self._failure_prefix = ""
        self._lock = threading.Lock()
        self._ids = 0

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert_path, certificate.key_path)
        context.sni_callback = self._server_name_asked
        self._server = _TLSServer(("127.0.0.1", 0), self._handler())
        self._server.ssl_context = context
        self._server.on_handshake_failure = self._handshake_failed
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # --- Set-up and inspection -------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_bundle(self) -> str:
        return str(self.certificate.cert_path)

    def add_licence(self, *, subscriber_org_id: str, package_id: str, seats: int = 0, **fields) -> str:
        """A licence record; returns its Id."""
        with self._lock:
            self._ids += 1
            record_id = f"a0B5g00000{self._ids:08d}"[:18]
            self.records.append(
                {
                    "Id": record_id,
                    "sfLma__Subscriber_Org_ID__c": subscriber_org_id,
                    "sfLma__Package__c": package_id,
                    "sfLma__Seats__c": float(seats),  # a Number field: JSON shows it as 5.0
                    "sfLma__Status__c": "Active",
                    **fields,
                }
            )
        return record_id

    def licence(self, record_id: str) -> dict:
        with self._lock:
            return dict(next(r for r in self.records if r["Id"] == record_id))

    def seats(self, record_id: str) -> int:
        return int(self.licence(record_id)["sfLma__Seats__c"])

    def fail_next(self, count: int, status: int = 503, path_prefix: str = "") -> None:
        """Answer `status` to the next `count` requests (only those whose path starts
        with `path_prefix`, when given: `DATA_PREFIX` lets the sign-in through)."""
        with self._lock:
            self._failures, self._failure_status, self._failure_prefix = count, status, path_prefix

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[Logged]:
        with self._lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method) and r.path.startswith(path_prefix)
            ]

    def reset(self) -> None:
        with self._lock:
            self.records.clear()
            self.log.clear()
            self.handshake_failures.clear()
            self.server_names.clear()
            self.tokens.clear()
            self._failures = 0

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _server_name_asked(self, tls_socket, server_name, context) -> None:
        with self._lock:
            self.server_names.append(server_name)

    def _handshake_failed(self, error: Exception) -> None:
        with self._lock:
            self.handshake_failures.append(str(error))

    # --- Answers -----------------------------------------------------------------------

    def _token(self, request: Logged) -> tuple[int, object]:
        form = request.form
        if form.get("grant_type") != "password":
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
        given = (form.get("client_id"), form.get("client_secret"), form.get("username"), form.get("password"))
        expected = (self.client_id, self.client_secret, self.username, self.password)
        if not all(secrets.compare_digest(g or "", e) for g, e in zip(given, expected, strict=True)):
            return 400, {"error": "invalid_grant", "error_description": "authentication failure"}
        token = "00D5g000000TEST!" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return 200, {
            "access_token": token,
            "instance_url": self.instance_url or self.url,
            "id": f"{self.url}/id/00D5g000000TESTEAA/0055g000000TESTAAA",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "signature": "dGVzdA==",
        }

    def _authorized(self, request: Logged) -> bool:
        header = request.headers.get("authorization", "")
        with self._lock:
            return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.tokens

    def _query(self, request: Logged) -> tuple[int, object]:
        try:
            sobject, fields, conditions, limit = parse_soql(request.query.get("q", ""))
        except SoqlError as error:
            return 400, [{"message": str(error), "errorCode": error.code}]
        if sobject != LICENSE:
            return 400, [
                {"message": f"sObject type '{sobject}' is not supported.", "errorCode": "INVALID_TYPE"}
            ]
        with self._lock:
            matching = [r for r in self.records if all(r.get(k) == v for k, v in conditions.items())]
        matching = matching[:limit] if limit is not None else matching
        records = [
            {
                "attributes": {"type": LICENSE, "url": f"{DATA_PREFIX}/sobjects/{LICENSE}/{r['Id']}"},
                **{f: r.get(f) for f in fields},
            }
            for r in matching
        ]
        return 200, {"totalSize": len(records), "done": True, "records": records}

    def _update(self, request: Logged, record_id: str) -> tuple[int, object]:
        try:
            changes = request.json
        except ValueError:
            return 400, [{"message": "The request body is not JSON.", "errorCode": "JSON_PARSER_ERROR"}]
        seats = changes.get("sfLma__Seats__c")
        if "sfLma__Seats__c" in changes and (isinstance(seats, bool) or not isinstance(seats, int | float)):
            return 400, [{"message": "Seats: value not of required type", "errorCode": "INVALID_FIELD"}]
        with self._lock:
            record = next((r for r in self.records if r["Id"] == record_id), None)
            if record is None:
                return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
            record.update({k: float(v) if k == "sfLma__Seats__c" else v for k, v in changes.items()})
        return 204, None

    def _answer(self, request: Logged) -> tuple[int, object]:
        with self._lock:
            fail = self._failures > 0 and request.path.startswith(self._failure_prefix)
            if fail:
                self._failures -= 1
        if fail:
            message = [{"message": "Service unavailable", "errorCode": "SERVER_UNAVAILABLE"}]
            return self._failure_status, message
        if request.method == "POST" and request.path == TOKEN_PATH:
            return self._token(request)
        if not request.path.startswith(DATA_PREFIX + "/"):
            return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
        if not self._authorized(request):
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        resource = request.path.removeprefix(DATA_PREFIX).rstrip("/")
        if request.method == "GET" and resource == "/query":
            return self._query(request)
        update = re.fullmatch(rf"/sobjects/{LICENSE}/(\w+)", resource)
        if request.method == "PATCH" and update:
            return self._update(request, update[1])
        return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Salesforce

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                parts = urlsplit(self.path)
                request = Logged(
                    method=self.command,
                    path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                status, payload = server._answer(request)
                request.status = status
                with server._lock:
                    server.log.append(request)
                body = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if body:
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, *args):
                pass

        return Handler
