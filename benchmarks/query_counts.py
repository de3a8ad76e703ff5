"""SQL queries per page for a small and a large organization: they must be equal.

    .venv/bin/python benchmarks/query_counts.py

Seeds two organizations (10 and 10,000 org users, bulk-created), each with two
live subscriptions (Documents and Projects; every other user holds a licence of
each), an admin who signs in and an API key, then counts with Django's test
Client the SQL queries of:

- `/dashboard/` ("My subscriptions"), signed in as the org's admin;
- `/licences/` ("Manage licences"), signed in as the org's admin;
- `GET /api/v1/subscriptions/` with `Authorization: Api-Key <key>`.

Each page is requested once to warm up (the API key lookup is then cached, as in
production), then counted. Also prints each page's size and time, for information
only: a count that stays flat can still hide a page that grows with the users.
The two organizations are deleted afterwards.

Same database as licence_check.py: DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/seatmgr_bench) and REDIS_URL (default
redis://127.0.0.1:6379/9). Exits 1 when a count differs between the two sizes.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.licence_check import configure_environment, drop_organization, ensure_database

SIZES = (10, 10_000)
PAGES = (
    ("My subscriptions", "/dashboard/", "session"),
    ("Manage licences", "/licences/", "session"),
    ("API subscriptions list", "/api/v1/subscriptions/", "api_key"),
)


def seed_organization(users: int):
    """A fresh organization of `users` org users. Returns (admin user, raw API key)."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from licensing.models import LicenceAssignment, OrgUser
    from subscriptions import hot_cache
    from subscriptions.models import (
        ApiKey,
        Membership,
        Organization,
        Plan,
        Product,
        Subscription,
        hash_secret,
    )

    slug = f"bench-query-counts-{users}"
    admin_email = f"admin-{users}@bench-qc.example"
    now = timezone.now()
    with transaction.atomic():
        drop_organization(slug)
        User.objects.filter(email=admin_email).delete()
        organization = Organization.objects.create(
            name=f"Query counts {users}", slug=slug, billing_email=admin_email
        )
        admin = User.objects.create_user(email=admin_email, password=None)
        Membership.objects.create(user=admin, organization=organization, role=Membership.Role.ADMIN)
        org_users = OrgUser.objects.bulk_create(
            OrgUser(
                organization=organization,
                name=f"User {i:05d}",
                email=f"user{i:05d}@bench-qc.example",
                status=OrgUser.Status.ACTIVE,
            )
            for i in range(users)
        )
        for code, name in (("documents", "Documents"), ("projects", "Projects")):
            product, _ = Product.objects.get_or_create(code=code, defaults={"name": name})
            plan, _ = Plan.objects.get_or_create(
                code=f"{code}-bench-monthly",
                defaults={
                    "product": product,
                    "name": f"{name} monthly",
                    "interval": Plan.Interval.MONTH,
                    "unit_amount": 1500,
                    "max_seats": max(SIZES),
                },
            )
            subscription = Subscription.objects.create(
                organization=organization,
                plan=plan,
                quantity=users,
                admin_email=admin_email,
                status=Subscription.Status.ACTIVE,
                current_period_start=now - timedelta(days=10),
                current_period_end=now + timedelta(days=20),
                activated_at=now - timedelta(days=10),
            )
            LicenceAssignment.objects.bulk_create(
                LicenceAssignment(organization=organization, subscription=subscription, org_user=org_user)
                for org_user in org_users[::2]
            )
        raw_key = ApiKey.generate_raw()
        ApiKey.objects.create(
            organization=organization,
            name="bench",
            prefix=raw_key[:10],
            key_hash=hash_secret(raw_key),
        )
    hot_cache.invalidate([hot_cache.EVERYTHING])  # bulk_create sends no signals
    return admin, raw_key


def measure(client, path: str) -> tuple[int, int, float]:
    """(SQL queries, response bytes, milliseconds) of one GET, after a warm-up GET."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    warm = client.get(path)
    if warm.status_code != 200:
        raise RuntimeError(f"GET {path} answered {warm.status_code}")
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.get(path)
        elapsed_ms = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}")
    return len(queries), len(response.content), elapsed_ms


def main() -> int:
    configure_environment()
    ensure_database()
    import django
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    django.setup()
    setup_test_environment()  # lets the test Client's "testserver" host in
    call_command("migrate", verbosity=0, interactive=False)

    counts: dict[tuple[str, int], tuple[int, int, float]] = {}
    for size in SIZES:
        admin, raw_key = seed_organization(size)
        session = Client()
        session.force_login(admin)
        clients = {
            "session": session,
            "api_key": Client(headers={"Authorization": f"Api-Key {raw_key}"}),
        }
        try:
            for label, path, auth in PAGES:
                counts[label, size] = measure(clients[auth], path)
        finally:  # leave the database as licence_check.py expects it
            session.logout()
            drop_organization(f"bench-query-counts-{size}")
            admin.delete()

    small, large = SIZES
    print(
        f"| Page | Queries, {small:,} users | Queries, {large:,} users | Equal "
        f"| Size, {small:,} → {large:,} users | Time, {small:,} → {large:,} users |"
    )
    print("|---|---:|---:|---|---|---|")
    equal = True
    for label, path, _ in PAGES:
        (q_small, b_small, ms_small), (q_large, b_large, ms_large) = (
            counts[label, small],
            counts[label, large],
        )
        same = q_small == q_large
        equal &= same
        print(
            f"| {label} (`{path}`) | {q_small} | {q_large} | {'yes' if same else 'NO'} "
            f"| {b_small / 1024:,.1f} KiB → {b_large / 1024:,.1f} KiB "
            f"| {ms_small:,.0f} ms → {ms_large:,.0f} ms |"
        )
    print("\nQuery counts equal for every page." if equal else "\nQuery counts DIFFER.")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
