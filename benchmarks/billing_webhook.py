"""Stripe webhook endpoint latency under 20 concurrent deliveries, beside a bare view.

    .venv/bin/python benchmarks/billing_webhook.py [--requests 3000] [--concurrency 20] [--rounds 2]

Starts the app under gunicorn (2 sync workers, loopback, benchmarks.settings: DEBUG
off) and sends, from `--concurrency` client threads, alternating `--rounds` times:

- `bare`: GET /bench/bare/, a Django JSON view with no database (the yardstick);
- `webhook`: POST /billing/stripe/webhook/ with a new, correctly signed
  `payment_intent.succeeded` event each time (~2.5 KB, as Stripe sends them): the
  signature is verified (HMAC-SHA256, timestamp tolerance), the event is stored by its
  Stripe id and its processing is queued in Redis on commit. Processing itself runs in
  a Celery worker and is not measured (no worker runs: the queued tasks are dropped);
- `duplicate`: the same events delivered again: verified, found by id, answered 200.

Latency is measured by the client, per request (new connection each time: gunicorn's
sync workers close it). Prints p50/p99/requests per second per scenario and round,
and the webhook/bare ratios; exits 1 if any answer was not 200 or an event was stored
twice. Uses the bench database and Redis (see benchmarks/README.md), Celery queues of
its own, and deletes the events it stored.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import billing_common as common
from billing.gateways.stripe import STRIPE_API_VERSION

QUEUE_PREFIX = "bench-billing-webhook-"
WEBHOOK_PATH = "/billing/stripe/webhook/"
EVENT_PREFIX = "evt_bench_"


def event(number: int, run: str, *, amount: int = 3000) -> dict:
    """A payment_intent.succeeded event shaped like Stripe's (and localstripe's), of
    `amount` cents."""
    intent_id = f"pi_bench_{run}_{number:06d}"
    return {
        "id": f"{EVENT_PREFIX}{run}_{number:06d}",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": "payment_intent.succeeded",
        "request": {"id": None, "idempotency_key": f"seatmgr-payment-{number}-attempt-1-charge"},
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "currency": "eur",
                "customer": "cus_bench",
                "status": "succeeded",
                "client_secret": f"{intent_id}_secret_0123456789abcdef",
                "capture_method": "automatic_async",
                "confirmation_method": "automatic",
                "created": int(time.time()),
                "description": None,
                "invoice": None,
                "last_payment_error": None,
                "latest_charge": f"ch_bench_{run}_{number:06d}",
                "livemode": False,
                "metadata": {"seatmgr_payment": str(10_000_000 + number), "attempt": "1"},
                "next_action": None,
                "payment_method": f"card_bench_{number:06d}",
                "payment_method_types": ["card"],
                "payment_method_options": {
                    "card": {"installments": None, "network": None, "request_three_d_secure": "automatic"}
                },
                "receipt_email": None,
                "setup_future_usage": None,
                "shipping": None,
                "statement_descriptor": None,
                "charges": {
                    "object": "list",
                    "data": [
                        {
                            "id": f"ch_bench_{run}_{number:06d}",
                            "object": "charge",
                            "amount": amount,
                            "currency": "eur",
                            "paid": True,
                            "status": "succeeded",
                            "payment_method_details": {
                                "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2031}
                            },
                        }
                    ],
                    "has_more": False,
                    "url": f"/v1/charges?payment_intent={intent_id}",
                },
            }
        },
    }


def signed(body: bytes) -> str:
    timestamp = int(time.time())
    digest = hmac.new(
        common.STRIPE_WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Result:
    scenario: str
    round: int
    latencies_ms: list[float]
    seconds: float
    errors: int

    @property
    def p50(self) -> float:
        return common.percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return common.percentile(self.latencies_ms, 99)

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds


def send_all(host: str, port: int, requests: list[tuple[str, str, bytes, dict]], concurrency: int):
    """Send every request from `concurrency` threads; returns latencies (ms), elapsed
    seconds and the number of answers that were not 200."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    position = iter(range(len(requests)))

    def worker():
        nonlocal errors
        mine, failed = [], 0
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                break
            method, path, body, headers = requests[index]
            started = time.perf_counter()
            connection = http.client.HTTPConnection(host, port, timeout=30)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                failed += response.status != 200
            except OSError:
                failed += 1
            finally:
                connection.close()
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per scenario and round")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    print(f"CPU busy before the run: {common.busy_cpu_percent():.0f} %")
    common.configure_environment(queue_prefix=QUEUE_PREFIX)
    for name, value in common.stripe_environment().items():
        common.os.environ[name] = value
    common.prepare_database()
    from billing.models import StripeEvent

    StripeEvent.objects.filter(stripe_id__startswith=EVENT_PREFIX).delete()
    gunicorn, url = common.start_gunicorn()
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    results: list[Result] = []
    sent_events = 0
    try:
        warm = [("GET", "/bench/bare/", b"", {})] * 200
        warm_body = json.dumps(event(0, "warm")).encode()
        warm += [("POST", WEBHOOK_PATH, warm_body, {"Stripe-Signature": signed(warm_body)})] * 200
        send_all(host, port, warm, args.concurrency)
        sent_events += 1

        for round_number in range(1, args.rounds + 1):
            run = f"r{round_number}_{int(time.time())}"
            bodies = [json.dumps(event(i, run)).encode() for i in range(args.requests)]
            headers = [{"Content-Type": "application/json", "Stripe-Signature": signed(b)} for b in bodies]
            webhooks = [("POST", WEBHOOK_PATH, body, h) for body, h in zip(bodies, headers, strict=True)]
            scenarios = {
                "bare": [("GET", "/bench/bare/", b"", {})] * args.requests,
                "webhook": webhooks,
                "duplicate": webhooks,
            }
            for name, requests in scenarios.items():
                latencies, seconds, errors = send_all(host, port, requests, args.concurrency)
                results.append(Result(name, round_number, latencies, seconds, errors))
            sent_events += len(bodies)
        stored = StripeEvent.objects.filter(stripe_id__startswith=EVENT_PREFIX).count()
    finally:
        gunicorn.stop()
        StripeEvent.objects.filter(stripe_id__startswith=EVENT_PREFIX).delete()
        common.drop_queues()

    print(f"\n{args.concurrency} concurrent clients, {args.requests} requests per scenario and round\n")
    print("| scenario | round | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for result in results:
        print(
            f"| {result.scenario} | {result.round} | {result.per_second:,.0f} | {result.p50:.1f} "
            f"| {result.p99:.1f} | {result.errors} |"
        )

    def median_of(scenario: str, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in results if r.scenario == scenario)

    print()
    for scenario in ("webhook", "duplicate"):
        print(
            f"{scenario}/bare: p50 {median_of(scenario, 'p50') / median_of('bare', 'p50'):.2f}x, "
            f"p99 {median_of(scenario, 'p99') / median_of('bare', 'p99'):.2f}x, "
            f"throughput {median_of(scenario, 'per_second') / median_of('bare', 'per_second'):.2f}x"
        )
    failures = sum(result.errors for result in results)
    print(f"events stored: {stored} of {sent_events} sent (each twice); failed answers: {failures}")
    return 1 if failures or stored != sent_events else 0


if __name__ == "__main__":
    sys.exit(main())
