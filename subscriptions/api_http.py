"""What every answer of the API shares: JSON in, JSON out, a request id, and
limits on what a request may send.

Nothing a client sends may turn into a 500: bodies are bounded in size and depth
(deeper JSON than Python can parse is a 400, not a RecursionError), unknown formats
and `Accept` headers answer 406, and paging parameters are checked.
`seatmgr.api_errors` renders every refusal as `{"code", "detail"}`.
"""

import json
import re

from django.urls import reverse
from rest_framework import exceptions
from rest_framework.metadata import BaseMetadata
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser

from observability import request_id as observability_request_id

MAX_BODY_BYTES = 64 * 1024  # the API's bodies are a few hundred bytes
MAX_DEPTH = 64  # the API's bodies are 3 levels deep; fields it ignores may be deeper
MAX_URL_LENGTH = 8190  # above the longest valid URL (~4,400); gunicorn's highest `limit_request_line`
REQUEST_ID_HEADER = observability_request_id.HEADER
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENT_METHODS = frozenset({"POST", "PATCH", "DELETE"})
MAX_IDEMPOTENCY_KEY_LENGTH = 255
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[!-~]{1,255}$")  # printable ASCII, no spaces


def request_id(request) -> str:
    """This request's id, as `observability.middleware.RequestIdMiddleware` set it (the
    caller's own `X-Request-Id` when it is a sane token, else a new one); a request
    that did not go through the middleware gets one here."""
    request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    rid = getattr(request, "request_id", None)
    if rid is None:
        rid = request.request_id = observability_request_id.from_caller(request.META.get("HTTP_X_REQUEST_ID"))
    return rid


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"
    default_detail = f"The request body is larger than the API accepts ({MAX_BODY_BYTES // 1024} KiB)."


class UriTooLong(exceptions.APIException):
    status_code = 414
    default_code = "uri_too_long"
    default_detail = f"The URL is longer than the API accepts ({MAX_URL_LENGTH} characters)."


def _check_depth(data) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise exceptions.ParseError(f"The JSON body is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(JSONParser):
    """JSON bodies up to MAX_BODY_BYTES and MAX_DEPTH. (The fields that are read refuse
    text PostgreSQL cannot store: `licensing.serializers.StrictCharField`.)"""

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        body = stream.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        try:
            data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
        except RecursionError:
            raise exceptions.ParseError(
                f"The JSON body is nested more than {MAX_DEPTH} levels deep."
            ) from None
        except ValueError as error:
            raise exceptions.ParseError(f"The body is not valid JSON: {error}") from None
        _check_depth(data)
        return data


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """The API answers JSON only: `?format=` other than `json`, or an `Accept` header
    without JSON (or */*), answers 406 (DRF would answer an unshaped 404 for the former)."""

    def filter_renderers(self, renderers, format):
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            raise exceptions.NotAcceptable(f"Unknown format “{format}”: the API answers JSON (format=json).")
        return matching


class ApiMetadata(BaseMetadata):
    """OPTIONS: what the endpoint is and where its schema is (DRF's default metadata
    needs a serializer on every view, and the schema says it all more exactly)."""

    def determine_metadata(self, request, view):
        return {
            "name": view.get_view_name(),
            "schema": request.build_absolute_uri(reverse("api-schema")),
        }


MAX_OFFSET = 2**31 - 1


class Pagination(LimitOffsetPagination):
    """`limit` (1 to 100, default 100) and `offset` (≥ 0); anything else is a 400."""

    default_limit = 100
    max_limit = 100

    def get_limit(self, request) -> int:
        return self._number(request, self.limit_query_param, 1, self.max_limit, self.default_limit)

    def get_offset(self, request) -> int:
        return self._number(request, self.offset_query_param, 0, MAX_OFFSET, 0)

    @staticmethod
    def _number(request, name: str, minimum: int, maximum: int, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"[0-9]{1,10}", raw) or not minimum <= int(raw) <= maximum:
            raise exceptions.ValidationError(
                {name: [f"Give `{name}` as a whole number from {minimum} to {maximum:,}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds[parameter["name"]])
        return parameters
