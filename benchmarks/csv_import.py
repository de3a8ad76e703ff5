"""How long importing org users from a CSV takes: 10,000 lines, planned (the preview)
and applied (one transaction), then the same file again (nothing to change).

    .venv/bin/python benchmarks/csv_import.py [--rows 10000]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/seatmgr_bench, migrated
first) and its own organization (slug bench-csv-import), replaced on every run.
"""

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/seatmgr_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("SECRET_KEY", "benchmark-only")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from licensing import imports  # noqa: E402
from licensing.models import LicenceAssignment, OrgUser, UserImport  # noqa: E402
from subscriptions.models import Organization, Plan, Product, Subscription  # noqa: E402

SLUG = "bench-csv-import"


def seed(rows: int) -> Organization:
    Organization.objects.filter(slug=SLUG).delete()
    organization = Organization.objects.create(name="Bench CSV", slug=SLUG, billing_email="b@bench.example")
    product, _ = Product.objects.get_or_create(code="documents", defaults={"name": "Documents"})
    plan, _ = Plan.objects.get_or_create(
        code="documents-monthly",
        defaults={"product": product, "name": "Documents Monthly", "interval": "month", "unit_amount": 1500},
    )
    now = timezone.now()
    Subscription.objects.create(
        organization=organization,
        plan=plan,
        quantity=rows,
        admin_email="b@bench.example",
        status=Subscription.Status.ACTIVE,
        current_period_start=now - timedelta(days=1),
        current_period_end=now + timedelta(days=29),
    )
    return organization


def csv_text(rows: int) -> str:
    lines = ["name,email,status,products"]
    for n in range(rows):
        status, products = ("Active", "documents") if n % 2 == 0 else ("Inactive", "")
        lines.append(f"User {n},user{n}@bench.example,{status},{products}")
    return "\n".join(lines) + "\n"


def timed(label: str, action):
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    print(f"| {label} | {elapsed:.2f} |")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    rows = parser.parse_args().rows
    call_command("migrate", verbosity=0)
    organization = seed(rows)
    text = csv_text(rows)
    print(f"{rows:,} lines, {len(text.encode()) / 1024:.0f} KiB\n")
    print("| Step | Seconds |\n|---|---:|")
    plan = timed("plan (the preview)", lambda: imports.plan_import(organization=organization, text=text))
    assert plan.ok, plan.problems[:3]
    first = UserImport.objects.create(organization=organization, filename="b.csv", content=text)
    summary = timed("apply (one transaction)", lambda: imports.user_import_apply(user_import=first))
    again = UserImport.objects.create(organization=organization, filename="b.csv", content=text)
    repeat = timed("apply the same file again", lambda: imports.user_import_apply(user_import=again))
    print(f"\nfirst: {summary}; again: {repeat}")
    assert OrgUser.objects.filter(organization=organization).count() == rows
    assert LicenceAssignment.objects.filter(organization=organization).count() == (rows + 1) // 2
    Organization.objects.filter(slug=SLUG).delete()


if __name__ == "__main__":
    main()
