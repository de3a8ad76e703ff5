"""The page for a refusal (403): what was refused and where this person can go instead,
so that a member of staff who opens a customer page, or a customer who opens the back
office, is never left on a bare "403 Forbidden"."""

from django.shortcuts import render
from django.urls import reverse

from subscriptions import tenancy


def _where_to_go(user) -> list[tuple[str, str]]:
    if not user.is_authenticated:
        return [("Sign in", reverse("account_login"))]
    places = []
    if user.is_staff and user.staff_role:
        places.append(("Back office: approvals and your accounts", reverse("backoffice:approvals")))
    if tenancy.memberships_of(user):
        places.append(("My subscriptions", reverse("dashboard")))
    if user.is_staff:
        places.append(("The vendor's admin", reverse("admin:index")))
    return places


def permission_denied(request, exception=None):
    user = request.user
    is_staff = user.is_authenticated and user.is_staff
    return render(
        request,
        "403.html",
        {
            "reason": str(exception or "") or "You can't open this page.",
            "places": _where_to_go(user),
            "staff_without_organization": is_staff and not tenancy.memberships_of(user),
        },
        status=403,
    )
