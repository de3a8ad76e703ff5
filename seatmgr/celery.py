"""The Celery app. Workers run `celery -A seatmgr worker`, beat `celery -A seatmgr beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seatmgr.settings")

app = Celery("seatmgr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
