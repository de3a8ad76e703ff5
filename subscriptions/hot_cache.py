"""A per-process cache for the hot read paths (API-key lookup, licence checks) that
stays correct across processes.

Every entry is tagged with a *generation* kept in the shared cache (Redis in
production). Any write that could change an answer (licences, org users,
subscriptions, API keys) replaces the generation when its transaction commits;
a process that sees a new generation drops everything it had. A request costs one
cache GET instead of its database queries (wrap a request that makes several lookups,
an API key then the answer, in `one_generation()`). Entries are computed after the
generation is read, so an answer computed from data older than a write is always
tagged with the generation that write replaces.
"""

import contextlib
import contextvars
import functools
import threading
import uuid
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

GENERATION_KEY = "hot-cache:generation"
MAX_ENTRIES = 50_000

_lock = threading.Lock()
_state: dict[str, Any] = {"generation": None, "entries": {}}


_pinned: contextvars.ContextVar[str | None] = contextvars.ContextVar("hot_cache_generation", default=None)


class _RedisGeneration:
    """The generation in Redis through one long-lived client: Django's RedisCache builds
    a new client object on every call, which costs more than the round trip itself."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.key = cache.make_key(GENERATION_KEY)

    def get(self) -> str | None:
        return self.client.get(self.key)

    def add(self, value: str) -> None:
        self.client.set(self.key, value, nx=True)

    def set(self, value: str) -> None:
        self.client.set(self.key, value)


class _CacheGeneration:
    """The generation in Django's cache: the embedded default (one process)."""

    def get(self) -> str | None:
        return cache.get(GENERATION_KEY)

    def add(self, value: str) -> None:
        cache.add(GENERATION_KEY, value, timeout=None)

    def set(self, value: str) -> None:
        cache.set(GENERATION_KEY, value, timeout=None)


@functools.cache
def _generation_store() -> _RedisGeneration | _CacheGeneration:
    return _RedisGeneration(settings.REDIS_URL) if settings.REDIS_URL else _CacheGeneration()


def _read_generation() -> str:
    store = _generation_store()
    generation = store.get()
    if generation is None:
        store.add(uuid.uuid4().hex)
        generation = store.get()
    return generation


def _current_generation() -> str:
    return _pinned.get() or _read_generation()


@contextlib.contextmanager
def one_generation() -> Iterator[None]:
    """Every lookup inside answers from the generation read on entry, so a request that
    makes several lookups costs one cache GET. Only for a read-only block as short as
    a request: a write committed inside is not seen by the lookups after it."""
    token = _pinned.set(_read_generation())
    try:
        yield
    finally:
        _pinned.reset(token)


def get_or_compute(key: Hashable, compute: Callable[[], Any]) -> Any:
    generation = _current_generation()
    with _lock:
        if _state["generation"] != generation:
            _state["generation"], _state["entries"] = generation, {}
        entries = _state["entries"]
        if key in entries:
            return entries[key]
    value = compute()
    with _lock:
        if _state["generation"] == generation:
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[key] = value
    return value


def invalidate() -> None:
    _generation_store().set(uuid.uuid4().hex)


def invalidate_on_commit(*args, **kwargs) -> None:
    """Signal receiver and plain helper: a new generation once the transaction commits."""
    transaction.on_commit(invalidate)
