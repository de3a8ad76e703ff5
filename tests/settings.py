"""The app's settings for the tests, in pytest and in the processes the tests start
(the Celery worker inherits DJANGO_SETTINGS_MODULE)."""

from seatmgr.settings import *  # noqa: F403

# The tests' connected orgs are real local servers on 127.0.0.1 (tests/receivers.py,
# tests/salesforce_server.py). Tests of the outbound guard turn this off.
CONNECTED_ORG_ALLOW_LOOPBACK = True
