"""Where connectors may send: public internet addresses only (no SSRF).

A connected org's URL is typed by staff, and Salesforce's sign-in answer names the
instance to call next. Neither may point seatmgr at itself or at its own network: a
webhook URL of http://127.0.0.1:6379/ or http://169.254.169.254/ would make "Send test
push" a port scanner of our side. So:

- `check_url` refuses, when the URL is saved, what can be told from the URL (scheme,
  special names, literal addresses) and what the name resolves to right now;
- `session()` sends through `GuardedAdapter`, which checks every request again as it
  goes out: it resolves the name, refuses unless *every* address is public, and then
  connects to one of those checked addresses itself (the Host header, TLS server name
  and certificate check keep the name), so a DNS answer that changes between the check
  and the connection (DNS rebinding) changes nothing. No redirect is followed.

Only https is used, except that `CONNECTED_ORG_ALLOW_LOOPBACK` (for development and
tests, whose stand-ins listen on 127.0.0.1) lets loopback addresses through, over http
too. It never lets through private, link-local or metadata addresses.
"""

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from .base import CONNECT_TIMEOUT, READ_TIMEOUT

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names cloud providers answer their instance metadata on (credentials live there).
METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
# Suffixes that never name a public host: private-use and link-local DNS zones.
PRIVATE_SUFFIXES = (".internal", ".local", ".localdomain", ".home.arpa")
HTTPS_ONLY = "the URL must start with https://"

# Salesforce's own domains, for the login URL and the instance its sign-in names:
# production and sandbox My Domains (*.my.salesforce.com, *.sandbox.my.salesforce.com),
# login/test.salesforce.com, legacy instances (na1.salesforce.com, *.cloudforce.com),
# Lightning and Sites (*.force.com), Government Cloud Plus (*.salesforce.mil,
# *.crmforce.mil, *.cloudforce.mil) and Salesforce on Alibaba Cloud (*.sfcrmproducts.cn).
SALESFORCE_DOMAINS = (
    "salesforce.com",
    "force.com",
    "cloudforce.com",
    "salesforce.mil",
    "crmforce.mil",
    "cloudforce.mil",
    "sfcrmproducts.cn",
)

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """Not sent: the URL or what it resolves to is not a public https address.
    `message` says why, for people, without anything that answered."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Redirected(Refused):
    """The destination answered with a redirect, which is not followed."""

    def __init__(self, status: int):
        super().__init__(f"answered HTTP {status}: redirects are not followed")
        self.status = status


def allow_loopback() -> bool:
    return getattr(settings, "CONNECTED_ORG_ALLOW_LOOPBACK", False)


def address_problem(address: Address) -> str | None:
    """Why seatmgr must not connect to `address` ("a private network address"), or
    None for a public one. IPv4 addresses written as IPv6 (::ffff:10.0.0.1, NAT64,
    6to4) are judged as the IPv4 address they reach."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    if address.is_loopback:
        return None if allow_loopback() else "a loopback address (this server)"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_multicast:
        return "a multicast address"
    if address in _SHARED_ADDRESS_SPACE:
        return "a carrier-grade NAT address"
    if any(address in network for network in _PRIVATE_NETWORKS):
        return "a private network address"
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    if site_local or address.is_reserved or address.is_private or not address.is_global:
        return "a reserved address"
    return None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _split(url: str) -> tuple[SplitResult, str]:
    """The URL's parts and its host (lower case, without brackets or a final dot)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise Refused("the URL is not valid") from None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        raise Refused(HTTPS_ONLY)
    return parts, host


def _name_problem(host: str) -> str | None:
    """Refusals that need no DNS: metadata and private names, bare intranet names,
    literal addresses that are not public. (localhost is judged by what it resolves to.)"""
    literal = _literal(host)
    if literal is not None:
        problem = address_problem(literal)
        return f"{host} is {problem}" if problem else None
    if host in METADATA_NAMES:
        return f"{host} is a cloud metadata service"
    if host != "localhost" and ("." not in host or host.endswith(PRIVATE_SUFFIXES)):
        return f"{host} is not a public internet name"
    return None


def _resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to, in the resolver's order (raises OSError)."""
    if (literal := _literal(host)) is not None:
        return [literal]
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])  # no IPv6 zone index
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError(f"no address for {host}")
    return addresses


