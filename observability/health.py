"""`/health/`: is each part of seatmgr working? For monitors and the containers'
healthchecks, in JSON, saying only "ok" or "failing" per component (plus "not
applicable"), never why: hosts, ports and error messages go to the log (as warnings
of the `health_check` logger), not to whoever asks.

    {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok",
                                "worker": "ok", "beat": "ok"}}

200 when nothing fails, 503 otherwise. The checks are django-health-check's
(database, cache) and seatmgr's own: the broker (a connection to it), and the
heartbeats of the Celery workers (every queue the settings name must have a worker
beating) and of beat (observability.heartbeats). Where tasks run in-process (the
embedded default: no broker, no worker) the broker and the worker are "not
applicable"; beat is there too (`manage.py run_periodic_tasks` beats as beat).
"""

import asyncio
import dataclasses
import datetime

from django.conf import settings
from django.http import JsonResponse
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

from . import heartbeats

OK, FAILING, NOT_APPLICABLE = "ok", "failing", "not applicable"


@dataclasses.dataclass
class Broker(HealthCheck):
    """A connection to the Celery broker (CELERY_BROKER_URL) can be made."""

    timeout = datetime.timedelta(seconds=3)

    def run(self) -> None:
        from kombu import Connection

        with Connection(settings.CELERY_BROKER_URL, connect_timeout=self.timeout.total_seconds()) as broker:
            try:
                broker.ensure_connection(max_retries=0, timeout=self.timeout.total_seconds())
            except Exception as error:
                raise ServiceUnavailable("The broker is unreachable") from error


@dataclasses.dataclass
class Heartbeat(HealthCheck):
    """The latest heartbeat of `component` (for workers: of one for each queue) is
    younger than HEARTBEAT_STALE_AFTER."""

    component: str = heartbeats.BEAT

    def run(self) -> None:
        queues = _queues() if self.component == heartbeats.WORKER else ()
        try:
            ages = heartbeats.ages(self.component, queues=queues)
        except Exception as error:
            raise ServiceUnavailable("Heartbeats cannot be read (the cache is down)") from error
        limit = settings.HEARTBEAT_STALE_AFTER
        stale = {name: age for name, age in ages.items() if age is None or age > limit}
        if stale:
            raise ServiceUnavailable(
                ", ".join(
                    f"{name}: {'never seen' if age is None else f'last heartbeat {age:.0f} s ago'}"
                    for name, age in sorted(stale.items())
                )
            )


def _queues() -> tuple[str, ...]:
    """Every queue some kind of work goes to: each needs a worker."""
    return tuple(sorted({settings.CELERY_TASK_DEFAULT_QUEUE, *settings.CELERY_QUEUES_BY_KIND.values()}))


def _tasks_run_in_process() -> bool:
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


class HealthView(HealthCheckView):
    def get_checks(self):
        yield Database()
        yield Cache()
        if not _tasks_run_in_process():
            yield Broker()
            yield Heartbeat(component=heartbeats.WORKER)
        yield Heartbeat(component=heartbeats.BEAT)

    async def get(self, request, *args, **kwargs):
        with self.get_executor() as executor:
            self.results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        names = {Database: "database", Cache: "cache", Broker: "broker"}
        checks = {"database": NOT_APPLICABLE, "cache": NOT_APPLICABLE}
        checks.update(broker=NOT_APPLICABLE, worker=NOT_APPLICABLE, beat=NOT_APPLICABLE)
        for result in self.results:
            name = names.get(type(result.check)) or result.check.component
            checks[name] = FAILING if result.error else OK
        failing = FAILING in checks.values()
        response = JsonResponse({"status": FAILING if failing else OK, "checks": checks})
        if failing:
            response.status_code = 503
            # Each failing check has been logged (a warning, with its reason); Django
            # would add an error for the 503 itself at every probe, and an error
            # tracker would count each as a new error.
            response._has_been_logged = True
        return response
