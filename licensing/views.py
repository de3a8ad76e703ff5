"""Customer pages: My subscriptions and Manage licences.

Every view gets the organization from the signed-in user's membership and looks
objects up inside it; a refused action changes nothing and is shown as a message
on the page, with the offer to increase seats when no licence is left.
"""

from urllib.parse import quote, urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from subscriptions import numbers
from subscriptions.errors import DomainError
from subscriptions.tenancy import org_member_required

from . import imports, selectors, services, wizard
from .errors import NoLicenceAvailable
from .models import OrgUser, SetupWizard, UserImport

USERS_PER_PAGE = 100


def _wizard_target(request) -> str:
    """The wizard step a request came from (`next`), if that is what it names."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/welcome/") and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return target
    return ""


def _back(request):
    """Where an action returns: the wizard step it came from, else Manage licences."""
    return redirect(_wizard_target(request) or "licensing:manage")


def _report(request, error: DomainError) -> None:
    extra_tags = "no-licence" if isinstance(error, NoLicenceAvailable) else ""
    messages.error(request, error.message, extra_tags=extra_tags)
    if isinstance(error, NoLicenceAvailable):
        request.session["increase_url"] = error.increase_url


# The add-user form (or the user) a "buy the missing seat" offer is about, kept in the
# session while the admin reads the offer on the portal's page (which shows the amounts).
BUY_SEAT_SESSION_KEY = "buy_seat"


def _offer_buying_a_seat(
    request, error: NoLicenceAvailable, *, user_pk=None, values=None, status=None, subscription_ids=None
):
    """No licence left for an Active or Locked user: send the admin to the offer to add
    the user (or make them Active or Locked: `status`, with `subscription_ids`) anyway
    and increase the licences by 1."""
    request.session[BUY_SEAT_SESSION_KEY] = {
        "subscription": error.subscription.pk,
        "user": user_pk,
        "values": values,
        "status": status,
        "subscriptions": subscription_ids or [],
        "next": _wizard_target(request),
    }
    return redirect("portal:admin_buy_seat", error.subscription.pk)


def _subscription_rows(organization, *, with_push=False):
    """Each subscription with its seat counts (and, `with_push`, where its latest count
    stands in the org), read as the API lists them (`subscriptions_filtered`: the seats
    each renewal bills come in the same query), in as many queries for one subscription
    as for many."""
    subscriptions = list(selectors.subscriptions_filtered(organization=organization))
    pushes = selectors.push_statuses(subscriptions=subscriptions) if with_push else {}
    rows = []
    for subscription in subscriptions:
        row = {"subscription": subscription, "seats": selectors.seat_summary(subscription)}
        if with_push:
            row["push"] = pushes[subscription.pk]
        rows.append(row)
    return rows


def _with_licence_cells(users, rows):
    """Each user's cell per subscription: licensed, waiting for a licence being bought
    (with the seat change's number), or neither."""
    for user in users:
        held = {a.subscription_id for a in user.licences.all()}
        waiting = {p.subscription_id: p.seat_change_number for p in user.pending_licences.all()}
        user.licence_cells = [
            {
                "subscription": row["subscription"],
                "held": row["subscription"].pk in held,
                "waiting_for": waiting.get(row["subscription"].pk),
            }
            for row in rows
        ]
    return users


def _licence_choices(rows, ticked):
    """The live subscriptions as licence checkboxes: ticked or not (ids as strings, as
    forms send them), with the seat counts for "(N available)"."""
    return [
        {**row, "ticked": str(row["subscription"].pk) in ticked}
        for row in rows
        if row["subscription"].is_live
    ]


def _add_user_form(organization, rows, form_values=None):
    """The Add-user form's values, by default an Active user with a licence of every
    live product (`selectors.licences_offered`): in OpenCRM's words an Active user is a
    user with a licence, and where none is left saving offers the increase."""
    form = form_values or {
        "status": OrgUser.Status.ACTIVE,
        "subscriptions": [str(pk) for pk in selectors.licences_offered(organization=organization)],
    }
    return {"form": form, "licence_choices": _licence_choices(rows, set(form.get("subscriptions", [])))}


def _given_licences(org_user) -> str:
    products = sorted(
        a.subscription.plan.product.name
        for a in org_user.licences.select_related("subscription__plan__product")
    )
    if not products:
        return ", without a licence."
    if len(products) == 1:
        return f" with a {products[0]} licence."
    return f" with {', '.join(products[:-1])} and {products[-1]} licences."


@org_member_required()
def dashboard(request):
    """My subscriptions (a new organization's admin is walked through setup first)."""
    if request.membership.role == "admin" and wizard.wizard_pending(organization=request.organization):
        return redirect("wizard")
    return render(
        request,
        "licensing/dashboard.html",
        {"rows": _subscription_rows(request.organization, with_push=True)},
    )


@org_member_required()
def push_status(request):
    """Live state of each subscription's latest seat count, for the pages to poll."""
    return JsonResponse(
        {
            "subscriptions": [
                {
                    "id": row["subscription"].pk,
                    "state": row["push"].state,
                    "message": row["push"].message,
                    "maximum": row["seats"].maximum,
                    "available": row["seats"].available,
                }
                for row in _subscription_rows(request.organization, with_push=True)
            ]
        }
    )


@org_member_required()
def manage_licences(request):
    return _render_manage(request)


def _render_manage(request, form_values=None, status=200):
    organization = request.organization
    rows = _subscription_rows(organization)
    search = request.GET.get("q", "").strip()[:100]
    page = Paginator(
        selectors.org_users_with_licences(organization=organization, search=search, with_pending=True),
        USERS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    users = _with_licence_cells(list(page.object_list), rows)
    if request.membership.role == "admin":
        for text in services.licence_notices_take(organization=organization):
            messages.warning(request, text)
    return render(
        request,
        "licensing/manage.html",
        {
            "rows": rows,
            "users": users,
            "page": page,
            "search": search,
            "statuses": OrgUser.Status.choices,
            "licensed_statuses": OrgUser.LICENSED_STATUSES,
            **_add_user_form(organization, rows, form_values),
            "increase_url": request.session.pop("increase_url", None),
            "buy_seat_offer": request.session.pop("buy_seat_offer", None),
            "is_admin": request.membership.role == "admin",
        },
        status=status,
    )


@org_member_required(admin=True)
@require_POST
def org_user_add(request):
    values = {
        "name": request.POST.get("name", ""),
        "email": request.POST.get("email", ""),
        "status": request.POST.get("status", ""),
        "subscriptions": request.POST.getlist("subscriptions"),
    }
    subscription_ids = numbers.whole_numbers(values["subscriptions"])
    if subscription_ids is None:
        messages.error(request, "Choose products from the list.")
        return _render_manage(request, form_values=values, status=400)
    try:
        org_user = services.org_user_create(
            organization=request.organization,
            name=values["name"],
            email=values["email"],
            status=values["status"],
            subscription_ids=subscription_ids,
            actor=request.user,
            request=request,
        )
    except NoLicenceAvailable as error:
        if values["status"] in OrgUser.LICENSED_STATUSES:
            return _offer_buying_a_seat(request, error, values=values)
        _report(request, error)
        return _render_manage(request, form_values=values, status=error.status_code)
    except DomainError as error:
        _report(request, error)
        return _render_manage(request, form_values=values, status=error.status_code)
    messages.success(request, f"{org_user.name} added.")
    return _back(request)


def _org_user_or_404(request, pk: int) -> OrgUser:
    org_user = selectors.org_user_get(organization=request.organization, pk=pk)
    if org_user is None:
        raise Http404
    return org_user


@org_member_required(admin=True)
@require_POST
def org_user_status(request, pk: int):
    """Change a user's status. Making a user who holds no licence Active or Locked first
    asks which licences they get (the activation page), then gives them all at once or,
    with one not available, offers to increase the licences by 1."""
    org_user = _org_user_or_404(request, pk)
    status = request.POST.get("status", "")
    activating = status in OrgUser.LICENSED_STATUSES and not org_user.can_hold_licence
    if activating and request.POST.get("licences_chosen") != "yes":
        query = {"status": status, **({"next": _wizard_target(request)} if _wizard_target(request) else {})}
        return redirect(reverse("licensing:user_activate", args=[pk]) + "?" + urlencode(query))
    subscription_ids = None
    if activating:
        subscription_ids = numbers.whole_numbers(request.POST.getlist("subscriptions"))
        if subscription_ids is None:
            messages.error(request, "Choose products from the list.")
            return _back(request)
    try:
        services.org_user_update(
            org_user=org_user,
            status=status,
            subscription_ids=subscription_ids,
            actor=request.user,
            request=request,
        )
    except NoLicenceAvailable as error:
        if activating:
            return _offer_buying_a_seat(
                request, error, user_pk=org_user.pk, status=status, subscription_ids=subscription_ids
            )
        _report(request, error)
    except DomainError as error:
        _report(request, error)
    else:
        org_user.refresh_from_db()
        if activating:
            note = _given_licences(org_user)
        else:
            note = "." if org_user.can_hold_licence else ". Their licences are now free."
        messages.success(request, f"{org_user.name} is now {org_user.get_status_display()}{note}")
    return _back(request)


@org_member_required(admin=True)
def org_user_activate(request, pk: int):
    """Which licences a user made Active or Locked gets: those they held before ticked
    (for one who never held any, every product), each with how many are available."""
    org_user = _org_user_or_404(request, pk)
    status = request.GET.get("status", "")
    if status not in OrgUser.LICENSED_STATUSES or org_user.can_hold_licence:
        messages.info(request, f"{org_user.name} is {org_user.get_status_display()}: nothing to choose.")
        return _back(request)
    rows = _subscription_rows(request.organization)
    offered = selectors.licences_offered(organization=request.organization, org_user=org_user)
    held_before = set(org_user.licences_held_before or [])
    choices = _licence_choices(rows, {str(pk) for pk in offered})
    for choice in choices:
        choice["held_before"] = choice["subscription"].pk in held_before
    return render(
        request,
        "licensing/activate.html",
        {
            "org_user": org_user,
            "status": status,
            "status_label": OrgUser.Status(status).label,
            "licence_choices": choices,
            "never_held": org_user.licences_held_before is None,
            "next": _wizard_target(request),
        },
    )


@org_member_required(admin=True)
@require_POST
def org_user_delete(request, pk: int):
    org_user = _org_user_or_404(request, pk)
    try:
        services.org_user_delete(org_user=org_user, actor=request.user, request=request)
    except DomainError as error:
        _report(request, error)
    else:
        messages.success(request, f"{org_user.name} deleted; their licences are free.")
    return _back(request)


def _subscription_or_404(request, pk: int):
    subscription = selectors.subscription_get(organization=request.organization, pk=pk)
    if subscription is None:
        raise Http404
    return subscription


@org_member_required(admin=True)
@require_POST
def licence_assign(request, pk: int, subscription_pk: int):
    org_user = _org_user_or_404(request, pk)
    subscription = _subscription_or_404(request, subscription_pk)
    try:
        services.licence_assign(
            subscription=subscription, org_user=org_user, actor=request.user, request=request
        )
    except NoLicenceAvailable as error:
        # Refused as before, with the offer to buy the seat for this user next to it.
        _report(request, error)
        _offer_buying_a_seat(request, error, user_pk=org_user.pk)
        request.session["buy_seat_offer"] = {
            "url": reverse("portal:admin_buy_seat", args=[subscription.pk]),
            "label": f"Give {org_user.name} the licence and increase my licences by 1",
        }
    except DomainError as error:
        _report(request, error)
    else:
        messages.success(request, f"{org_user.name} now has a {subscription.plan.product.name} licence.")
    return _back(request)


@org_member_required(admin=True)
@require_POST
def licence_remove(request, pk: int, subscription_pk: int):
    org_user = _org_user_or_404(request, pk)
    subscription = _subscription_or_404(request, subscription_pk)
    try:
        services.licence_remove(
            subscription=subscription, org_user=org_user, actor=request.user, request=request
        )
    except DomainError as error:
        _report(request, error)
    else:
        messages.success(
            request, f"{org_user.name}'s {subscription.plan.product.name} licence is free again."
        )
    return _back(request)


@org_member_required(admin=True)
@require_http_methods(["GET", "POST"])
def import_upload(request):
    """Import users from a CSV: upload, then a preview to confirm."""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            return render(
                request, "licensing/import_upload.html", {"error": "Choose a CSV file."}, status=400
            )
        if upload.size > imports.MAX_BYTES:
            return render(
                request,
                "licensing/import_upload.html",
                {"error": "The file is larger than 5 MB: split it and import each part."},
                status=400,
            )
        try:
            user_import = imports.user_import_create(
                organization=request.organization, filename=upload.name, raw=upload.read(), actor=request.user
            )
        except DomainError as error:
            return render(request, "licensing/import_upload.html", {"error": error.message}, status=400)
        url = reverse("licensing:import_preview", args=[user_import.pk])
        return redirect(url + (f"?next={quote(_wizard_target(request))}" if _wizard_target(request) else ""))
    return render(request, "licensing/import_upload.html", {"next": _wizard_target(request)})


PREVIEW_ROWS = 300


@org_member_required(admin=True)
@require_http_methods(["GET", "POST"])
def import_preview(request, pk: int):
    user_import = UserImport.objects.filter(organization=request.organization, pk=pk).first()
    if user_import is None:
        raise Http404
    if request.method == "POST":
        try:
            summary = imports.user_import_apply(user_import=user_import, actor=request.user, request=request)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("licensing:import_preview", pk)
        messages.success(
            request,
            f"Import done: {summary['create']} created, {summary['update']} updated, "
            f"{summary['unchanged']} unchanged.",
        )
        return _back(request)
    plan = imports.plan_import(organization=request.organization, text=user_import.content)
    rows = plan.rows_with_errors + [row for row in plan.rows if not row.errors]
    return render(
        request,
        "licensing/import_preview.html",
        {
            "user_import": user_import,
            "plan": plan,
            "rows": rows[:PREVIEW_ROWS],
            "hidden_rows": max(len(rows) - PREVIEW_ROWS, 0),
            "next": _wizard_target(request),
        },
    )


@org_member_required(admin=True)
def wizard_resume(request):
    setup = wizard.wizard_pending(organization=request.organization)
    if setup is None:
        return redirect("dashboard")
    return redirect("wizard_step", setup.step)


@org_member_required(admin=True)
@require_http_methods(["GET", "POST"])
def wizard_step(request, step: str):
    """One step of the setup wizard; POST moves on (or finishes on the last step)."""
    setup = wizard.wizard_pending(organization=request.organization)
    if setup is None:
        return redirect("dashboard")
    if step not in SetupWizard.Step.values:
        raise Http404
    steps = SetupWizard.STEPS
    position = steps.index(step)
    if request.method == "POST":
        if position == len(steps) - 1:
            wizard.wizard_finish(wizard=setup, actor=request.user, request=request)
            messages.success(request, "You're all set. This is My subscriptions: come back here any time.")
            return redirect("dashboard")
        wizard.wizard_go_to(wizard=setup, step=steps[position + 1])
        return redirect("wizard_step", steps[position + 1])
    wizard.wizard_go_to(wizard=setup, step=step)
    organization = request.organization
    rows = _subscription_rows(organization)
    users = _with_licence_cells(
        list(selectors.org_users_with_licences(organization=organization, with_pending=True)[:200]), rows
    )
    return render(
        request,
        f"licensing/wizard/{step}.html",
        {
            "steps": [(s, SetupWizard.Step(s).label) for s in steps],
            "step": step,
            "number": position + 1,
            "previous": steps[position - 1] if position else None,
            "rows": rows,
            "users": users,
            "statuses": OrgUser.Status.choices,
            "licensed_statuses": OrgUser.LICENSED_STATUSES,
            **_add_user_form(organization, rows),
            "here": request.path,
            "is_admin": True,
        },
    )