def _addresses_problem(host: str, addresses: list[Address]) -> str | None:
    for address in addresses:
        if problem := address_problem(address):
            return f"{host} resolves to {problem}"
    return None


def _scheme_problem(parts: SplitResult, host: str) -> str | None:
    """https, except plain http to this machine (localhost, 127.0.0.1, ::1), which the
    address check lets through only when loopback is allowed."""
    if parts.scheme == "https" or _loopback_host(host):
        return None
    return HTTPS_ONLY


def _loopback_host(host: str) -> bool:
    """`host` names this machine: localhost or a loopback address (its resolved
    addresses are checked as any others)."""
    literal = _literal(host)
    if isinstance(literal, ipaddress.IPv6Address) and literal.ipv4_mapped:
        literal = literal.ipv4_mapped
    return host == "localhost" or (literal is not None and literal.is_loopback)


def check_url(url: str) -> None:
    """Refuse (`Refused`) a URL seatmgr must not send to, as far as can be told when it
    is saved: the scheme, the name, and the addresses it resolves to now. A name that
    does not resolve yet is accepted over https (the guard checks again at every send)."""
    parts, host = _split(url)
    if problem := _name_problem(host) or _scheme_problem(parts, host):
        raise Refused(problem)
    try:
        addresses = _resolve(host, parts.port or 443)
    except OSError:
        addresses = []
    if problem := _addresses_problem(host, addresses):
        raise Refused(problem)


def check_salesforce_url(url: str) -> None:
    """A Salesforce URL (login, or the instance a sign-in names) is https on one of
    Salesforce's domains; with loopback allowed, also https on this machine (the tests'
    stand-in). Addresses are checked as for any URL when it is used."""
    parts, host = _split(url)
    on_loopback = allow_loopback() and _loopback_host(host)
    if not on_loopback and not any(host == d or host.endswith("." + d) for d in SALESFORCE_DOMAINS):
        raise Refused(f"{host} is not a Salesforce domain")
    if parts.scheme != "https":
        raise Refused(HTTPS_ONLY)


def _netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


class GuardedAdapter(HTTPAdapter):
    """Sends a request only to addresses checked just before, by connecting to the
    checked address itself; refuses redirects (see the module's docstring)."""

    def send(self, request, **kwargs):
        parts, host = _split(request.url)
        if problem := _name_problem(host) or _scheme_problem(parts, host):
            raise Refused(problem)
        try:
            addresses = _resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        except OSError as error:
            raise requests.ConnectionError(f"{host} could not be resolved", request=request) from error
        if problem := _addresses_problem(host, addresses):
            raise Refused(problem)
        kwargs.pop("proxies", None)  # a proxy would connect to whatever it is asked for
        pinned = request.copy()
        pinned.headers["Host"] = _netloc(host, parts.port)
        pinned.tls_server_name = host  # read by build_connection_pool_key_attributes
        for index, address in enumerate(addresses):
            pinned.url = urlunsplit(parts._replace(netloc=_netloc(str(address), parts.port)))
            try:
                response = super().send(pinned, **kwargs)
            except requests.ConnectionError as error:
                if index + 1 < len(addresses) and _not_connected(error):
                    continue  # nothing was sent: the next checked address may answer
                raise
            break
        if 300 <= response.status_code < 400:
            response.close()
            raise Redirected(response.status_code)
        return response

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        server_name = getattr(request, "tls_server_name", None)
        if host_params["scheme"] == "https" and server_name:
            # Connected to the address, but TLS is about the name: SNI and the
            # certificate check use it, as if the name had been connected to.
            pool_kwargs["server_hostname"] = server_name
        return host_params, pool_kwargs


def _not_connected(error: requests.ConnectionError) -> bool:
    """The connection was never made (refused or timed out while connecting)."""
    cause = error.args[0] if error.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, ConnectTimeoutError)


class GuardedSession(requests.Session):
    """Everything goes through `GuardedAdapter`, with connectors' timeouts, and nothing
    from the environment: a proxy (HTTPS_PROXY) would connect where it likes, and a CA
    bundle (REQUESTS_CA_BUNDLE) would replace the session's `verify`."""

    def __init__(self):
        super().__init__()
        self.trust_env = False
        adapter = GuardedAdapter()
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        return super().request(*args, **kwargs)


def session() -> GuardedSession:
    return GuardedSession()
