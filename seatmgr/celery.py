"""The Celery app. Workers run `celery -A seatmgr worker`, beat `celery -A seatmgr beat`."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seatmgr.settings")

app = Celery("seatmgr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
def _drop_unusable_connections(**kwargs) -> None:
    from django.db import close_old_connections

    close_old_connections()
