"""Who may act on a subscription's seats in this request, and how to link back.

Two ways in: a unique link or a signed-in admin of the subscription's organization
(`/subscriptions/<id>/change/…`). Either way the subscription comes from the
credential, never from an id alone.

A unique link is emailed as `/l/<token>/`. Opening it stores the link's id in the
session under a short random id of that session's own and redirects to
`/link/<session id>/…`, so no page of the link carries the token in its URL (nor in
its Referer, its history entry or the logs of a script it loads, like Stripe.js on
the payment page). On every request the session's link is read again from its row: a
revoked link stops working at once. The session grants that link's one action on its
one subscription, nothing more, and is worthless in another browser.
"""

import secrets
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from agreements.services import Signer
from subscriptions import links
from subscriptions.models import CapabilityLink, Membership, Subscription
from subscriptions.tenancy import membership_for

# session[LINKS_SESSION_KEY] = {session id of a link: the link's pk}
LINKS_SESSION_KEY = "portal_links"
# The links one browser has opened; the oldest are forgotten beyond this.
MAX_LINKS_PER_SESSION = 20


@dataclass
class Access:
    subscription: Subscription
    link: CapabilityLink | None = None
    sid: str | None = None
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

    @property
    def signer(self) -> Signer:
        """Who would sign through this access: the link (as the address it was emailed
        to) or the signed-in admin (as their account's address)."""
        return Signer(link=self.link) if self.link else Signer(user=self.user)

    def url(self, name: str, *args) -> str:
        if self.link:
            return reverse(f"portal:link_{name}", args=[self.sid, *args])
        return reverse(f"portal:admin_{name}", args=[self.subscription.pk, *args])


def invalid_link(request):
    return render(request, "portal/link_invalid.html", status=404)


def link_open(request, link: CapabilityLink) -> str:
    """Give this browser's session the capability of `link`; returns the session's id
    for it (the same one when the link is opened again). The session key changes, so
    that a session id planted in the browser beforehand never gains the capability."""
    opened = dict(request.session.get(LINKS_SESSION_KEY) or {})
    sid = next((key for key, pk in opened.items() if pk == link.pk), None)
    if sid is None:
        sid = secrets.token_urlsafe(9)
        opened[sid] = link.pk
        for oldest in list(opened)[:-MAX_LINKS_PER_SESSION]:
            del opened[oldest]
    request.session.cycle_key()
    request.session[LINKS_SESSION_KEY] = opened
    return sid


def _link_of_session(request, sid: str, actions) -> CapabilityLink | None:
    opened = request.session.get(LINKS_SESSION_KEY) or {}
    pk = opened.get(sid)
    if not isinstance(pk, int):
        return None
    link = links.link_active(pk=pk)
    if link is None:
        # Revoked (or gone): forget it, so the session stops carrying it.
        request.session[LINKS_SESSION_KEY] = {key: value for key, value in opened.items() if key != sid}
        return None
    return link if link.action in actions else None


def with_access(*actions):
    """Resolve `request.access` from the session's link named in the URL, or from the
    signed-in admin."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, sid=None, subscription_pk=None, **kwargs):
            if sid is not None:
                link = _link_of_session(request, sid, actions)
                if link is None or not link.subscription.is_live:
                    return invalid_link(request)
                links.link_touch(link)
                request.access = Access(subscription=link.subscription, link=link, sid=sid)
            else:
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                # The organization the person is working in (the header's switcher).
                membership = membership_for(request.user, request.session)
                if membership is None:
                    raise PermissionDenied("You are not a member of any customer organization.")
                subscription = None
                if membership.role == Membership.Role.ADMIN:
                    subscription = (
                        Subscription.objects.select_related("plan__product", "organization")
                        .filter(pk=subscription_pk, organization_id=membership.organization_id)
                        .first()
                    )
                if subscription is None:
                    raise Http404
                request.access = Access(subscription=subscription, user=request.user)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
