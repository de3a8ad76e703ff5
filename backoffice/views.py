"""Back-office pages. Every view is wrapped in `backoffice_view` and finds objects
through `request.scope`; views parse, call one service and render or redirect, and a
refused action is shown as a message saying what happened."""

import csv
import json
from datetime import UTC

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agreements import selectors as agreement_selectors
from billing import receipts
from licensing import connected_orgs, delivery
from licensing import selectors as licensing
from pdfs.downloads import pdf_response
from subscriptions import links
from subscriptions.errors import DomainError
from subscriptions.models import SeatChange
from subscriptions.words import counted

from . import selectors, services
from .access import backoffice_view
from .forms import AccountForm, ConnectedOrgForm, SubscriptionForm, add_service_error

QUEUE_PAGE_SIZE = 50


# --- Approvals -------------------------------------------------------------------------


@backoffice_view
@require_GET
def approvals(request):
    """The approvals queue: decreases waiting for a decision, oldest first."""
    filters = {
        "product": request.GET.get("product", ""),
        "account_manager": request.GET.get("account_manager", ""),
        "overdue_only": request.GET.get("overdue") == "1",
        "search": request.GET.get("q", "")[:100],
        "sort": request.GET.get("sort", "oldest"),
    }
    now = timezone.now()
    changes = selectors.approvals_queryset(scope=request.scope, now=now, **filters)
    page = Paginator(changes, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = [selectors.approval_row(change, now=now) for change in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "backoffice/approvals.html",
        {
            "page": page,
            "filters": filters,
            "choices": selectors.queue_filter_choices(request.scope),
            "query": query.urlencode(),
            "overdue_days": selectors.APPROVAL_OVERDUE_BUSINESS_DAYS,
        },
    )


@backoffice_view
@require_GET
def seat_change(request, number: str):
    change = request.scope.seat_change(number)
    return _seat_change_page(request, change)


def _seat_change_page(request, change: SeatChange, *, reason: str = "", reason_error: str = "", status=200):
    return render(
        request,
        "backoffice/seat_change.html",
        {
            "detail": selectors.seat_change_detail(change),
            "seat_change": change,
            "subscription": change.subscription,
            "reason": reason,
            "reason_error": reason_error,
        },
        status=status,
    )


@backoffice_view
@require_GET
def agreement_pdf(request, number: str):
    change = request.scope.seat_change(number)
    found = selectors.agreement_pdf(change)
    if found is None:
        raise Http404
    agreement, data = found
    return pdf_response(
        data,
        filename=agreement_selectors.agreement_pdf_filename(
            agreement, organization_name=change.subscription.organization.name
        ),
        as_attachment=request.GET.get("download") == "1",
    )


@backoffice_view
@require_GET
def payment_receipt(request, pk: int):
    payment = selectors.payment_receipt(scope=request.scope, pk=pk)
    if payment is None:
        raise Http404
    return pdf_response(
        receipts.receipt_pdf(payment),  # rendered on first use if not yet emailed
        filename=receipts.receipt_filename(payment),
        as_attachment=request.GET.get("download") == "1",
    )


@backoffice_view
@require_POST
def approve(request, number: str):
    change = request.scope.seat_change(number)
    try:
        change = services.seat_change_approve(seat_change=change, actor=request.user, request=request)
    except DomainError as error:
        messages.warning(request, error.message)
        return redirect("backoffice:seat_change", number)
    if change.state == SeatChange.State.SCHEDULED:
        messages.success(
            request,
            f"Approved: {change.number} takes effect on {change.effective_at:%d %B %Y %H:%M} UTC. "
            "The customer has been told.",
        )
    else:
        messages.success(
            request,
            f"Approved: {change.subscription.organization.name} now has "
            f"{counted(change.new_quantity, 'user')}. The customer has been told.",
        )
    return redirect("backoffice:approvals")


@backoffice_view
@require_POST
def reject(request, number: str):
    change = request.scope.seat_change(number)
    reason = request.POST.get("reason", "")
    try:
        change = services.seat_change_reject(
            seat_change=change, actor=request.user, reason=reason, request=request
        )
    except DomainError as error:
        if error.extra.get("field") == "reason":
            return _seat_change_page(request, change, reason=reason, reason_error=error.message, status=400)
        messages.warning(request, error.message)
        return redirect("backoffice:seat_change", number)
    messages.success(request, f"Rejected: {change.number}. The customer has been sent your reason.")
    return redirect("backoffice:approvals")


# --- Accounts --------------------------------------------------------------------------


@backoffice_view
@require_GET
def accounts(request):
    search = request.GET.get("q", "")[:100]
    page = selectors.list_page(
        selectors.accounts_list(scope=request.scope, search=search),
        number=request.GET.get("page"),
        size=QUEUE_PAGE_SIZE,
    )
    return render(request, "backoffice/accounts.html", {"page": page, "search": search})


@backoffice_view
@require_GET
def account(request, pk: int):
    organization = request.scope.organization(pk)
    return render(
        request,
        "backoffice/account.html",
        {
            "overview": selectors.account_overview(organization=organization),
            "organization": organization,
            "connected_org": delivery.connected_org_for(organization),
        },
    )


@backoffice_view
@require_GET
def audit_csv(request, pk: int):
    """The organization's whole audit log as CSV, oldest first (streamed)."""
    organization = request.scope.organization(pk)
    services.audit_export_record(organization=organization, actor=request.user, request=request)
    writer = csv.writer(_Echo())
    header = [
        "time (UTC)",
        "actor",
        "actor label",
        "action",
        "object type",
        "object id",
        "object",
        "before",
        "after",
        "ip",
    ]

    def rows():
        yield writer.writerow(header)
        for event in selectors.audit_events_for_export(organization):
            yield writer.writerow(
                [
                    _csv_safe(cell)
                    for cell in (
                        event.created_at.astimezone(UTC).isoformat(),
                        event.actor.email if event.actor else "",
                        event.actor_label,
                        event.action,
                        event.object_type,
                        event.object_id,
                        event.object_repr,
                        json.dumps(event.before, ensure_ascii=False) if event.before is not None else "",
                        json.dumps(event.after, ensure_ascii=False) if event.after is not None else "",
                        event.ip_address or "",
                    )
                ]
            )

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{organization.slug}-{stamp}.csv"'
    return response


class _Echo:
    def write(self, value):
        return value


def _csv_safe(value) -> str:
    """Keep spreadsheet programs from running a cell as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@backoffice_view
@require_http_methods(["GET", "POST"])
def account_new(request):
    sees_all = request.scope.sees_all
    form = AccountForm(request.POST or None, sees_all=sees_all)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            organization, subscription, invitation = services.account_create(
                actor=request.user,
                name=data["name"],
                slug=data["slug"],
                billing_email=data["billing_email"],
                admin_name=data["admin_name"],
                admin_email=data["admin_email"],
                account_manager=data.get("account_manager"),
                plan=data["plan"],
                seats=data["seats"],
                period_start=data["period_start"],
                activate=data["activate"],
                request=request,
            )
        except DomainError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _created_message(organization.name, subscription, invitation))
            return redirect("backoffice:account", organization.pk)
    return render(request, "backoffice/account_new.html", {"form": form}, status=400 if form.errors else 200)


def _created_message(name: str, subscription, invitation) -> str:
    product = subscription.plan.product.name
    if subscription.is_live:
        text = f"{name}: {product} is active; the unique links went to {subscription.admin_email}."
    else:
        text = f"{name}: {product} created, not yet active. Activate it when the customer is ready."
    if invitation is not None:
        text += (
            f" {invitation.email} already has a sign-in account, so it was sent an invitation:"
            " it becomes an admin once it accepts."
        )
    return text


@backoffice_view
@require_http_methods(["GET", "POST"])
def subscription_new(request, pk: int):
    organization = request.scope.organization(pk)
    form = SubscriptionForm(request.POST or None, initial={"admin_email": organization.billing_email})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            subscription = services.subscription_create(
                organization=organization,
                plan=data["plan"],
                seats=data["seats"],
                admin_email=data["admin_email"],
                period_start=data["period_start"],
                activate=data["activate"],
                actor=request.user,
                request=request,
            )
        except DomainError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _created_message(organization.name, subscription, None))
            return redirect("backoffice:account", organization.pk)
    return render(
        request,
        "backoffice/subscription_new.html",
        {"form": form, "organization": organization},
        status=400 if form.errors else 200,
    )


def _account_redirect(subscription):
    return redirect(
        reverse("backoffice:account", args=[subscription.organization_id]) + f"#sub-{subscription.pk}"
    )


@backoffice_view
@require_POST
def subscription_activate(request, pk: int):
    subscription = request.scope.subscription(pk)
    try:
        links.subscription_activate(subscription=subscription, actor=request.user, request=request)
    except DomainError as error:
        messages.warning(request, error.message)
    else:
        messages.success(
            request,
            f"{subscription.plan.product.name} is active: “is now active” with the unique links "
            f"sent to {subscription.admin_email}.",
        )
    return _account_redirect(subscription)


@backoffice_view
@require_POST
def links_send(request, pk: int):
    """Email the admin a new pair of links; the ones they have keep working."""
    subscription = request.scope.subscription(pk)
    if not subscription.is_live:
        messages.warning(request, "The subscription is not active: activate it to send its links.")
        return _account_redirect(subscription)
    links.links_email(
        subscription=subscription,
        subject=f"Your {subscription.plan.product.name} links",
        actor=request.user,
        request=request,
    )
    messages.success(request, f"Links sent to {subscription.admin_email}. Earlier links still work.")
    return _account_redirect(subscription)


@backoffice_view
@require_POST
def links_rotate(request, pk: int):
    """Revoke every emailed link of the subscription and email new ones."""
    subscription = request.scope.subscription(pk)
    links.links_rotate(subscription=subscription, actor=request.user, request=request)
    messages.success(
        request, f"Old links no longer work; new ones are on their way to {subscription.admin_email}."
    )
    return _account_redirect(subscription)


@backoffice_view
@require_POST
def link_revoke(request, pk: int):
    link = request.scope.link(pk)
    links.link_revoke(link=link, actor=request.user, request=request)
    messages.success(
        request, f"The {link.get_action_display().lower()} link sent to {link.email} no longer works."
    )
    return _account_redirect(link.subscription)


@backoffice_view
@require_POST
def test_push(request, pk: int):
    """Send the organization's current seat counts to its connected org now."""
    organization = request.scope.organization(pk)
    outcome = delivery.test_push(organization=organization, actor=request.user, request=request)
    if outcome.ok:
        messages.success(request, f"Test push: {outcome.detail}")
    else:
        messages.error(request, f"Test push failed: {outcome.detail}")
    return redirect(reverse("backoffice:account", args=[organization.pk]) + "#pushes")


@backoffice_view
@require_http_methods(["GET", "POST"])
def connected_org_edit(request, pk: int):
    """Choose the organization's connector and set its URL or credentials. A newly
    generated webhook signing secret is shown once, on the answer to the POST."""
    organization = request.scope.organization(pk)
    current = delivery.connected_org_for(organization)
    form = ConnectedOrgForm(request.POST or None, initial=ConnectedOrgForm.initial_from(current))
    if request.method == "POST" and form.is_valid():
        try:
            saved = connected_orgs.connected_org_save(
                organization=organization,
                data=connected_orgs.ConnectedOrgInput(**form.cleaned_data),
                actor=request.user,
                request=request,
            )
        except DomainError as error:
            add_service_error(form, error)
        else:
            if saved.new_webhook_secret:
                response = render(
                    request,
                    "backoffice/connected_org_secret.html",
                    {
                        "organization": organization,
                        "connected_org": saved.connected_org,
                        "secret": saved.new_webhook_secret,
                    },
                )
                response["Cache-Control"] = "no-store"
                return response
            if saved.changed:
                messages.success(request, "Connector saved. Send a test push to check it.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect(reverse("backoffice:account", args=[organization.pk]) + "#pushes")
    return render(
        request,
        "backoffice/connected_org.html",
        {"form": form, "organization": organization, "connected_org": current},
        status=400 if form.errors else 200,
    )


# --- A change on the customer's behalf -------------------------------------------------


@backoffice_view
@require_http_methods(["GET", "POST"])
def change_start(request, pk: int):
    """Start a seat change the customer asked for; their admin signs it from an email."""
    subscription = request.scope.subscription(pk)
    admin = (
        subscription.organization.memberships.filter(user__email__iexact=subscription.admin_email)
        .select_related("user")
        .first()
    )
    form = {
        "new_total": request.POST.get("new_total", ""),
        "licences_to_free": request.POST.getlist("licences_to_free"),
        "signer_name": request.POST.get("signer_name", admin.user.full_name if admin else ""),
        "signer_email": request.POST.get("signer_email", subscription.admin_email),
    }
    errors = {}
    if request.method == "POST":
        try:
            change = services.seat_change_start_for_customer(
                subscription=subscription,
                actor=request.user,
                raw_new_total=form["new_total"],
                licences_to_free=form["licences_to_free"],
                signer_name=form["signer_name"],
                signer_email=form["signer_email"],
                request=request,
            )
        except DomainError as error:
            errors[error.extra.get("field", "general")] = error.message
        else:
            messages.success(
                request,
                f"Seat change {change.number} started: {form['signer_email']} has been emailed "
                "the agreement to sign.",
            )
            return redirect("backoffice:seat_change", change.number)
    return render(
        request,
        "backoffice/change_start.html",
        {
            "subscription": subscription,
            "form": form,
            "errors": errors,
            "licences_in_use": licensing.licences_in_use(subscription=subscription),
            "licensed_users": licensing.licensed_users(subscription=subscription),
            "open_change": subscription.seat_changes.filter(state__in=SeatChange.OPEN_STATES).first(),
        },
        status=400 if errors else 200,
    )
