"""What the outbox costs a seat change, beside today's path, in the same run.

    .venv/bin/python benchmarks/outbox_cost.py [--changes 300] [--side-effects 4]

A seat change's transaction, as `seat_changes.seat_change_apply` writes it for a paid
increase (the subscription locked, its quantity and seats version bumped, an audit
row, a SeatSync row), followed by `--side-effects` side effects (a paid increase has
four: the receipt, the card made default, the Stripe quantity, the push signal), in
two shapes, alternated change by change:

- `on_commit`: before the outbox, each side effect a robust `on_commit` hook that
  publishes a Celery task (`.delay()`) to Redis;
- `outbox`: each side effect an `outbox.enqueue` row written in the transaction, its
  task published to Redis after commit.

The clock runs from the transaction's start until every hook after the commit has
returned (the publishes included): what the request or task that makes the change
waits for. No worker consumes the benchmark's queue (dropped at the end): only the
writing and publishing are measured. Prints p50/p95 in ms and the outbox/on_commit
ratio. Uses the bench database and Redis (benchmarks/README.md); its organization
(slug `bench-outbox`) is replaced on every run.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import billing_common as common

QUEUE = "bench-outbox-cost"
ORG_SLUG = "bench-outbox"


def seed():
    from django.db import transaction
    from django.utils import timezone

    from subscriptions.models import Organization, Plan, Product, Subscription

    now = timezone.now()
    with transaction.atomic():
        Organization.objects.filter(slug=ORG_SLUG).delete()
        product, _ = Product.objects.get_or_create(code="documents", defaults={"name": "Documents"})
        plan, _ = Plan.objects.get_or_create(
            code="documents-bench-outbox-monthly",
            defaults={
                "product": product,
                "name": "Documents monthly",
                "interval": Plan.Interval.MONTH,
                "unit_amount": 1500,
                "max_seats": 1_000_000,
            },
        )
        organization = Organization.objects.create(name="Bench Outbox Ltd", slug=ORG_SLUG)
        return Subscription.objects.create(
            organization=organization,
            plan=plan,
            quantity=1,
            admin_email="admin@bench-outbox.example",
            status=Subscription.Status.ACTIVE,
            current_period_start=now,
            current_period_end=now + timezone.timedelta(days=30),
        )


def one_change(subscription_id: int, side_effects: int, shape: str, n: int) -> float:
    from django.db import transaction
    from django.db.models import F

    import outbox
    from audit.services import audit_record
    from outbox.tasks import run_message
    from subscriptions.models import SeatSync, Subscription

    started = time.perf_counter()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
        Subscription.objects.filter(pk=subscription_id).update(
            quantity=F("quantity") + 1, seats_version=F("seats_version") + 1
        )
        audit_record(action="bench.outbox_cost", organization=subscription.organization, actor_label="bench")
        SeatSync.objects.create(
            organization_id=subscription.organization_id,
            subscription_id=subscription_id,
            quantity=subscription.quantity + 1,
            version=subscription.seats_version + 1,
        )
        for i in range(side_effects):
            if shape == "on_commit":
                transaction.on_commit(lambda: run_message.delay(0, 0), robust=True)
            else:
                outbox.enqueue(
                    "outbox.jobs.send_signal",
                    key=f"bench-outbox:{subscription_id}:{n}:{i}",
                    kind="urgent",
                    signal="subscriptions.signals.renewal_seats_changed",
                    sender="subscriptions.Subscription",
                    signal_kwargs={"subscription_id": subscription_id},
                )
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--side-effects", type=int, default=4)
    args = parser.parse_args()
    common.configure_environment(queue=QUEUE)
    common.prepare_database()

    from outbox.models import OutboxMessage

    busy = common.busy_cpu_percent()
    subscription = seed()
    OutboxMessage.objects.filter(key__startswith="bench-outbox:").delete()
    timings = {"on_commit": [], "outbox": []}
    for n in range(20):  # warm-up
        for shape in timings:
            one_change(subscription.pk, args.side_effects, shape, -n - 1)
    for n in range(args.changes):
        for shape in ("on_commit", "outbox") if n % 2 else ("outbox", "on_commit"):
            timings[shape].append(one_change(subscription.pk, args.side_effects, shape, n))
    OutboxMessage.objects.filter(key__startswith="bench-outbox:").delete()
    common.drop_queue(QUEUE)

    def p(values, q):
        return statistics.quantiles(values, n=100)[q - 1]

    print(f"CPUs {busy:.0f} % busy before the run")
    print(f"{args.changes} seat changes per shape, {args.side_effects} side effects each (ms):")
    for shape, values in timings.items():
        print(f"  {shape:<10} p50 {p(values, 50):6.2f}  p95 {p(values, 95):6.2f}")
    print(
        f"  outbox / on_commit: p50 x{p(timings['outbox'], 50) / p(timings['on_commit'], 50):.2f}, "
        f"p95 x{p(timings['outbox'], 95) / p(timings['on_commit'], 95):.2f}"
    )


if __name__ == "__main__":
    main()
