"""Resolving the tenant for a customer-facing request.

The organization always comes from the signed-in user's memberships, never from an
id in the URL or the form: views then fetch objects *within* that organization, so
another tenant's id simply isn't found.

A person in several organizations works in one at a time: the one they chose with
the switcher in the header (`organization_switch`, kept in the session). The choice
is checked against their memberships on every request; without a valid one (none
made yet, or a membership since removed) they are in the first of their
organizations in a stable order: those they administer first, then by name, then by
id. The header always says which organization a page is for.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Case, When

from . import numbers
from .errors import NotFound
from .models import Membership

SESSION_KEY = "organization_id"


def memberships_of(user) -> list[Membership]:
    """The user's memberships with their organizations, in the stable order above."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(
        Membership.objects.filter(user_id=user.pk)
        .select_related("organization")
        .order_by(
            Case(When(role=Membership.Role.ADMIN, then=0), default=1),
            "organization__name",
            "organization_id",
        )
    )


def membership_for(user, session=None) -> Membership | None:
    """The membership a request of `user` acts through: the organization chosen in
    `session` if it is still one of theirs, else their first (see the module
    docstring). None for anonymous users and people in no organization."""
    memberships = memberships_of(user)
    return choose(memberships, session) if memberships else None


def choose(memberships: list[Membership], session=None) -> Membership:
    """Of `memberships` (non-empty, from `memberships_of`), the one chosen in
    `session`, else the first."""
    chosen = session.get(SESSION_KEY) if session is not None else None
    return next((m for m in memberships if m.organization_id == chosen), memberships[0])


def organization_switch(*, user, session, organization_id) -> Membership:
    """Make `organization_id` the organization `user` works in for this session.
    Raises NotFound, changing nothing, unless they are a member of it."""
    organization_id = numbers.whole_number(organization_id)
    membership = next(
        (m for m in memberships_of(user) if m.organization_id == organization_id),
        None,
    )
    if membership is None:
        raise NotFound("You are not a member of that organization.")
    session[SESSION_KEY] = membership.organization_id
    return membership


def org_member_required(*, admin: bool = False):
    """Decorator for customer views: sets `request.organization` and
    `request.membership`. Anonymous users go to sign-in; users without a membership
    (or without the admin role when `admin=True`) get 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = membership_for(request.user, request.session)
            if membership is None:
                raise PermissionDenied("You are not a member of any customer organization.")
            if admin and membership.role != Membership.Role.ADMIN:
                raise PermissionDenied("Only your organization's admins can do this.")
            request.membership = membership
            request.organization = membership.organization
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
