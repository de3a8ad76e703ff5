"""Celery beat for the embedded default: run the periodic tasks of
`CELERY_BEAT_SCHEDULE` in this process, each when it is due.

The embedded default (`./scripts/run`) runs tasks in-process and has no worker or
beat, so without this a failed push would never be retried, periods would never
roll and approved decreases would wait forever. Production runs
`celery -A seatmgr beat` instead; this command refuses to run where tasks go to a
broker, so the two are never both sending. It writes beat's heartbeat as beat does
(observability.heartbeats), so /health/ watches it the same way.
"""

import time
from datetime import UTC, datetime

from celery import current_app
from celery.schedules import schedule as every
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from observability import heartbeats


class Command(BaseCommand):
    help = "Run the periodic (beat) tasks in this process, each when due (embedded default only)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every periodic task once now, then stop")

    def handle(self, *args, once: bool = False, **options):
        if not current_app.conf.task_always_eager:
            raise CommandError("Tasks go to a broker here: run `celery -A seatmgr beat` instead.")
        current_app.loader.import_default_modules()  # the apps' tasks modules, as a worker does
        entries = {
            name: (entry["task"], _schedule(entry["schedule"]))
            for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        }
        if once:
            for name, (task, _) in entries.items():
                self._run(name, task)
            return
        self.stdout.write(f"Running periodic tasks when due: {', '.join(entries)}")
        # As beat does: each schedule starts now (an interval task first runs one
        # interval later, the morning digest at its hour).
        last_run = dict.fromkeys(entries, datetime.now(UTC))
        while True:
            heartbeats.record(heartbeats.BEAT)
            wait = float(settings.HEARTBEAT_INTERVAL)
            for name, (task, when) in entries.items():
                due, next_check = when.is_due(last_run[name])
                if due:
                    last_run[name] = datetime.now(UTC)
                    self._run(name, task)
                wait = min(wait, next_check)
            time.sleep(max(wait, 1.0))

    def _run(self, name: str, task: str) -> None:
        close_old_connections()
        try:
            # `.result`, not `.get()`: get() refuses to run once Celery's process-wide
            # "inside a task" flag is set, which eager tasks run from two threads at once
            # can leave set for good; apply(throw=True) has already raised any error.
            result = current_app.tasks[task].apply(throw=True).result
        except Exception as error:  # one failing task must not stop the others
            self.stderr.write(f"{name}: failed: {error!r}")
        else:
            self.stdout.write(f"{name}: {result}")
        finally:
            close_old_connections()


def _schedule(value):
    return every(run_every=value) if isinstance(value, int | float) else value
