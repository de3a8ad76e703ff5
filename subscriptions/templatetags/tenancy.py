from django import template

from subscriptions import tenancy

register = template.Library()


@register.inclusion_tag("subscriptions/_organization_switcher.html", takes_context=True)
def organization_switcher(context):
    """The organization the page is for and, for people in several, a switcher."""
    request = context.get("request")
    user = getattr(request, "user", None)
    memberships = tenancy.memberships_of(user)
    current = tenancy.choose(memberships, request.session) if memberships else None
    # A unique link's page is about the link's organization, whichever one the person
    # signed in works in: the header names the page's, not the session's.
    access = getattr(request, "access", None)
    link = getattr(access, "link", None)
    page_organization = access.subscription.organization if link is not None else None
    if (
        page_organization is not None
        and current is not None
        and current.organization_id == page_organization.pk
    ):
        page_organization = None
    return {
        "memberships": memberships,
        "current": current,
        "page_organization": page_organization,
        "csrf_token": context.get("csrf_token"),
    }
