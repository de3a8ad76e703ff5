"""A per-process cache for the hot read paths (API-key lookup, licence checks) that
stays correct across processes.

Every entry is tagged with a *generation* kept in the shared cache (Redis in
production). Any write that could change an answer (licences, org users,
subscriptions, API keys) replaces the generation when its transaction commits;
a process that sees a new generation drops everything it had. A request costs one
cache GET instead of its database queries. Entries are computed after the
generation is read, so an answer computed from data older than a write is always
tagged with the generation that write replaces.
"""

import threading
import uuid
from collections.abc import Callable, Hashable
from typing import Any

from django.core.cache import cache
from django.db import transaction

GENERATION_KEY = "hot-cache:generation"
MAX_ENTRIES = 50_000

_lock = threading.Lock()
_state: dict[str, Any] = {"generation": None, "entries": {}}


def _current_generation() -> str:
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        generation = cache.get(GENERATION_KEY)
    return generation


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
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def invalidate_on_commit(*args, **kwargs) -> None:
    """Signal receiver and plain helper: a new generation once the transaction commits."""
    transaction.on_commit(invalidate)
