"""The per-process cache in front of licence checks and API keys, as other processes see it."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from subscriptions import hot_cache

ROOT = Path(__file__).resolve().parents[2]


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


WEB_PROCESS = """if True:
    import itertools, sys
    import django
    django.setup()
    from django.conf import settings
    from subscriptions import hot_cache
    print(settings.CACHES["default"]["BACKEND"], flush=True)
    computed = itertools.count()
    for line in sys.stdin:
        print(hot_cache.get_or_compute("licence", lambda: next(computed)), flush=True)
"""
PERIODIC_PROCESS = """if True:
    import django
    django.setup()
    from subscriptions import hot_cache
    hot_cache.invalidate()
"""


def test_the_embedded_defaults_two_processes_see_each_others_changes(tmp_path):
    """./scripts/run's web server and run_periodic_tasks: no Redis, two processes. A change
    the periodic process commits (it calls invalidate() on commit) reaches the web process's
    answers within the staleness bound, as it would with Redis."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "seatmgr.settings",
        "DEBUG": "1",
        "SECRET_KEY": "embedded-default-two-processes-" + "x" * 30,
        "SQLITE_PATH": str(tmp_path / "seatmgr.sqlite3"),
        "CACHE_DIR": str(tmp_path / "cache"),
    }
    web = subprocess.Popen(
        [sys.executable, "-c", WEB_PROCESS],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def web_answer() -> str:
        web.stdin.write("check\n")
        web.stdin.flush()
        return web.stdout.readline().strip()

    try:
        assert web.stdout.readline().strip() == "django.core.cache.backends.filebased.FileBasedCache"
        assert web_answer() == "0"
        assert web_answer() == "0", "served from the web process's memory"

        subprocess.run([sys.executable, "-c", PERIODIC_PROCESS], cwd=ROOT, env=env, check=True, timeout=60)
        time.sleep(hot_cache.MAX_STALENESS + 0.1)

        assert web_answer() == "1", "the web process still answers from before the other's change"
    finally:
        web.stdin.close()
        web.wait(timeout=30)
