"""Settings for the benchmarks: the app's own settings, production-like.

DEBUG is off (no query log kept in memory, no debug pages) and the URLconf adds
`/bench/bare/`, the yardstick every other endpoint is compared with. Run with
SECRET_KEY and REDIS_URL set (the app's settings refuse to start without them when
DEBUG is off); the benchmark scripts set them.
"""

import base64
import hashlib
import os

# The app's settings refuse DEBUG=0 without an SMTP server and a field encryption
# key. The benchmarks send no email (OUTBOX_EMAIL_BACKEND below keeps them in the database)
# and use a key derived from the run's SECRET_KEY, which every process of a run shares.
os.environ.setdefault("EMAIL_HOST", "smtp.invalid")
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEY",
    base64.urlsafe_b64encode(hashlib.sha256(os.environ.get("SECRET_KEY", "").encode()).digest()).decode(),
)

from seatmgr.settings import *  # noqa: F403

DEBUG = False
# Through the outbox (EMAIL_BACKEND, outbox.mail) as in production, into the database.
OUTBOX_EMAIL_BACKEND = "devmail.backends.StoredEmailBackend"
# Plain HTTP on loopback: no redirect to https://.
SECURE_SSL_REDIRECT = False
ROOT_URLCONF = "benchmarks.urls"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

# Pages are rendered without `collectstatic`: the manifest storage the app picks when
# DEBUG is off would refuse every `{% static %}` tag for want of a manifest.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Access logs and INFO chatter would cost time in the measured requests.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # Except the worker's "ready." and beat's "Starting...", which the benchmarks wait for.
    "loggers": {name: {"level": "INFO"} for name in ("celery.apps.worker", "celery.beat")},
}

# The benchmarks' connected org is a webhook receiver on 127.0.0.1, which the outbound
# guard refuses unless loopback is allowed (licensing/connectors/outbound.py).
CONNECTED_ORG_ALLOW_LOOPBACK = True

# The licence check's own rate limit is counted as in production, but set out of reach:
# wrk sends a few thousand checks a second with one API key.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],  # noqa: F405
        "licence_check": "100000000/min",
    },
}
