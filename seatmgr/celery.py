"""The Celery app. Workers run `celery -A seatmgr worker`, beat `celery -A seatmgr beat`.

Besides the app, what every worker and beat share:
- they log through Django's LOGGING (request ids, LOG_FORMAT, token redaction), not
  Celery's own set-up;
- a task carries the request id of whoever queued it (a `request_id` message header)
  and runs under it; a task nobody's request queued (beat's) runs under its own id;
- each worker and beat write a heartbeat (observability.heartbeats) that /health/ and
  the containers' healthchecks read.
"""

import logging.config
import os

from celery import Celery, bootsteps, signals
from celery.beat import PersistentScheduler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seatmgr.settings")

app = Celery("seatmgr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _log_as_django_does(**kwargs) -> None:
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def _drop_unusable_connections(**kwargs) -> None:
    from django.db import close_old_connections

    close_old_connections()


# --- Request ids -------------------------------------------------------------------
REQUEST_ID_HEADER = "request_id"
_request_id_tokens = {}


@signals.before_task_publish.connect
def _carry_request_id(headers=None, **kwargs) -> None:
    from observability import request_id

    rid = request_id.get()
    if rid and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, rid)


@signals.task_prerun.connect
def _run_under_request_id(task_id=None, task=None, **kwargs) -> None:
    from observability import request_id

    if task.request.is_eager:  # runs inside whoever called it, under their id
        return
    rid = getattr(task.request, REQUEST_ID_HEADER, None) or task_id
    _request_id_tokens[task_id] = request_id.set(rid)


@signals.task_postrun.connect
def _forget_request_id(task_id=None, **kwargs) -> None:
    from observability import request_id

    token = _request_id_tokens.pop(task_id, None)
    if token is not None:
        request_id.reset(token)


# --- Heartbeats ----------------------------------------------------------------------
class WorkerHeartbeat(bootsteps.StartStopStep):
    """A consumer step: it runs only while the worker is connected to the broker and
    consuming (Celery stops and restarts consumer steps when the connection drops), so
    a worker that lost Redis stops beating."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer_entry = None

    def start(self, consumer) -> None:
        from django.conf import settings

        queues = tuple(sorted(queue.name for queue in consumer.task_consumer.queues))
        self.beat = lambda: _record_heartbeat("worker", queues)
        self.beat()
        self.timer_entry = consumer.timer.call_repeatedly(settings.HEARTBEAT_INTERVAL, self.beat)

    def stop(self, consumer) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    shutdown = stop


app.steps["consumer"].add(WorkerHeartbeat)


def _record_heartbeat(component: str, queues: tuple[str, ...] = ()) -> None:
    from observability import heartbeats

    heartbeats.record(component, queues=queues)


class HeartbeatScheduler(PersistentScheduler):
    """Beat's scheduler (CELERY_BEAT_SCHEDULER), writing beat's heartbeat as it ticks:
    beat wakes up at least every CELERY_BEAT_MAX_LOOP_INTERVAL (= HEARTBEAT_INTERVAL)."""

    def tick(self, *args, **kwargs):
        _record_heartbeat("beat")
        return super().tick(*args, **kwargs)
