"""The per-process cache in front of licence checks and API keys, as other processes see it."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache, caches

from subscriptions import hot_cache

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db  # a process holding answers reads the recorded failures


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(hot_cache.time, "monotonic", lambda: now[0])
    return now


ADA, BOB = 101, 202  # two organizations' ids (scopes)


def answer(org: int, value, key: str = "check"):
    return hot_cache.get_or_compute((key, org), lambda: value, organization_id=org)


def another_process_commits(*scopes: int) -> None:
    """What another process's commit leaves in the shared cache (Redis), without this
    process's local view of it."""
    hot_cache.RedisFeed(caches["default"]).write(scopes)


def test_an_answer_is_computed_once_then_served_from_memory(clock):
    calls = []

    def compute():
        calls.append(1)
        return "answer"

    assert hot_cache.get_or_compute("k", compute, organization_id=ADA) == "answer"
    assert hot_cache.get_or_compute("k", compute, organization_id=ADA) == "answer"
    assert len(calls) == 1


def test_a_change_committed_in_this_process_is_seen_at_once(clock):
    answer(ADA, "old")

    hot_cache.invalidate([ADA])

    assert answer(ADA, "new") == "new"


def test_a_tenants_change_leaves_other_tenants_answers_cached(clock):
    answer(ADA, "ada's")
    answer(BOB, "bob's")

    another_process_commits(ADA)
    clock[0] += hot_cache.MAX_STALENESS

    assert answer(BOB, "recomputed") == "bob's"
    assert answer(ADA, "recomputed") == "recomputed"


def test_a_change_committed_in_another_process_is_seen_within_the_staleness_bound(clock):
    answer(ADA, "old")
    another_process_commits(ADA)

    clock[0] += hot_cache.MAX_STALENESS / 2
    assert answer(ADA, "new") == "old"
    clock[0] += hot_cache.MAX_STALENESS
    assert answer(ADA, "new") == "new"


def test_an_answer_computed_across_a_change_of_its_tenant_is_not_kept(clock):
    def compute_while_someone_writes():
        hot_cache.invalidate([ADA])  # a commit lands while the answer is being computed
        return "stale"

    assert hot_cache.get_or_compute("k", compute_while_someone_writes, organization_id=ADA) == "stale"
    assert answer(ADA, "fresh", key="k") == "fresh"


def test_an_answer_whose_tenant_is_known_only_once_computed_follows_that_tenant(clock):
    """The API-key lookup: the key's organization comes out of the lookup."""

    def key_lookup(found: dict):
        return hot_cache.get_or_compute("key", lambda: found, organization_of=lambda value: value["org"])

    key_lookup({"org": ADA, "revoked": False})
    hot_cache.invalidate([BOB])
    assert key_lookup({"org": ADA, "revoked": True})["revoked"] is False

    hot_cache.invalidate([ADA])
    assert key_lookup({"org": ADA, "revoked": True})["revoked"] is True


def test_a_catalogue_change_drops_every_tenants_answers(clock):
    answer(ADA, "old")
    answer(BOB, "old")
    another_process_commits(hot_cache.EVERYTHING)
    clock[0] += hot_cache.MAX_STALENESS

    assert (answer(ADA, "new"), answer(BOB, "new")) == ("new", "new")


def test_a_flushed_shared_cache_drops_every_answer(clock):
    answer(ADA, "old")
    cache.clear()
    another_process_commits(BOB)  # the counter starts again from 1
    clock[0] += hot_cache.MAX_STALENESS

    assert answer(ADA, "new") == "new"


WEB_PROCESS = """if True:
    import itertools, sys
    import django
    django.setup()
    from django.conf import settings
    from django.db import connection
    from subscriptions import hot_cache
    from subscriptions.models import PendingInvalidation
    with connection.schema_editor() as editor:  # the one table the cache reads (migrate is slow)
        editor.create_model(PendingInvalidation)
    print(settings.CACHES["default"]["BACKEND"], flush=True)
    computed = itertools.count()
    for line in sys.stdin:
        print(hot_cache.get_or_compute("licence", lambda: next(computed), organization_id=1), flush=True)
"""
PERIODIC_PROCESS = """if True:
    import django
    django.setup()
    import sys
    from subscriptions import hot_cache
    hot_cache.invalidate([int(sys.argv[1])])
"""


