from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.services import has_verified_email

from . import invitations, seat_changes, services, tenancy
from .errors import DomainError
from .invitations import InvitationForAnotherAddress
from .models import ApiKey, Membership, Subscription
from .tenancy import org_member_required


@org_member_required()
def subscription_detail(request, pk: int):
    """ "Manage subscription": the subscription's plan, seats and period."""
    subscription = (
        Subscription.objects.filter(organization=request.organization, pk=pk)
        .select_related("plan__product")
        .first()
    )
    if subscription is None:
        raise Http404
    open_change = seat_changes.open_seat_change(subscription=subscription)
    return render(
        request,
        "subscriptions/detail.html",
        {
            "subscription": subscription,
            "suggested_total": request.GET.get("new_total", ""),
            "is_admin": request.membership.role == Membership.Role.ADMIN,
            "open_change": open_change,
            "seat_changes": subscription.seat_changes.all()[:20],
            "pushes": subscription.seat_syncs.select_related("seat_change").order_by("-version")[:20],
        },
    )


@org_member_required(admin=True)
@require_http_methods(["GET", "POST"])
@never_cache  # the answer to a POST shows the new key, once: no cache may keep a copy
def api_keys(request):
    new_key = None
    if request.method == "POST":
        try:
            api_key, new_key = services.api_key_create(
                organization=request.organization,
                name=request.POST.get("name", ""),
                actor=request.user,
                request=request,
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request, f"API key “{api_key.name}” created. Copy it now: it is shown only once."
            )
    keys = ApiKey.objects.filter(organization=request.organization)
    return render(request, "subscriptions/api_keys.html", {"keys": keys, "new_key": new_key})


@org_member_required(admin=True)
@require_POST
def api_key_revoke(request, pk: int):
    try:
        api_key = services.api_key_revoke(
            organization=request.organization, pk=pk, actor=request.user, request=request
        )
    except DomainError as error:
        raise Http404(error.message) from error
    messages.success(request, f"API key “{api_key.name}” revoked. Requests using it are refused.")
    return redirect("subscriptions:api_keys")


@require_POST
def organization_switch(request):
    """The header's switcher: work in another of one's organizations. Only one's own
    memberships can be chosen; anything else changes nothing."""
    if not request.user.is_authenticated:
        return redirect_to_login("/")
    try:
        membership = tenancy.organization_switch(
            user=request.user, session=request.session, organization_id=request.POST.get("organization")
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"You are now working in {membership.organization.name}.")
    return redirect("dashboard")


@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    """An emailed invitation to an organization: shown to the signed-in person, and
    accepted (POST) only by the account that verified the invited address."""
    invitation = invitations.invitation_resolve(token)
    if invitation is None:
        return render(request, "subscriptions/invitation_invalid.html", status=404)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    can_accept = has_verified_email(request.user, invitation.email)
    # Not theirs: the page says whose it is and how to sign in as them.
    status = 200 if can_accept else InvitationForAnotherAddress.status_code
    if request.method == "POST":
        try:
            membership = invitations.invitation_accept(
                invitation=invitation, user=request.user, request=request
            )
        except DomainError as error:
            messages.error(request, error.message)
            status = error.status_code
        else:
            tenancy.organization_switch(
                user=request.user, session=request.session, organization_id=membership.organization_id
            )
            role = membership.get_role_display().lower()
            messages.success(request, f"You have joined {membership.organization.name} as {role}.")
            return redirect("dashboard")
    return render(
        request,
        "subscriptions/invitation.html",
        {"invitation": invitation, "can_accept": can_accept},
        status=status,
    )
