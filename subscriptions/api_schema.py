"""The OpenAPI schema says exactly what each operation answers, errors included.

`ApiAutoSchema` adds to every operation the answers every API view can give
(401, 405, 406, 414, 429; for bodies also 400, 413 and 415; for writes the
`Idempotency-Key` header and its 409s), each with the codes it can carry.
`error_response` declares an operation's own error answers with their codes.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from .api_http import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    IDEMPOTENT_METHODS,
    MAX_BODY_BYTES,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_URL_LENGTH,
)

IDEMPOTENCY_CODES = ("idempotency_key_reused", "idempotency_key_in_use")
BAD_INPUT_CODES = ("invalid", "parse_error")

_EXTRA_FIELDS = {
    "errors": lambda: serializers.DictField(
        required=False, help_text="Every message, by field, when the input has the wrong shape."
    ),
    "field": lambda: serializers.CharField(required=False, help_text="The input at fault, when one is."),
    "increase_url": lambda: serializers.URLField(
        required=False, help_text="Where an admin increases the seats (`no_licence_available`)."
    ),
    "seat_change": lambda: serializers.CharField(
        required=False, help_text="The number of the seat change in progress (`seat_change_open`)."
    ),
}


def error_serializer(name: str, codes: tuple[str, ...], extra: tuple[str, ...] = ()):
    """A component `name` of shape {"code", "detail", "request_id", ...extra} whose
    `code` is one of `codes`."""
    code_field = extend_schema_field(
        {"type": "string", "enum": list(codes), "description": "Stable machine-readable code."}
    )(type(f"{name}Code", (serializers.CharField,), {}))
    code = code_field()
    fields = {
        "code": code,
        "detail": serializers.CharField(help_text="A message a person can act on."),
        "request_id": serializers.CharField(
            help_text="Also in the `X-Request-Id` header: quote it to support."
        ),
        **{field: _EXTRA_FIELDS[field]() for field in extra},
    }
    return type(name, (serializers.Serializer,), {**fields, "Meta": type("Meta", (), {"ref_name": name})})


def error_response(name: str, *codes: str, description: str = "", extra: tuple[str, ...] = ()):
    listed = ", ".join(f"`{code}`" for code in codes)
    return OpenApiResponse(
        error_serializer(name, codes, extra), description=f"{description} ({listed})".strip()
    )


BAD_INPUT = error_response(
    "BadInputError",
    *BAD_INPUT_CODES,
    description="The body or a parameter is invalid: not JSON, too deep, NUL characters, wrong types",
    extra=("errors", "field"),
)
NOT_AUTHENTICATED = error_response(
    "NotAuthenticatedError",
    "not_authenticated",
    description="No credentials, or an unknown or revoked API key",
)
FORBIDDEN = error_response(
    "ForbiddenError",
    "no_organization",
    "admin_required",
    "permission_denied",
    description="A signed-in person who is no admin of an organization, or a failed CSRF check",
)
NOT_FOUND = error_response("NotFoundError", "not_found", description="Not found in your organization")
COMMON = {
    405: error_response("MethodNotAllowedError", "method_not_allowed", description="Another method"),
    406: error_response(
        "NotAcceptableError", "not_acceptable", description="`Accept` or `?format=` asks for other than JSON"
    ),
    414: error_response(
        "UriTooLongError", "uri_too_long", description=f"The URL is over {MAX_URL_LENGTH} characters"
    ),
    429: error_response(
        "ThrottledError",
        "throttled",
        description="Over the rate limit of your API key: retry after `Retry-After` seconds",
    ),
}
WITH_BODY = {
    400: BAD_INPUT,
    413: error_response(
        "PayloadTooLargeError", "payload_too_large", description=f"A body over {MAX_BODY_BYTES // 1024} KiB"
    ),
    415: error_response(
        "UnsupportedMediaTypeError",
        "unsupported_media_type",
        description="A body that is not application/json",
    ),
}
IDEMPOTENCY_CONFLICT = error_response("IdempotencyConflictError", *IDEMPOTENCY_CODES)
IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
        "pattern": IDEMPOTENCY_KEY_PATTERN.pattern,
    },
    OpenApiParameter.HEADER,
    description="Any unique string (a UUID) of up to 255 characters: a retry with the same key and "
    "body within 24 hours gets the first answer again, without running twice.",
)


def conflict(name: str, *codes: str, extra: tuple[str, ...] = ()) -> dict:
    """The 409 of a write: its own codes and the idempotency key's."""
    return {409: error_response(name, *codes, *IDEMPOTENCY_CODES, description="Refused", extra=extra)}


class ApiAutoSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method in IDEMPOTENT_METHODS:
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    def _get_response_bodies(self, direction="response"):
        # `extend_schema` overrides get_response_serializers(), so the shared answers
        # are added here, after an operation's own.
        responses = super()._get_response_bodies(direction)
        shared = dict(COMMON)
        if self.method in ("POST", "PATCH", "PUT"):
            shared.update(WITH_BODY)
        if self.method in IDEMPOTENT_METHODS:
            shared.setdefault(400, BAD_INPUT)  # a malformed Idempotency-Key
            shared[409] = IDEMPOTENCY_CONFLICT
        for status, response in shared.items():
            code = str(status)
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses


def drop_url_aliases(endpoints, **kwargs):
    """SPECTACULAR preprocessing hook: each path once, as `licensing/api_urls.py` names it."""
    return [endpoint for endpoint in endpoints if not getattr(endpoint[3], "initkwargs", {}).get("url_alias")]
