"""The tenant of an API request, resolved from its credentials in one place.

An API key belongs to one organization; a signed-in person acts for the
organization they work in (`tenancy.membership_for`: the one chosen in their
session), as an admin of it. Nothing the client sends (an id in the
URL or the body) ever chooses the organization: views fetch objects *within* the
one resolved here, so another tenant's id is simply not found.
"""

from rest_framework import exceptions

from .api_auth import ApiKeyPrincipal
from .models import Membership, Organization
from .tenancy import membership_for


def organization_for_request(request) -> Organization:
    """The organization an authenticated API request acts for.

    Raises 403 `no_organization` for a person with no membership and 403
    `admin_required` for one who is only a member (the API manages seats, users
    and licences, which only admins may do)."""
    principal = request.user
    if isinstance(principal, ApiKeyPrincipal):
        organization = Organization.objects.filter(pk=principal.organization_id).first()
        if organization is None:
            raise exceptions.AuthenticationFailed("This API key's organization no longer exists.")
        return organization
    membership = membership_for(principal, getattr(request, "session", None))
    if membership is None:
        raise exceptions.PermissionDenied(
            "You are not a member of any customer organization.", code="no_organization"
        )
    if membership.role != Membership.Role.ADMIN:
        raise exceptions.PermissionDenied(
            "Only your organization's admins can use the API.", code="admin_required"
        )
    return membership.organization


def audit_actor(request) -> dict:
    """Who the audit log names for this request: the signed-in person, or the API key."""
    principal = request.user
    if isinstance(principal, ApiKeyPrincipal):
        return {"actor_label": str(principal)}
    return {"actor": principal}