def test_the_embedded_defaults_two_processes_see_each_others_changes(tmp_path):
    """./scripts/run's web server and run_periodic_tasks: no Redis, two processes. A change
    the periodic process commits (it calls invalidate() on commit) reaches the web process's
    answers of that organization within the staleness bound, as it would with Redis, and
    leaves other organizations' answers cached."""
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

        def periodic_process_commits(organization_id: int) -> None:
            subprocess.run(
                [sys.executable, "-c", PERIODIC_PROCESS, str(organization_id)],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=60,
            )
            time.sleep(hot_cache.MAX_STALENESS + 0.1)

        periodic_process_commits(2)
        assert web_answer() == "0", "another organization's change dropped this one's answer"

        periodic_process_commits(1)
        assert web_answer() == "1", "the web process still answers from before the other's change"
    finally:
        web.stdin.close()
        web.wait(timeout=30)


# --- Redis unreachable --------------------------------------------------------------


class OwnRedis:
    """A Redis of this test's own on a free port, to stop and start again (empty)."""

    def __init__(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(settings):
    server = OwnRedis()
    server.start()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url}
    }
    hot_cache.forget()
    yield server
    if server.process.poll() is None:
        server.stop()
    hot_cache.forget()


# A write the way a request makes it, in a process whose Redis is down.
WRITER_PROCESS = """if True:
    import sys
    import django
    django.setup()
    from django.db import transaction
    from licensing.models import OrgUser
    with transaction.atomic():
        OrgUser.objects.create(organization_id=int(sys.argv[1]), name="Ada", email="ada@ada.example")
    from subscriptions.models import PendingInvalidation
    print(sorted(PendingInvalidation.objects.values_list("scope", flat=True)), flush=True)
"""


def test_an_invalidation_that_cannot_reach_redis_is_recorded_and_the_cache_bypassed_until_retried(
    own_redis, clock, transactional_db
):
    from subscriptions.models import PendingInvalidation
    from tests.factories import OrganizationFactory

    ada, bob = OrganizationFactory(), OrganizationFactory()
    computed = {ada.pk: 0, bob.pk: 0}

    def check(org) -> int:
        def compute():
            computed[org.pk] += 1
            return computed[org.pk]

        return hot_cache.get_or_compute(("check", org.pk), compute, organization_id=org.pk)

    def checks_computed(org, times: int = 2) -> int:
        """How many of `times` checks of `org` were computed rather than served from memory."""
        before = computed[org.pk]
        for _ in range(times):
            check(org)
        return computed[org.pk] - before

    assert (checks_computed(ada), checks_computed(bob)) == (1, 1)

    own_redis.stop()
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "REDIS_URL": own_redis.url,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
    }
    writer = subprocess.run(
        [sys.executable, "-c", WRITER_PROCESS, str(ada.pk)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert writer.stdout.strip() == f"[{ada.pk}]", "the write commits; its invalidation is recorded"

    clock[0] += hot_cache.MAX_STALENESS
    assert (checks_computed(ada), checks_computed(bob)) == (2, 2), "Redis unreachable here too: no cache"
    assert hot_cache.pending_invalidations_retry() == 0
    assert PendingInvalidation.objects.get().attempts == 2

    own_redis.start()  # back, empty
    clock[0] += hot_cache.MAX_STALENESS
    assert checks_computed(bob) == 1, "cached again (after one fresh answer)"
    assert checks_computed(ada) == 2, "bypassed while its invalidation is pending"

    assert hot_cache.pending_invalidations_retry() == 1
    assert not PendingInvalidation.objects.exists()
    clock[0] += hot_cache.MAX_STALENESS
    assert checks_computed(ada) == 1
    assert checks_computed(bob) == 0
