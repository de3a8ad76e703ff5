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
    return {"memberships": memberships, "current": current, "csrf_token": context.get("csrf_token")}
