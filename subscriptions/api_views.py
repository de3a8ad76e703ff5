"""The base of every API view, and the JSON 404 for URLs the API does not have.

`ApiView` adds to DRF's view what every answer carries: the RateLimit-* headers of
the caller's throttle (the `X-Request-Id` header is every answer's, API or not:
observability.middleware); its writes go through `run_write`, where `licensing`
keeps its idempotency keys.
"""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from .api_http import IDEMPOTENT_METHODS, MAX_URL_LENGTH, UriTooLong, request_id


class ApiView(APIView):
    url_alias = False  # True on the URL without (or with) the trailing slash: not in the schema

    def initial(self, request, *args, **kwargs):
        if len(request.get_full_path()) > MAX_URL_LENGTH:
            raise UriTooLong()
        super().initial(request, *args, **kwargs)

    def dispatch(self, request, *args, **kwargs):
        # DRF's APIView.dispatch, with writes run through `run_write`.
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            method = request.method.lower()
            handler = getattr(self, method, None) if method in self.http_method_names else None
            if handler is None:
                response = self.http_method_not_allowed(request, *args, **kwargs)
            elif request.method in IDEMPOTENT_METHODS:
                response = self.run_write(request, lambda: self.respond(handler, request, *args, **kwargs))
            else:
                response = handler(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def run_write(self, request, respond):
        """A POST, PATCH or DELETE: `respond()` answers it (as a Response, never raising)."""
        return respond()

    def respond(self, handler, request, *args, **kwargs):
        try:
            return handler(request, *args, **kwargs)
        except Exception as exc:
            return self.handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        rate_limit = getattr(request._request, "rate_limit", None)
        if rate_limit is not None:
            for name, value in rate_limit.headers().items():
                response[name] = value
        return response


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any URL under /api/ that is no endpoint (an unknown path, an id that is not a
    positive whole number): a JSON 404, never Django's HTML (or DEBUG's URL list)."""
    return JsonResponse(
        {"code": "not_found", "detail": "There is no such API endpoint.", "request_id": request_id(request)},
        status=404,
    )
