"""The address of the person making a request, as far as this server can tell.

Behind proxies, `REMOTE_ADDR` is the last proxy's address. Each proxy appends the
address it received the request from to `X-Forwarded-For`, so with N trusted proxies
in front of the app (`TRUSTED_PROXY_COUNT`) the client is the Nth entry from the
right; anything further left was written by the client and may be forged. With no
trusted proxy (the default), the header is ignored altogether.

Rate limits (ours and allauth's), audit events and signature certificates all take
the address from here.
"""

import ipaddress

from django.conf import settings


def _clean(value: str) -> str | None:
    """`value` as a canonical IP address (a port and IPv6 brackets removed), or None."""
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 203.0.113.7:443
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's IP address, or None when there is no request or no usable address."""
    if request is None:
        return None
    remote_addr = _clean(request.META.get("REMOTE_ADDR") or "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote_addr
    forwarded = [entry for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()]
    if len(forwarded) < proxies:
        # The request did not come through every proxy (or they do not set the
        # header): the only address known for sure is the one that connected.
        return remote_addr
    return _clean(forwarded[-proxies]) or remote_addr
