"""The per-process cache in front of licence checks and API keys, as other processes see it."""

import pytest
from django.core.cache import cache

from subscriptions import hot_cache


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(hot_cache.time, "monotonic", lambda: now[0])
    return now


def test_an_answer_is_computed_once_then_served_from_memory(clock):
    calls = []

    def compute():
        calls.append(1)
        return "answer"

    assert hot_cache.get_or_compute("k", compute) == "answer"
    assert hot_cache.get_or_compute("k", compute) == "answer"
    assert len(calls) == 1


def test_a_change_committed_in_this_process_is_seen_at_once(clock):
    hot_cache.get_or_compute("k", lambda: "old")

    hot_cache.invalidate()

    assert hot_cache.get_or_compute("k", lambda: "new") == "new"


def test_a_change_committed_in_another_process_is_seen_within_the_staleness_bound(clock):
    hot_cache.get_or_compute("k", lambda: "old")
    cache.set(hot_cache.GENERATION_KEY, "written-by-another-process", timeout=None)

    clock[0] += hot_cache.MAX_STALENESS / 2
    assert hot_cache.get_or_compute("k", lambda: "new") == "old"
    clock[0] += hot_cache.MAX_STALENESS
    assert hot_cache.get_or_compute("k", lambda: "new") == "new"


def test_an_answer_computed_across_a_change_is_not_kept(clock):
    def compute_while_someone_writes():
        hot_cache.invalidate()  # a commit lands while the answer is being computed
        return "stale"

    assert hot_cache.get_or_compute("k", compute_while_someone_writes) == "stale"
    assert hot_cache.get_or_compute("k", lambda: "fresh") == "fresh"


def test_a_flushed_shared_cache_starts_a_new_generation(clock):
    hot_cache.get_or_compute("k", lambda: "old")
    cache.clear()
    clock[0] += hot_cache.MAX_STALENESS

    assert hot_cache.get_or_compute("k", lambda: "new") == "new"
