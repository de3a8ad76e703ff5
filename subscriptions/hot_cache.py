"""A per-process cache for the hot read paths (API-key lookup, licence checks) that
stays correct across processes, within a bound.

Every entry is tagged with a *generation* kept in the shared cache: Redis in
production (the settings refuse DEBUG=0 without it), files under var/cache/ in the
embedded default, whose web server and periodic-task process share them. A cache
of one process (locmem) would break the promise below: the other processes would
never see a new generation. Any write that could change an answer (licences, org users,
subscriptions, API keys) replaces the generation when its transaction commits, in
the shared cache and in the writing process at once. Other processes re-read the
generation at most every `MAX_STALENESS` seconds and drop everything they had when
it changed. So:

- in the process that made a change, the next answer already reflects it;
- in every other process, answers are at most `MAX_STALENESS` (0.2 s) older than
  the last commit: a revoked API key or a removed licence stops working within
  that time;
- a request usually costs no database query and no network round trip.

An entry is stored only if the generation did not change while it was computed, so
an answer computed from data older than a write never outlives that write.
"""

import threading
import time
import uuid
from collections.abc import Callable, Hashable
from typing import Any

from django.core.cache import cache
from django.db import transaction

GENERATION_KEY = "hot-cache:generation"
MAX_STALENESS = 0.2  # seconds
MAX_ENTRIES = 50_000

_lock = threading.Lock()
_state: dict[str, Any] = {"generation": None, "checked_at": float("-inf"), "entries": {}}


def _adopt(generation: str, now: float) -> None:
    """With `_lock` held: make `generation` current, dropping entries of another one."""
    if _state["generation"] != generation:
        _state["generation"], _state["entries"] = generation, {}
    _state["checked_at"] = now


def _current_generation() -> str:
    now = time.monotonic()
    with _lock:
        if now - _state["checked_at"] < MAX_STALENESS:
            return _state["generation"]
    generation = cache.get(GENERATION_KEY)
    if generation is None:  # first use, or the shared cache was flushed
        cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        generation = cache.get(GENERATION_KEY)
    with _lock:
        _adopt(generation, now)
    return generation


def get_or_compute(key: Hashable, compute: Callable[[], Any]) -> Any:
    generation = _current_generation()
    with _lock:
        entries = _state["entries"]
        if _state["generation"] == generation and key in entries:
            return entries[key]
    value = compute()
    with _lock:
        if _state["generation"] == generation:
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[key] = value
    return value


def invalidate() -> None:
    generation = uuid.uuid4().hex
    cache.set(GENERATION_KEY, generation, timeout=None)
    with _lock:
        _adopt(generation, time.monotonic())


def invalidate_on_commit(*args, **kwargs) -> None:
    """Signal receiver and plain helper: a new generation once the transaction commits."""
    transaction.on_commit(invalidate, robust=True)


def forget() -> None:
    """Drop this process's entries and re-read the generation on next use (tests)."""
    with _lock:
        _state.update(generation=None, checked_at=float("-inf"), entries={})
