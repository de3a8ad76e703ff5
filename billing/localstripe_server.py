"""Run localstripe (a local Stripe stand-in, a dev dependency) for development and tests.

    python -m billing.localstripe_server --port 8420 [--state var/localstripe/state.pickle]

localstripe 1.15 itself binds every interface and pickles its whole state to the
fixed file /tmp/localstripe.pickle after every write, whatever TMPDIR says, so two of
them on one machine (a developer's `scripts/run` and a test session, or two test
sessions) would overwrite each other's state. This runner changes only that:

* it listens on 127.0.0.1 only;
* with `--state PATH`, state is loaded from and saved to PATH (one file per server);
  without it, nothing is written at all and every start is empty (tests);
* its events say they are rendered in the API version the gateway pins (localstripe
  writes 2017-08-15 in every one, whatever the request asked), as Stripe's do for a
  webhook endpoint created at that version (README, Billing);
* a subscription update takes `proration_behavior` and `payment_behavior`, which the
  gateway always sends (Stripe needs them) and localstripe refuses as unexpected: they
  are accepted and ignored (localstripe never prorates an update of the quantity).

Never imported by the app: only started as a separate process.
"""

import argparse
import logging
import pickle
import socket
from pathlib import Path


def _use_state_file(resources, path: Path | None) -> None:
    def try_load_from_disk(store) -> None:
        if path is not None and path.exists():
            with path.open("rb") as file:
                store.clear()
                store.update(pickle.load(file))  # noqa: S301 - our own file, written below

    def dump_to_disk(store) -> None:
        if path is None:
            return
        temporary = path.with_suffix(".tmp")
        with temporary.open("wb") as file:
            pickle.dump(dict(store), file, protocol=pickle.HIGHEST_PROTOCOL)
        temporary.replace(path)

    resources.Store.try_load_from_disk = try_load_from_disk
    resources.Store.dump_to_disk = dump_to_disk


def _events_in_api_version(resources, api_version: str) -> None:
    original_init = resources.Event.__init__

    def __init__(self, type, data):
        original_init(self, type, data)
        self.api_version = api_version

    resources.Event.__init__ = __init__


def _updates_accept_proration_behavior(resources) -> None:
    original_update = resources.Subscription._update

    def _update(self, proration_behavior=None, payment_behavior=None, **data):
        return original_update(self, **data)

    resources.Subscription._update = _update


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, help="state file (default: keep nothing)")
    args = parser.parse_args()

    from aiohttp import web
    from localstripe import resources, server

    from billing.gateways.stripe import STRIPE_API_VERSION

    if args.state is not None:
        args.state.parent.mkdir(parents=True, exist_ok=True)
    _use_state_file(resources, args.state)
    _events_in_api_version(resources, STRIPE_API_VERSION)
    _updates_accept_proration_behavior(resources)
    resources.store.try_load_from_disk()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    web.run_app(server.app, sock=sock, print=None, access_log=logging.getLogger("aiohttp.access"))


if __name__ == "__main__":
    main()
