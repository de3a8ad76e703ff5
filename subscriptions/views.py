from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import seat_changes, services
from .errors import DomainError
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
