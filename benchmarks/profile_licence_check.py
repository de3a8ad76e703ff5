"""Where a licence check spends its time, in one process, without HTTP.

    .venv/bin/python benchmarks/profile_licence_check.py [--requests 5000] [--top 25]

Same database, seed and settings as `licence_check.py`. Calls Django's WSGI
handler directly (no gunicorn, no sockets, no wrk on the same cores), so the
numbers are CPU time of the application alone:

1. microseconds per request for `/bench/bare/` and for the licence check (a cache
   hit), best of 5 batches, and the difference;
2. how many Redis commands and SQL queries one check makes, and what one Redis
   GET costs; the same check for a never-asked email (a cache miss), and the plan
   PostgreSQL picks for its query, next to the same query scoped to the tenant's
   `(organization_id, lower(email))` index;
3. a cProfile of the check, the functions with the most own time, and the
   cumulative time of the layers the request goes through.
"""

import argparse
import cProfile
import io
import itertools
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.licence_check import (
    BARE_PATH,
    CHECK_PATH,
    PRODUCT,
    configure_environment,
    ensure_database,
    seed,
)


def environ_for(path: str, query: str = "", headers: dict | None = None) -> dict:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1:8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per batch")
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    parser.add_argument("--other-users", type=int, default=0, help="org users of another tenant (default 0)")
    args = parser.parse_args()

    configure_environment()
    ensure_database()
    import django
    import redis
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.db.models.functions import Lower
    from django.test.utils import CaptureQueriesContext

    django.setup()
    from licensing.models import LicenceAssignment, OrgUser
    from subscriptions.models import ApiKey, Subscription, hash_secret

    call_command("migrate", verbosity=0, interactive=False)
    raw_key, licensed_email, _ = seed(args.other_users)
    application = get_wsgi_application()
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    bare = environ_for(BARE_PATH)
    check = environ_for(
        CHECK_PATH,
        f"product={PRODUCT}&email={licensed_email}",
        {"Authorization": f"Api-Key {raw_key}"},
    )

    def call(environ: dict) -> bytes:
        response = application(dict(environ), start_response)
        try:
            return b"".join(response)
        finally:
            response.close()

    for environ in (bare, check):
        body = call(environ)
        assert statuses[-1].startswith("200"), (statuses[-1], body)
    assert b"true" in call(check)

    def per_request_us(environ: dict) -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(args.requests):
                call(environ)
            best = min(best, (time.perf_counter() - start) / args.requests)
        return best * 1e6

    for _ in range(500):
        call(bare), call(check)
    bare_us, check_us = per_request_us(bare), per_request_us(check)
    print(f"\n{args.requests} requests per batch, best of 5, in-process (no HTTP):")
    print(f"  bare view     {bare_us:7.1f} µs/request  ({1e6 / bare_us:,.0f}/s on one core)")
    print(f"  licence check {check_us:7.1f} µs/request  ({1e6 / check_us:,.0f}/s on one core)")
    print(f"  difference    {check_us - bare_us:7.1f} µs; ratio {bare_us / check_us:.2f}")

    # URL resolving: the bare view is the URLconf's first pattern, the check comes after
    # every app's URLs.
    from django.urls import get_resolver, resolve

    for label, path in (("bare view", BARE_PATH), ("licence check", CHECK_PATH)):
        tried = len(get_resolver().resolve(path).tried or [])
        start = time.perf_counter()
        for _ in range(args.requests):
            resolve(path)
        resolve_us = (time.perf_counter() - start) / args.requests * 1e6
        print(f"  resolving the URL of the {label}: {resolve_us:.1f} µs ({tried} patterns tried)")

    # Redis commands and SQL queries made by one (hit) check, whichever client sends them.
    commands = []
    execute_command = redis.Redis.execute_command

    def counting_execute_command(self, *command, **options):
        commands.append(" ".join(str(part) for part in command[:2]))
        return execute_command(self, *command, **options)

    redis.Redis.execute_command = counting_execute_command
    try:
        with CaptureQueriesContext(connection) as queries:
            call(check)
    finally:
        redis.Redis.execute_command = execute_command
    print(f"  one check (hit): Redis commands {commands}, {len(queries)} SQL queries")

    # One Redis GET: a long-lived client, and Django's cache (a new client per call).
    client = redis.Redis.from_url(settings.REDIS_URL)
    cache.set("bench-probe", "x")
    for label, get in (
        ("redis-py, one long-lived client", lambda: client.get("bench-probe")),
        ("Django's cache.get (new client per call)", lambda: cache.get("bench-probe")),
    ):
        start = time.perf_counter()
        for _ in range(args.requests):
            get()
        print(f"  one Redis GET, {label}: {(time.perf_counter() - start) / args.requests * 1e6:.1f} µs")

    # The miss path: an email never asked before on every request.
    emails = (f"nobody-{i}-{time.monotonic_ns()}%40bench.example" for i in itertools.count())
    auth = {"Authorization": f"Api-Key {raw_key}"}

    def miss() -> dict:
        return environ_for(CHECK_PATH, f"product={PRODUCT}&email={next(emails)}", auth)

    misses = min(args.requests, 2000)
    start = time.perf_counter()
    for _ in range(misses):
        call(miss())
    miss_us = (time.perf_counter() - start) / misses * 1e6
    with CaptureQueriesContext(connection) as miss_queries:
        call(miss())
    org_users = OrgUser.objects.count()
    print(
        f"  licence check, miss: {miss_us:.1f} µs/request, {len(miss_queries)} SQL queries "
        f"({org_users:,} org users in the database, all tenants)"
    )
    organization_id = ApiKey.objects.get(key_hash=hash_secret(raw_key)).organization_id
    scoped = (
        LicenceAssignment.objects.alias(email_lower=Lower("org_user__email"))
        .filter(
            organization_id=organization_id,
            org_user__organization_id=organization_id,
            email_lower="nobody@bench.example",
            subscription__plan__product__code=PRODUCT,
            subscription__status__in=(Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE),
        )
        .values("pk")[:1]
    )
    for label, (sql, params) in (
        ("the miss query as the app runs it", (miss_queries.captured_queries[-1]["sql"], None)),
        ("the same, scoped to (organization_id, lower(email))", scoped.query.sql_with_params()),
    ):
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params)
            plan = [row[0] for row in cursor.fetchall()]
        orguser_scan = next((line.strip() for line in plan if "licensing_orguser" in line), "?")
        timings = ", ".join(line.strip() for line in plan if line.startswith(("Planning", "Execution")))
        print(f"  {label}:\n    {orguser_scan.lstrip('-> ')}; {timings}")

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        call(check)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt

    def cumulative(fragment: str) -> float:
        rows = [(func, row) for func, row in stats.stats.items() if fragment in f"{func[0]}:{func[2]}"]
        return max((row[3] for _, row in rows), default=0.0)

    each_us = total / args.requests * 1e6
    print(f"\ncProfile of {args.requests} checks ({each_us:.0f} µs each under cProfile):")
    # Layers of the check, old shape (through DRF) and new (answered before DRF);
    # only those this version of the app goes through are printed.
    layers = [
        ("whole request (WSGIHandler.__call__)", "handlers/wsgi.py:__call__"),
        ("URL resolving", "urls/resolvers.py:resolve"),
        ("the check view's dispatch", "licensing/api.py:dispatch"),
        ("DRF APIView.dispatch", "rest_framework/views.py:dispatch"),
        ("API-key authentication", "api_auth.py:authenticate"),
        ("sha256 of the key (hash_secret)", "models.py:hash_secret"),
        ("is_licensed", "selectors.py:is_licensed"),
        ("DRF response rendering", "rest_framework/response.py:rendered_content"),
        ("hot_cache.get_or_compute", "hot_cache.py:get_or_compute"),
        ("hot_cache generation read", "hot_cache.py:_read_generation"),
        ("Django cache.get", "backends/redis.py:get"),
        ("redis-py, all commands", "redis/client.py:execute_command"),
        ("  socket sendall (Redis)", "'sendall' of '_socket.socket'"),
        ("  socket recv (waiting for Redis)", "'recv' of '_socket.socket'"),
        ("  new redis.Redis client per call", "redis/client.py:__init__"),
    ]
    for label, fragment in layers:
        share = cumulative(fragment) / total * 100
        if share:
            print(f"  {label:44} {share:5.1f} %")

    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
    print("\nMost own time:")
    print("\n".join(out.getvalue().splitlines()[6:]))

    return 0


if __name__ == "__main__":
    sys.exit(main())
