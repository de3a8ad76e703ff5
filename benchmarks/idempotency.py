"""What an `Idempotency-Key` costs a POST, in process, on PostgreSQL.

    .venv/bin/python benchmarks/idempotency.py [--requests 300] [--rounds 3]

Seeds one organization (a live Documents subscription, one API key) and sends, in
turn, `--requests` `POST /api/v1/users/` (a new user each, with a Documents licence)
through Django's test client (no HTTP server: the difference is the layer's own):

- `no key`: without `Idempotency-Key`;
- `new key`: with a new key each (insert the key, lock it, store the answer);
- `replay`: the same requests again with their keys (answered from the stored answer).

The three alternate `--rounds` times. Prints p50/p95 in ms and the ratio to `no key`.
DATABASE_URL and REDIS_URL as for `licence_check.py` (loopback only).
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta

from licence_check import ROOT, configure_environment, drop_organization, ensure_database

ORG_SLUG = "bench-idempotency"


def seed() -> str:
    from django.db import transaction
    from django.utils import timezone

    from licensing.models import IdempotencyKey
    from subscriptions.models import ApiKey, Organization, Plan, Product, Subscription, hash_secret

    with transaction.atomic():
        for key in ApiKey.objects.filter(organization__slug=ORG_SLUG):
            IdempotencyKey.objects.filter(scope=f"key:{key.pk}").delete()
        drop_organization(ORG_SLUG)
        product, _ = Product.objects.get_or_create(code="documents", defaults={"name": "Documents"})
        plan, _ = Plan.objects.get_or_create(
            code="documents-bench-idempotency",
            defaults={
                "product": product,
                "name": "Documents",
                "interval": "month",
                "unit_amount": 1500,
                "max_seats": 1_000_000,
            },
        )
        organization = Organization.objects.create(
            name="Bench Idempotency", slug=ORG_SLUG, billing_email="billing@bench.example"
        )
        now = timezone.now()
        Subscription.objects.create(
            organization=organization,
            plan=plan,
            quantity=1_000_000,
            admin_email="admin@bench.example",
            status=Subscription.Status.ACTIVE,
            current_period_start=now,
            current_period_end=now + timedelta(days=30),
            activated_at=now,
        )
        raw = ApiKey.generate_raw()
        ApiKey.objects.create(
            organization=organization, name="bench", prefix=raw[:10], key_hash=hash_secret(raw)
        )
    return raw


def new_users(tag: str, round_: int, count: int) -> list[dict]:
    return [
        {"name": f"User {tag} {i}", "email": f"{tag}-{round_}-{i}@bench.example", "products": ["documents"]}
        for i in range(count)
    ]


def timed(client, bodies, keys) -> list[float]:
    times = []
    for body, key in zip(bodies, keys, strict=True):
        headers = {"Idempotency-Key": key} if key else {}
        started = time.perf_counter()
        response = client.post("/api/v1/users/", body, content_type="application/json", headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 201:
            raise RuntimeError(f"POST answered {response.status_code}: {response.content[:200]!r}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_environment()
    ensure_database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client, override_settings

    call_command("migrate", verbosity=0, interactive=False)
    raw_key = seed()
    client = Client(SERVER_NAME="localhost", headers={"Authorization": f"Api-Key {raw_key}"})
    # The API's rate limit would refuse most of these requests: out of reach here.
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api": "100000000/min"}
    override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}).enable()
    results: dict[str, list[float]] = {"no key": [], "new key": [], "replay": []}
    for round_ in range(args.rounds):
        results["no key"] += timed(client, new_users("plain", round_, args.requests), [None] * args.requests)
        keyed = new_users("keyed", round_, args.requests)
        keys = [uuid.uuid4().hex for _ in keyed]
        results["new key"] += timed(client, keyed, keys)
        results["replay"] += timed(client, keyed, keys)
    print(f"{args.rounds} rounds of {args.requests} POST /api/v1/users/ each, in process, PostgreSQL\n")
    print("| Request | p50 (ms) | p95 (ms) | p50 ratio to no key |")
    print("|---|---:|---:|---:|")
    base = statistics.median(results["no key"])
    for name, times in results.items():
        p50, p95 = statistics.median(times), statistics.quantiles(times, n=20)[-1]
        print(f"| {name} | {p50:.2f} | {p95:.2f} | {p50 / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    sys.exit(main())
