"""A per-process cache for the hot read paths (API-key lookup, licence checks) that
stays correct across processes, within a bound, and per tenant.

Every entry belongs to one *scope*: an organization (its licence checks, its API
keys) or `SHARED` (the catalogue's product codes, keys that match no organization).
Any write that could change an answer (licences, org users, subscriptions, API keys,
organizations) invalidates its organization's scope when its transaction commits,
in the writing process at once and in the shared cache for the others; a product
write invalidates everything (every licence check names a product). One tenant's
writes leave every other tenant's answers in place.

The shared cache is Redis in production (the settings refuse DEBUG=0 without it),
files under var/cache/ in the embedded default, whose web server and periodic-task
process share them. A cache of one process (locmem) would break the promise below.
Other processes learn which scopes changed at most every `MAX_STALENESS` seconds, in
one round trip whatever the number of organizations:

- on Redis, a sorted set of scopes scored by a change counter: a process reads the
  scopes changed since the counter it last saw (`ZRANGEBYSCORE`, with the counter and
  the set's *epoch*, which a flushed Redis loses, in one Lua script);
- elsewhere, one generation key per scope (`get_many` of the scopes it holds).

So:

- in the process that made a change, the next answer already reflects it;
- in every other process, answers are at most `MAX_STALENESS` (0.2 s) older than the
  last commit: a revoked API key or a removed licence stops working within that time;
- a request usually costs no database query and no network round trip.

An entry is stored only if its scope did not change while it was computed, so an
answer computed from data older than a write never outlives that write.

An invalidation that cannot reach the shared cache is recorded (a
`PendingInvalidation` row) and retried by a periodic task. Until it has gone
through, every process bypasses the cache for that organization (each reads the
table, usually empty, at most every `MAX_STALENESS` while it holds entries), and a
process that cannot read the shared cache bypasses it altogether: a stale licence
answer is worse than a slow one.
"""

import contextlib
import logging
import operator
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterable
from functools import reduce
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import DatabaseError, transaction
from django.db.models import F, Q

logger = logging.getLogger(__name__)

SHARED = 0  # the scope of entries that belong to no organization
EVERYTHING = -1  # invalidates every scope
MAX_STALENESS = 0.2  # seconds
MAX_ENTRIES = 50_000
# More recorded failures than this and every scope is bypassed (one query still reads them).
MAX_PENDING_SCOPES = 1_000

Scope = int


# --- How processes learn of each other's changes ------------------------------------


class RedisFeed:
    """Changes as a sorted set (scope → the counter's value at its last change), the
    counter, and an epoch that changes when Redis loses them."""

    READ = """
    redis.call('SET', KEYS[1], ARGV[1], 'NX')
    local epoch = redis.call('GET', KEYS[1])
    local counter = tonumber(redis.call('GET', KEYS[2]) or '0')
    if ARGV[2] == '' then return {epoch, counter, {}} end
    return {epoch, counter, redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf')}
    """
    WRITE = """
    redis.call('SET', KEYS[1], ARGV[1], 'NX')
    local counter = redis.call('INCR', KEYS[2])
    for i = 2, #ARGV do redis.call('ZADD', KEYS[3], counter, ARGV[i]) end
    return {redis.call('GET', KEYS[1]), counter}
    """

    def __init__(self, backend: RedisCache):
        self.keys = [backend.make_key(f"hot-cache:{name}") for name in ("epoch", "counter", "changes")]
        client = backend._cache.get_client(write=True)  # Django's pooled redis-py client
        self._scripts = (client.register_script(self.READ), client.register_script(self.WRITE))

    def _script(self, which: int):
        return self._scripts[which]

    def read(self, since: int | None) -> tuple[str, int, list[Scope]]:
        """(epoch, counter, scopes changed after `since`); no scopes when `since` is None."""
        epoch, counter, changed = self._script(0)(
            keys=self.keys, args=[uuid.uuid4().hex, "" if since is None else since]
        )
        return epoch.decode(), int(counter), [int(scope) for scope in changed]

    def write(self, scopes: Iterable[Scope]) -> tuple[str, int]:
        epoch, counter = self._script(1)(keys=self.keys, args=[uuid.uuid4().hex, *scopes])
        return epoch.decode(), int(counter)


def _generation_key(scope: Scope) -> str:
    return f"hot-cache:generation:{'*' if scope == EVERYTHING else scope}"


# --- The process's state ------------------------------------------------------------

_lock = threading.Lock()


