"""Celery tasks and a bare Celery app, for the delivery benchmarks only.

- `post_to_receiver`: the yardstick of `delivery_drain.py`: a task that only POSTs a
  body to a URL (as the webhook connector does: one `requests.post`, same timeouts)
  and nothing else: no database, no signature. The app's worker runs it beside
  `licensing.tasks.deliver_seat_sync` when started with
  `--include benchmarks.bench_tasks`.
- `bare_app`: a Celery app with Django loaded (the project's settings, through
  Celery's Django fixup, which calls `django.setup()` in the worker) and no task of
  the project, only `post_to_receiver`: the baseline of the worker's memory
  (`celery -A benchmarks.bench_tasks:bare_app worker`). It is built on first access,
  so importing this module into the app's worker creates no second app.
"""

import os

import requests
from celery import shared_task

CONNECT_TIMEOUT, READ_TIMEOUT = 5, 10  # as licensing.connectors.base


@shared_task(name="benchmarks.bench_tasks.post_to_receiver")
def post_to_receiver(url: str, body: str) -> int:
    response = requests.post(
        url,
        data=body.encode(),
        headers={"content-type": "application/json", "user-agent": "seatmgr-bench/1"},
        timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
        allow_redirects=False,
    )
    return response.status_code


def _make_bare_app():
    from celery import Celery

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seatmgr.settings")
    app = Celery("bench_bare")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    return app


_bare_app = None


def __getattr__(name: str):
    global _bare_app
    if name == "bare_app":
        if _bare_app is None:
            _bare_app = _make_bare_app()
        return _bare_app
    raise AttributeError(name)
