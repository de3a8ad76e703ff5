"""Who may act on a subscription's seats in this request, and how to link back.

Two ways in: a unique link (`/l/<token>/…`, no sign-in) or a signed-in admin of the
subscription's organization (`/subscriptions/<id>/change/…`). Either way the
subscription comes from the credential, never from an id alone.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from subscriptions import links
from subscriptions.models import CapabilityLink, Membership, Subscription
from subscriptions.tenancy import membership_for


@dataclass
class Access:
    subscription: Subscription
    link: CapabilityLink | None = None
    token: str | None = None
    user: object | None = None

    @property
    def via(self) -> str:
        return "link" if self.link else "dashboard"

    @property
    def actor_label(self) -> str:
        return f"unique link sent to {self.link.email}" if self.link else ""

    @property
    def signing_only(self) -> bool:
        """A named signer's link reaches one agreement and nothing else."""
        return bool(self.link and self.link.action == CapabilityLink.Action.SIGN)

    def url(self, name: str, *args) -> str:
        if self.link:
            return reverse(f"portal:link_{name}", args=[self.token, *args])
        return reverse(f"portal:admin_{name}", args=[self.subscription.pk, *args])


def invalid_link(request):
    return render(request, "portal/link_invalid.html", status=404)


def with_access(*actions):
    """Resolve `request.access` from the URL's token or from the signed-in admin."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, token=None, subscription_pk=None, **kwargs):
            if token is not None:
                link = links.link_resolve(token, actions=actions)
                if link is None or not link.subscription.is_live:
                    return invalid_link(request)
                links.link_touch(link)
                request.access = Access(subscription=link.subscription, link=link, token=token)
            else:
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                if membership_for(request.user) is None:
                    raise PermissionDenied("You are not a member of any customer organization.")
                subscription = (
                    Subscription.objects.select_related("plan__product", "organization")
                    .filter(
                        pk=subscription_pk,
                        organization__memberships__user=request.user,
                        organization__memberships__role=Membership.Role.ADMIN,
                    )
                    .first()
                )
                if subscription is None:
                    raise Http404
                request.access = Access(subscription=subscription, user=request.user)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
