"""Every request has an id (observability.request_id): set here, first of all
middleware, and echoed in the answer's `X-Request-Id`.

It stays set until Django sends `request_finished` (when the server has sent the
answer), not only while the middleware runs: Django logs a 4xx or 5xx answer
("Not Found: …", "Bad Request: …") after the last middleware has returned, and those
lines carry the id too.
"""

from django.core.signals import request_finished

from . import request_id


def _forget(**kwargs) -> None:
    request_id.set("")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        request_finished.connect(_forget, dispatch_uid="observability.request_id.forget")

    def __call__(self, request):
        rid = request_id.from_caller(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = rid
        request_id.set(rid)
        response = self.get_response(request)
        response[request_id.HEADER] = rid
        return response
