"""Run by tests/observability/test_sentry.py in a process of its own (Sentry's SDK is
process-wide): the tests' settings, with SENTRY_DSN from the environment or not, serve
a unique link's page and an API endpoint that fail (the link's token in LINK_TOKEN)
through the app's WSGI handler, as gunicorn would, then flush what Sentry queued.
Prints whether Sentry's client is active."""

import http.client
import json
import os
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django

django.setup()

import sentry_sdk  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.test import override_settings  # noqa: E402


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


token = os.environ["LINK_TOKEN"]
with override_settings(ROOT_URLCONF="tests.observability.urls", ALLOWED_HOSTS=["*"], DEBUG=False):
    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for path, rid in [(f"/l/{token}/broken/", "sentry-page"), ("/api/v1/broken/", "sentry-api")]:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
        connection.request(
            "GET", path, headers={"X-Request-Id": rid, "Referer": f"http://testserver/l/{token}/"}
        )
        assert connection.getresponse().status == 500
        connection.close()
    server.shutdown()
sentry_sdk.flush(timeout=10)
print(json.dumps({"active": sentry_sdk.get_client().is_active()}))
