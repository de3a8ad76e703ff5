"""Usage: python seatmgr/healthcheck.py web|worker|beat

The containers' healthchecks (docker-compose.yml): exits 0 when this container's
process is healthy. Run by its path, not as `-m seatmgr.healthcheck`: standard library
only, without importing the project (nor Django, nor Celery), since it runs every few
seconds.

web     GET /health/ of the gunicorn in this container (HEALTHCHECK_URL, default
        http://127.0.0.1:8000/health/), as the TLS proxy would send it (Host: the first
        of ALLOWED_HOSTS, X-Forwarded-Proto: https); healthy when it answers and its
        own parts, the database and the cache, are "ok" (a stopped worker is the
        worker's failure, not web's).
worker  the worker's heartbeat file (HEARTBEAT_DIR, default var/heartbeat/) is younger
beat    than HEARTBEAT_STALE_AFTER seconds (default 4 x HEARTBEAT_INTERVAL, 15 s).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def web() -> str | None:
    url = os.environ.get("HEALTHCHECK_URL", "http://127.0.0.1:8000/health/")
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost").split(",") if h.strip()]
    host = next((h.lstrip(".") for h in hosts if h != "*"), "localhost")
    request = urllib.request.Request(url, headers={"Host": host, "X-Forwarded-Proto": "https"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own URL
            body = response.read()
    except urllib.error.HTTPError as error:  # 503: something failed; maybe not web's parts
        body = error.read()
    except OSError as error:
        return f"web does not answer {url}: {error}"
    try:
        checks = json.loads(body)["checks"]
    except (ValueError, KeyError, TypeError):
        return f"{url} did not answer the health JSON: {body[:200]!r}"
    failing = [name for name in ("database", "cache") if checks.get(name) != "ok"]
    return f"failing: {', '.join(failing)}" if failing else None


def heartbeat(component: str) -> str | None:
    directory = Path(os.environ.get("HEARTBEAT_DIR") or ROOT / "var" / "heartbeat")
    interval = int(os.environ.get("HEARTBEAT_INTERVAL") or 15)
    stale_after = int(os.environ.get("HEARTBEAT_STALE_AFTER") or 4 * interval)
    try:
        age = time.time() - (directory / component).stat().st_mtime
    except OSError:
        return f"no {component} heartbeat in {directory}"
    return f"the {component} heartbeat is {age:.0f} s old" if age > stale_after else None


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"web", "worker", "beat"}:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    problem = web() if argv[0] == "web" else heartbeat(argv[0])
    if problem:
        print(problem, file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
