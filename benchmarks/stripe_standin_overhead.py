"""What the strict Stripe stand-in costs: a PaymentIntent created and then confirmed,
through the stand-in and directly to the localstripe behind it, in the same run.

    .venv/bin/python benchmarks/stripe_standin_overhead.py [--rounds 300]

Starts `python -m stripe_standin` (which starts its own localstripe), both on
loopback, warms both paths up, then alternates one create+confirm through the
stand-in with one sent directly, with the real stripe library (no retries), and
prints p50/p95 of each and their ratio. No database or Redis needed.
"""

import argparse
import functools
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import stripe

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "sk_test_seatmgr_bench_standin"  # noqa: S105 - the benchmark's own localstripe


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def start(log_path: Path) -> tuple[subprocess.Popen, str, str]:
    sys.path.insert(0, str(ROOT))
    from stripe_standin.__main__ import free_port

    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "stripe_standin", "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"stripe_standin on (\S+) in front of (\S+)", log_path.read_text())
        if found:
            return process, found[1], found[2]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.terminate()
    sys.exit(f"stripe_standin did not start:\n{log_path.read_text()}")


def client(base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        SECRET_KEY,
        base_addresses={"api": base},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=10),
    )


def create_and_confirm(api: stripe.StripeClient, types_param: str) -> float:
    began = time.perf_counter()
    intent = api.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "payment_method": "pm_card_visa", types_param: ["card"]}
    )
    confirmed = api.v1.payment_intents.confirm(intent.id)
    elapsed = time.perf_counter() - began
    if confirmed.status != "succeeded":
        sys.exit(f"unexpected status {confirmed.status}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="create+confirm pairs per path (max 5000)")
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    rounds = min(args.rounds, 5000)

    with tempfile.TemporaryDirectory(prefix="seatmgr-bench-standin-") as directory:
        process, standin_url, localstripe_url = start(Path(directory) / "standin.log")
        try:
            # The pinned API version names it allowed_payment_method_types; localstripe
            # only knows the older payment_method_types (the stand-in translates). One
            # client (one kept-alive connection) per path.
            through = functools.partial(
                create_and_confirm, client(standin_url), "allowed_payment_method_types"
            )
            direct = functools.partial(create_and_confirm, client(localstripe_url), "payment_method_types")
            for _ in range(args.warmup):
                through()
                direct()
            samples: dict[str, list[float]] = {"stand-in": [], "direct": []}
            deadline = time.monotonic() + 300
            for _ in range(rounds):
                samples["stand-in"].append(through())
                samples["direct"].append(direct())
                if time.monotonic() > deadline:
                    break
        finally:
            process.terminate()
            process.wait(timeout=10)

    n = len(samples["direct"])
    print(f"PaymentIntent create + confirm, {n} rounds each, alternating (ms)")
    for name, values in samples.items():
        print(f"  {name:9} p50 {percentile(values, 0.5):6.2f}   p95 {percentile(values, 0.95):6.2f}")
    for label, fraction in (("p50", 0.5), ("p95", 0.95)):
        ratio = percentile(samples["stand-in"], fraction) / percentile(samples["direct"], fraction)
        print(f"  stand-in / direct {label}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