class _State:
    def __init__(self):
        self.entries: dict[Hashable, tuple[Scope, Any]] = {}
        self.keys_by_scope: dict[Scope, set[Hashable]] = {}
        self.tick = 0  # counts the changes this process has learned of
        self.changed_at: dict[Scope, int] = {}  # scope → tick of its last change here
        self.flushed_at = 0  # tick of the last "everything changed"
        self.checked_at = float("-inf")
        # Redis: the epoch and the counter seen last. Elsewhere: each known scope's
        # generation (a scope not known yet counts as changed now).
        self.epoch: str | None = None
        self.counter: int | None = None
        self.generations: dict[Scope, str] = {}
        self.unreachable = False  # the shared cache could not be read at the last check
        self.pending: frozenset[Scope] = frozenset()  # scopes whose invalidation failed

    def bump(self) -> int:
        self.tick += 1
        return self.tick

    def drop(self, scope: Scope) -> None:
        for key in self.keys_by_scope.pop(scope, ()):
            self.entries.pop(key, None)
        self.changed_at[scope] = self.bump()

    def flush(self) -> None:
        self.entries, self.keys_by_scope, self.changed_at = {}, {}, {}
        self.generations = {}
        self.flushed_at = self.bump()

    def bypassed(self, scope: Scope) -> bool:
        return self.unreachable or EVERYTHING in self.pending or scope in self.pending

    def storable(self, scope: Scope, since: int, *, by_keys: bool) -> bool:
        """Whether an answer for `scope` computed from tick `since` on can be kept."""
        if self.bypassed(scope) or self.flushed_at > since:
            return False
        if by_keys and scope not in self.generations:
            return False  # its generation is learned now; the next answer is kept
        return self.changed_at.get(scope, self.flushed_at) <= since


_state = _State()
_feeds: dict[int, RedisFeed | None] = {}


def _feed_now() -> RedisFeed | None:
    """The Redis feed of the default cache, or None for any other backend."""
    backend = caches["default"]  # per thread; `cache` is a proxy, not the backend
    try:
        return _feeds[id(backend)]
    except KeyError:
        feed = RedisFeed(backend) if isinstance(backend, RedisCache) else None
        if len(_feeds) > 100:  # backends of finished threads, or of overridden settings
            _feeds.clear()
        _feeds[id(backend)] = feed
        return feed


def _refresh_from_redis(feed: RedisFeed) -> None:
    epoch, counter, changed = feed.read(_state.counter if _state.epoch else None)
    with _lock:
        if _state.unreachable or epoch != _state.epoch or counter < (_state.counter or 0):
            _state.flush()  # Redis was unreachable, lost its data, or this is the first read
        else:
            for scope in changed:
                if scope == EVERYTHING:
                    _state.flush()
                    break
                _state.drop(scope)
        _state.epoch, _state.counter = epoch, counter


def _refresh_from_keys() -> None:
    with _lock:
        scopes = [EVERYTHING, *_state.generations]
    found = cache.get_many([_generation_key(scope) for scope in scopes])
    with _lock:
        if _state.unreachable:
            _state.flush()
            return
        for scope in scopes:
            value = found.get(_generation_key(scope))
            if scope == EVERYTHING:
                if value != _state.generations.get(EVERYTHING):
                    _state.flush()
                    _state.generations[EVERYTHING] = value
                    break
            elif value != _state.generations.get(scope):
                _state.drop(scope)
                _state.generations.pop(scope, None)  # learned again on next use


def _learn(scope: Scope) -> None:
    """Without Redis: this process's first look at `scope`'s generation."""
    key = _generation_key(scope)
    generation = cache.get(key)
    if generation is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        generation = cache.get(key)
    with _lock:
        _state.drop(scope)
        _state.generations[scope] = generation


def _pending_scopes() -> frozenset[Scope]:
    from .models import PendingInvalidation

    try:
        scopes = list(PendingInvalidation.objects.values_list("scope", flat=True)[: MAX_PENDING_SCOPES + 1])
    except DatabaseError:
        return frozenset([EVERYTHING])
    return frozenset([EVERYTHING] if len(scopes) > MAX_PENDING_SCOPES else scopes)


def _refresh() -> None:
    """Every MAX_STALENESS: learn of other processes' changes, and of recorded failures."""
    now = time.monotonic()
    with _lock:
        if now - _state.checked_at < MAX_STALENESS:
            return
        _state.checked_at = now
        holds_entries = bool(_state.entries)
    try:
        feed = _feed_now()
        _refresh_from_redis(feed) if feed is not None else _refresh_from_keys()
        unreachable = False
    except Exception:  # any failure of the shared cache means: bypass it
        logger.warning("hot cache: the shared cache is unreachable; answering without the cache")
        unreachable = True
    # Recorded failures matter only to entries this process holds: an answer computed
    # now already reflects every committed write.
    pending = _pending_scopes() if holds_entries else frozenset()
    with _lock:
        _state.unreachable = unreachable
        _state.pending = pending


def get_or_compute(
    key: Hashable,
    compute: Callable[[], Any],
    *,
    organization_id: Scope | None = None,
    organization_of: Callable[[Any], Scope | None] | None = None,
) -> Any:
    """The cached answer for `key`, or `compute()`'s. The answer belongs to
    `organization_id`, or to `organization_of(answer)`'s (an API key's organization,
    known once it is looked up); None means `SHARED`."""
    _refresh()
    by_keys = _feed_now() is None
    scope = SHARED if organization_id is None else organization_id
    if by_keys and organization_of is None:
        with _lock:
            known = scope in _state.generations
        if not known:
            try:
                _learn(scope)
            except Exception:  # the shared cache is unreachable: answer without it
                return compute()
    with _lock:
        found = _state.entries.get(key)
        if found is not None and not _state.bypassed(found[0]):
            return found[1]
        since = _state.tick
    value = compute()
    if organization_of is not None:
        owner = organization_of(value)
        scope = SHARED if owner is None else owner
        if by_keys:
            with _lock:
                known = scope in _state.generations
            if not known:
                with contextlib.suppress(Exception):  # unreachable: learned next time
                    _learn(scope)
                return value
    with _lock:
        if _state.storable(scope, since, by_keys=by_keys):
            if len(_state.entries) >= MAX_ENTRIES:
                _state.entries, _state.keys_by_scope = {}, {}
            _state.entries[key] = (scope, value)
            _state.keys_by_scope.setdefault(scope, set()).add(key)
    return value


