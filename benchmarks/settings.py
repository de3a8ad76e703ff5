"""Settings for the benchmarks: the app's own settings, production-like.

DEBUG is off (no query log kept in memory, no debug pages) and the URLconf adds
`/bench/bare/`, the yardstick every other endpoint is compared with. Run with
SECRET_KEY set (the app's settings refuse to start without one when DEBUG is off).
"""

from seatmgr.settings import *  # noqa: F403

DEBUG = False
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
}

# The licence check's own rate limit is counted as in production, but set out of reach:
# wrk sends a few thousand checks a second with one API key.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],  # noqa: F405
        "licence_check": "100000000/min",
    },
}
