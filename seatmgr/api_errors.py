"""Every API error has the same shape: {"code": "...", "detail": "...", "request_id": "..."},
whatever DEBUG says, with the status that fits (and fields of its own, such as
`increase_url` or `seat_change`, where an error has them).

A bug (an exception nobody expected) answers 500 `server_error` in that shape too;
it is logged once, with its traceback, as Django logs a page's error ("Internal
Server Error: <path>" on `django.request`, marking the answer logged so that Django
does not log it a second time without one), and Django's `got_request_exception` is
sent, so the test client still raises it in tests and Sentry reports it.
"""

from django.conf import settings
from django.core import signals
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.utils.log import log_response
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from subscriptions.api_http import PayloadTooLarge, request_id
from subscriptions.errors import DomainError


def _first_message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        field, value = next(iter(detail.items()))
        message = _first_message(value)
        return message if field == "non_field_errors" else f"{field}: {message}"
    return str(detail)


def _absolute_urls(data: dict) -> dict:
    """Links in errors (`increase_url`) are absolute, as `sign_url` is."""
    return {
        name: settings.SITE_URL + value
        if name.endswith("_url") and isinstance(value, str) and value.startswith("/")
        else value
        for name, value in data.items()
    }


def _server_error(exc, request) -> Response:
    django_request = getattr(request, "_request", request)
    signals.got_request_exception.send(sender=None, request=django_request)
    set_rollback()
    response = Response(
        {"code": "server_error", "detail": "Something went wrong on our side; it has been logged."},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
    log_response(
        "%s: %s",
        response.reason_phrase,
        django_request.path,
        response=response,
        request=django_request,
        exception=exc,
    )
    return response


def exception_handler(exc, context):
    request = context["request"]
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, DomainError):
        response = Response(_absolute_urls(exc.as_dict()), status=exc.status_code)
    else:
        response = drf_exception_handler(exc, context)
        if response is None:
            response = _server_error(exc, request)
        elif isinstance(exc, exceptions.ValidationError):
            response.data = {
                "code": "invalid",
                "detail": _first_message(exc.detail),
                "errors": exc.detail,
            }
        elif isinstance(exc, exceptions.APIException):
            code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
            response.data = {"code": code, "detail": _first_message(exc.detail)}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response.data["code"] = "not_authenticated"
    response.data["request_id"] = request_id(request)
    return response
