"""`Authorization: Api-Key <key>`: authenticates a request as one organization."""

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from . import hot_cache
from .models import ApiKey, hash_secret

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """Stands in for `request.user` on requests made with an API key."""

    api_key_id: int
    organization_id: int
    prefix: str

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __str__(self) -> str:
        return f"API key {self.prefix}…"


def principal_for_key(raw_key: str) -> ApiKeyPrincipal | None:
    key_hash = hash_secret(raw_key)

    def lookup() -> ApiKeyPrincipal | None:
        row = (
            ApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True)
            .values_list("pk", "organization_id", "prefix")
            .first()
        )
        return ApiKeyPrincipal(*row) if row else None

    # A key's answer goes with its organization's (revoking it invalidates that
    # organization); an unknown key's with the shared scope (a new key invalidates it).
    return hot_cache.get_or_compute(
        ("api-key", key_hash),
        lookup,
        organization_of=lambda principal: principal.organization_id if principal else None,
    )


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed("No API key given after “Api-Key”.")
        principal = principal_for_key(raw_key)
        if principal is None:
            raise exceptions.AuthenticationFailed("This API key is unknown or has been revoked.")
        return principal, principal

    def authenticate_header(self, request) -> str:
        return KEYWORD
