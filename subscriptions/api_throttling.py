"""Rate limits per API key (or per signed-in person), counted in the shared cache.

A fixed window: each key has a counter per window (a minute by default) in the
shared cache (Redis in production), so every process counts towards one limit.
Answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds
until the window ends); a request over the limit answers 429
with `Retry-After`.

The licence check is called on every login of a connected app and is served in
about 0.25 ms, where one round trip to Redis would cost a third of that. Its
throttle counts in the process and adds its count to the shared counter at most
every `sync_every` seconds (and at once when the limit is near), so a key can go
over its limit only by what the processes serve in that time.
"""

import functools
import math
import threading
import time
from dataclasses import dataclass

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from .api_auth import ApiKeyPrincipal

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_COUNTERS = 10_000


@functools.cache
def parse_rate(rate: str) -> tuple[int, int]:
    """'1200/min' → (1200, 60)."""
    number, period = rate.split("/")
    return int(number), _PERIODS[period[0]]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window ends
    window: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


class _Counter:
    __slots__ = ("known", "pending", "synced_at", "window_number")

    def __init__(self, window_number: int):
        self.window_number = window_number
        self.pending = 0  # counted here, not yet added to the shared counter
        self.known = 0  # the shared counter at the last addition
        self.synced_at = float("-inf")


_lock = threading.Lock()
_counters: dict[tuple[str, str], _Counter] = {}


def _add_to_shared(key: str, count: int, timeout: int) -> int:
    if cache.add(key, count, timeout=timeout):
        return count
    try:
        return cache.incr(key, count)
    except ValueError:  # expired between the two calls
        cache.add(key, count, timeout=timeout)
        return count


def hit(scope: str, who: str, limit: int, window: int, sync_every: float = 0.0) -> Decision:
    """Count one request of `who` in `scope` and say whether it is within `limit`."""
    now = time.time()
    window_number = int(now // window)
    with _lock:
        counter = _counters.get((scope, who))
        if counter is None or counter.window_number != window_number:
            if len(_counters) >= MAX_COUNTERS:
                _counters.clear()
            counter = _counters[(scope, who)] = _Counter(window_number)
        counter.pending += 1
        count = counter.known + counter.pending
        to_add = 0
        if now - counter.synced_at >= sync_every or count >= limit:
            to_add, counter.pending, counter.synced_at = counter.pending, 0, now
    if to_add:
        shared = _add_to_shared(f"ratelimit:{scope}:{who}:{window_number}", to_add, window + 1)
        with _lock:
            counter.known = max(counter.known, shared)
            count = counter.known + counter.pending
    reset = max(1, math.ceil((window_number + 1) * window - now))
    return Decision(count <= limit, limit, max(0, limit - count), reset, window)


def who_is(principal) -> str | None:
    if isinstance(principal, ApiKeyPrincipal):
        return f"key:{principal.api_key_id}"
    if getattr(principal, "is_authenticated", False):
        return f"user:{principal.pk}"
    return None


class ApiKeyRateThrottle(BaseThrottle):
    """DRF throttle: `DEFAULT_THROTTLE_RATES[scope]` per API key or signed-in person.
    The decision is kept on the request, for the RateLimit-* headers."""

    scope = "api"
    sync_every = 0.0

    def allow_request(self, request, view) -> bool:
        who = who_is(request.user)
        if who is None:
            return True
        decision = self.decide(who)
        request._request.rate_limit = decision
        self.decision = decision
        return decision.allowed

    @classmethod
    def decide(cls, who: str) -> Decision:
        limit, window = parse_rate(api_settings.DEFAULT_THROTTLE_RATES[cls.scope])
        return hit(cls.scope, who, limit, window, cls.sync_every)

    def wait(self) -> int:
        return self.decision.reset


class LicenceCheckRateThrottle(ApiKeyRateThrottle):
    scope = "licence_check"
    sync_every = 0.2


def forget() -> None:
    """Drop this process's counters (tests)."""
    with _lock:
        _counters.clear()
