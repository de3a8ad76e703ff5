"""Resolving the tenant for a customer-facing request.

The organization always comes from the signed-in user's membership, never from an
id in the URL or the form: views then fetch objects *within* that organization, so
another tenant's id simply isn't found.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from .models import Membership


def membership_for(user) -> Membership | None:
    """The user's membership, preferring one where they are an admin."""
    if not getattr(user, "is_authenticated", False):
        return None
    memberships = Membership.objects.filter(user=user).select_related("organization")
    admin = memberships.filter(role=Membership.Role.ADMIN).order_by("organization__name").first()
    return admin or memberships.order_by("organization__name").first()


def org_member_required(*, admin: bool = False):
    """Decorator for customer views: sets `request.organization` and
    `request.membership`. Anonymous users go to sign-in; users without a membership
    (or without the admin role when `admin=True`) get 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = membership_for(request.user)
            if membership is None:
                raise PermissionDenied("You are not a member of any customer organization.")
            if admin and membership.role != Membership.Role.ADMIN:
                raise PermissionDenied("Only your organization's admins can do this.")
            request.membership = membership
            request.organization = membership.organization
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
