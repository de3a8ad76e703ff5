"""Time from "signed" to "applying" for an increase paid with the card on file.

    .venv/bin/python benchmarks/billing_signed_to_applying.py [--changes 30]

For each of `--changes` increases of one subscription whose Stripe customer has a
card on file (a PaymentMethod saved through a SetupIntent, then made the customer's
default), the script opens the change (its
agreement rendered), then does what the sign view does through
`portal.services.seat_change_sign`, in its two steps: `agreement_sign` (the signed
PDF rendered and stored, the change `awaiting_payment`, committed: the clock starts)
and `payment_card_on_file_queue` (the payment claimed and its charge queued on
commit). A second thread, on its own database connection, watches the change's state
and stops the clock when it first reads `applying` (or `applied`): the charge was
confirmed by Stripe and the quantity, its version and the SeatSync row committed.

Stripe is played twice, in the same run, by the same localstripe (started by the
script): through the strict Stripe stand-in in front of it (`stripe_standin`, what
the tests and `scripts/run` use), then directly, so that the stand-in's overhead
shows. For each, two shapes, one after the other:

- `worker`: the production shape. The charge runs in a Celery worker (concurrency 2,
  Redis broker), which the script starts on queues of its own;
- `in-process`: the embedded default (tasks eager): the charge runs inside the
  request, right after the signature commits.

Also timed, for reference: the two Stripe calls of a charge alone (the card on file,
then the PaymentIntent created and confirmed), straight from the gateway, through the
stand-in and directly in turn (ten times `--changes` rounds).

Prints p50/p90/max in milliseconds. Uses the bench database and Redis (see
benchmarks/README.md); the organization it seeds (slug `bench-billing`) is replaced
on every run.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import billing_common as common

QUEUE_PREFIX = "bench-billing-applying-"
ORG_SLUG = "bench-billing"
VISA = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2031", "cvc": "123"}


def seed(stripe_url: str):
    """A live subscription of 10 seats whose Stripe customer has a Visa on file."""
    import json
    import urllib.request
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from billing.gateways import stripe_gateway
    from subscriptions.models import Organization, Plan, Product, Subscription

    now = timezone.now()
    with transaction.atomic():
        Organization.objects.filter(slug=ORG_SLUG).delete()
        product, _ = Product.objects.get_or_create(code="documents", defaults={"name": "Documents"})
        plan, _ = Plan.objects.get_or_create(
            code="documents-bench-billing-monthly",
            defaults={
                "product": product,
                "name": "Documents monthly",
                "interval": Plan.Interval.MONTH,
                "unit_amount": 1500,
                "max_seats": 100_000,
            },
        )
        organization = Organization.objects.create(
            name="Bench Billing Ltd", slug=ORG_SLUG, billing_email="billing@bench-billing.example"
        )
        subscription = Subscription.objects.create(
            organization=organization,
            plan=plan,
            quantity=10,
            admin_email="admin@bench-billing.example",
            status=Subscription.Status.ACTIVE,
            current_period_start=now - timedelta(days=10),
            current_period_end=now + timedelta(days=20),
            activated_at=now - timedelta(days=10),
        )
    gateway = stripe_gateway()
    customer = gateway.customer_create(
        email=subscription.admin_email, name=organization.name, metadata={}, idempotency_key="bench-customer"
    )
    setup = gateway.card_setup_create(customer_id=customer, metadata={}, idempotency_key="bench-card-setup")
    request = urllib.request.Request(  # what Stripe.js's confirmCardSetup sends
        f"{stripe_url}/v1/setup_intents/{setup.id}/confirm",
        data=json.dumps(
            {
                "key": common.STRIPE_PUBLISHABLE_KEY,
                "client_secret": setup.client_secret,
                "payment_method_data": {"type": "card", "card": VISA},
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
    card = gateway.card_setup_card(setup.id, customer_id=customer)
    gateway.customer_default_card_set(
        customer_id=customer, payment_method_id=card.id, idempotency_key="bench-default-card"
    )
    Subscription.objects.filter(pk=subscription.pk).update(stripe_customer_id=customer)
    subscription.refresh_from_db()
    return subscription


def watch(seat_change_id: int, started: threading.Event, done: dict, timeout: float = 60) -> None:
    """Record when the change is first seen applying (or already applied)."""
    from django.db import connection

    from subscriptions.models import SeatChange

    try:
        started.wait(timeout)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            state = SeatChange.objects.filter(pk=seat_change_id).values_list("state", flat=True).get()
            if state in (SeatChange.State.APPLYING, SeatChange.State.APPLIED):
                done["at"] = time.perf_counter()
                return
            time.sleep(0.0005)
    finally:
        connection.close()


@dataclass
class Timing:
    """Milliseconds: signed → applying seen by the watcher; and, from the payment's own
    timestamps, claimed → picked up by whoever sends it, and sent → paid (the two
    Stripe calls, then the Payment and the quantity written)."""

    total: float
    queued: float
    charged: float


def one_change(subscription) -> Timing:
    """Open, sign and pay one increase."""
    from agreements import services as agreements
    from agreements.models import Agreement
    from billing import services as billing
    from billing.models import Payment
    from portal import services as portal
    from subscriptions import links
    from subscriptions.models import CapabilityLink, SeatChange, Subscription

    subscription = Subscription.objects.select_related("plan__product", "organization").get(
        pk=subscription.pk
    )
    change = portal.seat_change_start(
        subscription=subscription, raw_new_total=subscription.quantity + 1, requested_via="bench"
    )
    agreement = Agreement.objects.get(seat_change=change)
    started, done = threading.Event(), {}
    watcher = threading.Thread(target=watch, args=(change.pk, started, done))
    watcher.start()
    link, _ = links.link_issue(
        subscription=subscription,
        action=CapabilityLink.Action.SIGN,
        email="signer@bench-billing.example",
        seat_change=change,
    )
    agreements.agreement_sign(
        agreement=agreement,
        signer=agreements.Signer(link=link),
        signer_name="Bench Signer",
        consent=True,
        accept_terms=True,
        signature_kind="typed",
        signature_text="Bench Signer",
        ip="127.0.0.1",
        user_agent="benchmark",
    )
    signed_at = time.perf_counter()
    started.set()
    billing.payment_card_on_file_queue(
        seat_change=SeatChange.objects.select_related("subscription").get(pk=change.pk)
    )
    watcher.join()
    if "at" not in done:
        raise RuntimeError(f"Seat change {change.number} was not applied within 60 s")
    payment = Payment.objects.get(seat_change=change)
    return Timing(
        total=(done["at"] - signed_at) * 1000,
        queued=(payment.attempt_sent_at - payment.attempt_started_at).total_seconds() * 1000,
        charged=(payment.paid_at - payment.attempt_sent_at).total_seconds() * 1000,
    )


def stripe_calls_alone(subscription, runs: int) -> list[float]:
    from billing.gateways import stripe_gateway

    gateway = stripe_gateway()
    timings = []
    for run in range(runs):
        started = time.perf_counter()
        card = gateway.customer_default_card(subscription.stripe_customer_id)
        gateway.payment_intent_charge(
            customer_id=subscription.stripe_customer_id,
            payment_method_id=card.id,
            amount=1000,
            currency="eur",
            off_session=True,
            metadata={},
            idempotency_key=f"bench-alone-{time.time_ns()}-{run}",
        )
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def wait_for_worker(app) -> bool:
    return bool(app.control.ping(timeout=0.5))


def summary(name: str, timings: list[float]) -> str:
    return (
        f"| {name} | {len(timings)} | {statistics.median(timings):.0f} | "
        f"{common.percentile(timings, 90):.0f} | {max(timings):.0f} |"
    )


def shape(name: str, subscription, changes: int) -> list[str]:
    one_change(subscription)  # warm-up: connections, templates, fonts, worker processes
    timings = [one_change(subscription) for _ in range(changes)]
    return [
        summary(f"{name}: signed → applying", [t.total for t in timings]),
        summary(f"{name}: claimed → picked up", [t.queued for t in timings]),
        summary(f"{name}: sent → paid and applied", [t.charged for t in timings]),
    ]


def use_stripe(url: str) -> None:
    """Point the settings (this process's, and a worker started after) at `url`."""
    from django.conf import settings

    os.environ["STRIPE_API_BASE"] = settings.STRIPE_API_BASE = url
    os.environ["STRIPE_JS_URL"] = settings.STRIPE_JS_URL = f"{url}/js.stripe.com/v3/"


def shapes(stripe: str, subscription, changes: int) -> list[str]:
    """Both shapes, then the Stripe calls alone, against the Stripe the settings name."""
    from seatmgr.celery import app

    worker = common.Process(
        "celery-worker",
        [
            sys.executable, "-m", "celery", "-A", "seatmgr", "worker", "-l", "warning",
            "--concurrency", "2", "--without-gossip", "--without-mingle",
        ],
    )  # fmt: skip
    try:
        worker.start(lambda: wait_for_worker(app))
        rows = shape(f"{stripe}, worker", subscription, changes)
    finally:
        worker.stop()
    app.conf.task_always_eager = True
    try:
        rows += shape(f"{stripe}, in-process", subscription, changes)
    finally:
        app.conf.task_always_eager = False
    return rows


def stripe_calls_interleaved(subscription, targets: dict[str, str], runs: int) -> list[str]:
    """The two Stripe calls alone, through each target in turn, round after round: a
    machine busy with other work slows both alike, so their ratio is the stand-in's."""
    timings: dict[str, list[float]] = {name: [] for name in targets}
    for _round in range(runs):
        for name, url in targets.items():
            use_stripe(url)
            timings[name] += stripe_calls_alone(subscription, 1)
    return [summary(f"{name}, the two Stripe calls alone", values) for name, values in timings.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=30, help="per shape")
    args = parser.parse_args()

    print(f"CPU busy before the run: {common.busy_cpu_percent():.0f} %")
    common.configure_environment(queue_prefix=QUEUE_PREFIX)
    localstripe, localstripe_url = common.start_localstripe()
    standin = None
    rows = []
    try:
        standin, standin_url = common.start_stripe_standin(localstripe_url)
        for name, value in common.stripe_environment(standin_url).items():
            os.environ[name] = value
        common.prepare_database()

        use_stripe(standin_url)
        subscription = seed(standin_url)  # one customer, in the localstripe both reach
        rows += shapes("stand-in", subscription, args.changes)
        use_stripe(localstripe_url)
        rows += shapes("localstripe directly", subscription, args.changes)
        targets = {"stand-in": standin_url, "localstripe directly": localstripe_url}
        rows += stripe_calls_interleaved(subscription, targets, runs=10 * args.changes)
    finally:
        if standin is not None:
            standin.stop()
        localstripe.stop()
        common.drop_queues()

    print("\nSigned → applying, increase paid with the card on file (loopback)\n")
    print("| measured | changes | p50 ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