# --- Invalidation ---------------------------------------------------------------------


def invalidate(scopes: Iterable[Scope] = (EVERYTHING,)) -> None:
    """Drop `scopes`' answers here at once, and tell the other processes (by default:
    every answer). Raises when the shared cache cannot be reached
    (`invalidate_or_record` records the failure)."""
    scopes = sorted(set(scopes))
    if not scopes:
        return
    with _lock:
        if EVERYTHING in scopes:
            _state.flush()
        else:
            for scope in scopes:
                _state.drop(scope)
    feed = _feed_now()
    if feed is not None:
        epoch, counter = feed.write(scopes)
        with _lock:
            if epoch != _state.epoch:  # Redis lost its data: other changes may be lost too
                _state.flush()
                _state.epoch, _state.counter = epoch, counter
        return
    generations = {scope: uuid.uuid4().hex for scope in scopes}
    cache.set_many({_generation_key(scope): value for scope, value in generations.items()}, timeout=None)
    with _lock:
        _state.generations.update(generations)


def invalidate_or_record(scopes: Iterable[Scope]) -> bool:
    """`invalidate`, or, when the shared cache cannot be reached, a `PendingInvalidation`
    per scope for the periodic retry (the cache is bypassed for them until then).
    True when the invalidation went through."""
    from .models import PendingInvalidation

    scopes = sorted(set(scopes))
    try:
        invalidate(scopes)
        return True
    except Exception as error:  # whatever the cache raised, record it
        logger.warning("hot cache: invalidation of %s failed (%r); recorded for retry", scopes, error)
        PendingInvalidation.record(scopes, error=repr(error))
        with _lock:
            _state.pending = _state.pending | frozenset(scopes)
        return False


_on_commit = threading.local()


def _invalidate_collected() -> None:
    scopes = getattr(_on_commit, "scopes", None)
    if scopes:
        _on_commit.scopes = set()
        invalidate_or_record(scopes)


def invalidate_on_commit(scope: Scope = EVERYTHING, **signal_arguments) -> None:
    """Invalidate `scope` (an organization's id, `SHARED` or, by default, `EVERYTHING`)
    once the transaction commits (as a signal receiver: everything). The scopes of one
    transaction go in one round trip: each commit's callback sends whatever was
    collected so far (a scope collected in a rolled-back savepoint goes with the next
    one: one invalidation too many, never one too few)."""
    if not hasattr(_on_commit, "scopes"):
        _on_commit.scopes = set()
    _on_commit.scopes.add(scope)
    transaction.on_commit(_invalidate_collected, robust=True)


def organization_changed(sender, instance, **kwargs) -> None:
    """Signal receiver for rows that carry `organization_id`, and for organizations."""
    from .models import Organization

    invalidate_on_commit(instance.pk if isinstance(instance, Organization) else instance.organization_id)


def api_key_changed(sender, instance, created: bool = False, **kwargs) -> None:
    """A new key may be one an earlier lookup found unknown (answered in `SHARED`)."""
    invalidate_on_commit(instance.organization_id)
    if created:
        invalidate_on_commit(SHARED)


def everything_changed(sender=None, **kwargs) -> None:
    """Signal receiver for catalogue rows (products), which every licence check reads."""
    invalidate_on_commit(EVERYTHING)


def pending_invalidations_retry(*, batch_size: int = 500) -> int:
    """Send the recorded invalidations again, a batch at a time in the order they were
    recorded; returns how many went through. A row goes once its invalidation has (the
    cache stays bypassed for its scope until then), and only if no newer failure was
    recorded for it meanwhile. Stops at the first batch that fails again."""
    from .models import PendingInvalidation

    done, after = 0, 0
    while True:
        rows = list(
            PendingInvalidation.objects.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "scope", "failed_at")[:batch_size]
        )
        if not rows:
            return done
        try:
            invalidate(scope for _, scope, _ in rows)
        except Exception as error:  # still unreachable: try again next run
            PendingInvalidation.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
                attempts=F("attempts") + 1, last_error=repr(error)[:500]
            )
            return done
        done += PendingInvalidation.objects.filter(
            reduce(operator.or_, (Q(pk=pk, failed_at=failed_at) for pk, _, failed_at in rows))
        ).delete()[0]
        after = rows[-1][0]


def forget() -> None:
    """Drop this process's entries and re-read the shared state on next use (tests)."""
    global _state
    with _lock:
        _state = _State()
        _feeds.clear()
