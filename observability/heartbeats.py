"""Heartbeats of the processes that nothing else watches: each Celery worker (one per
queue it consumes) and beat write one every HEARTBEAT_INTERVAL seconds
(seatmgr/celery.py), and /health/ reports a component whose latest is older than
HEARTBEAT_STALE_AFTER as failing (observability.health).

A heartbeat goes to two places: the shared cache, which /health/ reads in the web
process, and a file in HEARTBEAT_DIR whose age the container's own healthcheck
reads without starting Python (docker-compose.yml).
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

WORKER = "worker"
BEAT = "beat"


def _key(component: str, queue: str = "") -> str:
    return f"heartbeat:{component}:{queue}" if queue else f"heartbeat:{component}"


def record(component: str, *, queues: tuple[str, ...] = ()) -> None:
    """Beat once for `component` (for a worker: for each queue it consumes). A cache or
    disk that fails is logged and the next beat tries again: a heartbeat never stops
    the process it watches."""
    now = time.time()
    try:
        settings.HEARTBEAT_DIR.mkdir(parents=True, exist_ok=True)
        (settings.HEARTBEAT_DIR / component).write_text(f"{now:.0f}\n")
    except OSError:
        logger.warning("Could not write the %s heartbeat file", component, exc_info=True)
    keys = [_key(component, queue) for queue in queues] if queues else [_key(component)]
    try:
        # Kept a little longer than it takes to go stale, so /health/ can say how stale.
        cache.set_many(dict.fromkeys(keys, now), timeout=settings.HEARTBEAT_STALE_AFTER * 10)
    except Exception:
        logger.warning("Could not write the %s heartbeat to the cache", component, exc_info=True)


def ages(component: str, *, queues: tuple[str, ...] = ()) -> dict[str, float | None]:
    """Seconds since the latest heartbeat of `component` (per queue for a worker); None
    for one never seen (or so long ago that the cache dropped it)."""
    keys = {(queue or component): _key(component, queue) for queue in (queues or ("",))}
    found = cache.get_many(list(keys.values()))
    now = time.time()
    return {name: (now - found[key]) if key in found else None for name, key in keys.items()}
