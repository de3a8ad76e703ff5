"""Seat change pages: the change page, the agreement and signing, paying, invoices and
receipts, cancelling, and retrieving links. Views parse, call one service and render;
`portal.access` decides who is asking."""

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from accounts.client_ip import client_ip
from agreements import selectors as agreement_selectors
from agreements import services as agreement_services
from agreements.errors import AgreementAlreadySigned
from billing import receipts
from billing import selectors as billing_selectors
from billing import services as billing_services
from billing.errors import PaymentProcessorUnavailable
from billing.money import format_money, renewal_words
from licensing import selectors as licensing
from licensing.models import OrgUser
from licensing.views import BUY_SEAT_SESSION_KEY
from pdfs.downloads import pdf_response
from subscriptions import links, seat_changes
from subscriptions import services as subscription_services
from subscriptions.errors import DomainError
from subscriptions.models import CapabilityLink, SeatChange
from subscriptions.words import users

from . import services
from .access import invalid_link, link_open, with_access

CHANGE = CapabilityLink.Action.CHANGE_SEATS
CANCEL = CapabilityLink.Action.CANCEL
SIGN = CapabilityLink.Action.SIGN


def _client_ip(request) -> str:
    return client_ip(request) or ""


@require_safe
def link_entry(request, token: str, then: str = ""):
    """`/l/<token>/` (or `/l/<token>/<page>`): where every emailed link lands. Gives
    this browser the link's capability and redirects to the link's page under
    `/link/<session id>/`, so the token goes no further than this one request."""
    link = links.link_resolve(token)
    if link is None or not link.subscription.is_live:
        response = invalid_link(request)
    else:
        response = redirect(_link_landing(link, link_open(request, link), then))
        response.status_code = 303
    # The token is in this URL: no Referer, no cached copy.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


def _link_landing(link, sid: str, then: str) -> str:
    """The page `then` of the link (when it is one of the link pages), else the page of
    the link's action."""
    if then and not any(segment in (".", "..") for segment in then.split("/")):
        target = reverse("portal:link_change", args=[sid]).removesuffix("change/") + then
        try:
            match = resolve(target)
        except Resolver404:
            match = None
        if match and match.namespace == "portal" and match.url_name.startswith("link_"):
            return target
    if link.action == SIGN:
        return reverse("portal:link_seat_change", args=[sid, link.seat_change.number])
    if link.action == CANCEL:
        return reverse("portal:link_cancel", args=[sid])
    return reverse("portal:link_change", args=[sid])


def _open_change_context(request, subscription, *, page_url: str, replacing: bool) -> dict:
    """The change in progress, for `portal/_open_change.html`: named with a link, and
    "Replace the open change" offered (unless `services.replace_refusal` says why not),
    which comes back to `page_url` confirming it (`replace`: the page's form then says
    what is replaced and posts `replace_open`). `replacing`: the form already did."""
    open_change = seat_changes.open_seat_change(subscription=subscription)
    refusal = services.replace_refusal(open_change) if open_change else ""
    return {
        "open_change": open_change,
        "open_change_url": request.access.url("seat_change", open_change.number) if open_change else None,
        "replace": not refusal and (replacing or request.GET.get("replace") == "1"),
        "replace_refusal": refusal,
        "replace_url": page_url + "?replace=1",
    }


def _change_context(request, subscription, form=None, errors=None):
    in_use = licensing.licences_in_use(subscription=subscription)
    form = form or {}
    return {
        "renewal": billing_selectors.next_renewal(subscription),
        "keep_url": request.access.url("keep"),
        **_open_change_context(
            request,
            subscription,
            page_url=request.access.url("change"),
            replacing=bool(form.get("replace_open")),
        ),
        "access": request.access,
        "subscription": subscription,
        "licences_in_use": in_use,
        "licensed_users": licensing.licensed_users(subscription=subscription),
        "form": form,
        "errors": errors or {},
        "quote_url": request.access.url("quote"),
        "payments_url": request.access.url("payments"),
        "initial_total": request.GET.get("new_total", "")[:6],
    }


@with_access(CHANGE)
@require_http_methods(["GET", "POST"])
def change_seats(request):
    """Enter the new total number of users; creates the seat change on submit."""
    access = request.access
    subscription = access.subscription
    if request.method == "GET":
        return render(request, "portal/change.html", _change_context(request, subscription))
    form = {
        "new_total": request.POST.get("new_total", ""),
        "licences_to_free": request.POST.getlist("licences_to_free"),
        "signer_name": request.POST.get("signer_name", ""),
        "signer_email": request.POST.get("signer_email", ""),
        "other_signer": request.POST.get("other_signer") == "on",
        "replace_open": request.POST.get("replace_open", "")[:20],
    }
    try:
        seat_change = services.seat_change_start(
            subscription=subscription,
            replacing=form["replace_open"],
            raw_new_total=form["new_total"],
            licences_to_free=form["licences_to_free"],
            signer_name=form["signer_name"] if form["other_signer"] else "",
            signer_email=form["signer_email"] if form["other_signer"] else "",
            other_signer=form["other_signer"],
            requested_by=access.user,
            requested_via=access.via,
            request=request,
        )
    except seat_changes.SeatChangeAlreadyOpen as error:
        messages.info(request, error.message)
        return redirect(access.url("seat_change", error.open_change.number))
    except DomainError as error:
        field = error.extra.get("field", "new_total")
        context = _change_context(request, subscription, form, {field: error.message})
        context["must_free"] = error.extra.get("must_free", 0)
        return render(request, "portal/change.html", context, status=400)
    return redirect(access.url("seat_change", seat_change.number))


@with_access(CHANGE)
@require_GET
def quote(request):
    """Live preview for the change page: JSON, amounts already formatted."""
    subscription = request.access.subscription
    try:
        preview = services.seat_change_preview(
            subscription=subscription, raw_new_total=request.GET.get("new_total")
        )
    except DomainError as error:
        return JsonResponse({"ok": False, "error": error.message}, status=400)
    money = preview.money
    return JsonResponse(
        {
            "ok": True,
            "new_total": preview.new_quantity,
            "delta": preview.delta,
            "amount_due": money.due_now,
            "amount_due_display": format_money(money.due_now, money.currency),
            "renewal_amount": money.renewal.amount,
            "renewal_display": renewal_words(money.renewal, with_date=False),
            "must_free": preview.must_free,
            "must_free_display": users(preview.must_free),
            "licences_in_use": preview.licences_in_use,
        }
    )


def _seat_change_or_404(access, number: str) -> SeatChange:
    seat_change = (
        SeatChange.objects.select_related("subscription__plan__product", "subscription__organization")
        .filter(subscription=access.subscription, number=number)
        .first()
    )
    if seat_change is None:
        raise Http404
    if access.signing_only and access.link.seat_change_id != seat_change.pk:
        raise Http404
    return seat_change


def _seat_change_page(request, seat_change, *, form=None, errors=None, status=200):
    access = request.access
    agreement = agreement_selectors.agreement_for_seat_change(seat_change)
    signer = access.signer
    refusal = agreement_services.signing_refusal(seat_change=seat_change, signer=signer)
    can_sign = agreement is not None and seat_change.state == SeatChange.State.DRAFT and not refusal
    if can_sign:
        agreement_services.agreement_mark_viewed(agreement=agreement)
    payment = billing_selectors.payment_for_seat_change(seat_change)
    return render(
        request,
        "portal/seat_change.html",
        {
            "charge_offer": services.charge_offer(seat_change) if can_sign else None,
            "access": access,
            "seat_change": seat_change,
            "subscription": seat_change.subscription,
            "agreement": agreement,
            "can_sign": can_sign,
            "payment": payment,
            "payment_message": billing_services.outcome_of(payment).message if payment else "",
            "pay_url": access.url("pay", seat_change.number),
            "payment_status_url": access.url("payment_status", seat_change.number),
            "receipt_url": (
                access.url("receipt_pdf", payment.receipt_number)
                if payment and payment.receipt_number and not access.signing_only
                else None
            ),
            "pdf_url": access.url("agreement_pdf", seat_change.number),
            "download_url": access.url("agreement_pdf", seat_change.number) + "?download=1",
            "sign_url": access.url("sign", seat_change.number),
            "withdraw_url": access.url("withdraw", seat_change.number),
            "change_url": None if access.signing_only else access.url("change"),
            "push": licensing.push_status(subscription=seat_change.subscription)
            if seat_change.state == SeatChange.State.APPLYING
            else None,
            "status_url": access.url("payment_status", seat_change.number),
            "form": form or {},
            "form_errors": errors if can_sign else None,
            # A refusal the form can't show (it is not shown when signing is refused).
            "page_error": next(iter(errors.values())) if errors and not can_sign else "",
            "sign_refusal": refusal,
            "signer_defaults": {
                "name": seat_change.signer_name or (access.user.get_full_name() if access.user else ""),
                "email": signer.email,
                "identified_by": signer.identified_by,
            },
        },
        status=status,
    )


@with_access(CHANGE, SIGN)
@require_GET
def seat_change_detail(request, number: str):
    return _seat_change_page(request, _seat_change_or_404(request.access, number))


@with_access(CHANGE, SIGN)
@require_GET
def agreement_pdf(request, number: str):
    seat_change = _seat_change_or_404(request.access, number)
    agreement = agreement_selectors.agreement_for_seat_change(seat_change)
    if agreement is None:
        raise Http404
    signed = agreement.signed_pdf is not None
    return pdf_response(
        bytes(agreement.signed_pdf if signed else agreement.unsigned_pdf),
        filename=agreement_selectors.agreement_pdf_filename(
            agreement, organization_name=request.access.subscription.organization.name
        ),
        as_attachment=request.GET.get("download") == "1",
    )


@with_access(CHANGE, SIGN)
@require_POST
def sign(request, number: str):
    access = request.access
    seat_change = _seat_change_or_404(access, number)
    agreement = agreement_selectors.agreement_for_seat_change(seat_change)
    if agreement is None:
        raise Http404
    try:
        # The email is the signer's as `access` identified them: a posted one is ignored.
        services.seat_change_sign(
            agreement=agreement,
            signer=access.signer,
            signer_name=request.POST.get("signer_name", ""),
            consent=request.POST.get("consent") == "yes",
            accept_terms=request.POST.get("accept_terms") == "yes",
            signature_kind=request.POST.get("signature_kind", ""),
            signature_text=request.POST.get("signature_text", ""),
            signature_png_data_url=request.POST.get("signature_png", ""),
            ip=_client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            payment=request.POST.get("payment", "")[:120],
            request=request,
        )
    except AgreementAlreadySigned as error:
        # A second click (or another tab) arrived while the first signed it.
        messages.info(request, error.message)
        return redirect(access.url("seat_change", seat_change.number))
    except DomainError as error:
        seat_change.refresh_from_db()
        errors = error.extra.get("errors") or {error.extra.get("field", "general"): error.message}
        return _seat_change_page(
            request, seat_change, form=request.POST, errors=errors, status=error.status_code
        )
    seat_change.refresh_from_db()
    payment = billing_selectors.payment_for_seat_change(seat_change)
    if (
        seat_change.state == SeatChange.State.AWAITING_PAYMENT
        and payment is None
        and request.POST.get("payment") == "later"
    ):
        # Signed choosing to pay later (or with another card): the payment page.
        messages.success(
            request,
            "Agreement signed: nothing has been charged. A signed copy is on its way to your inbox. "
            f"Pay {format_money(seat_change.amount_due, seat_change.currency)} below.",
        )
        return redirect(access.url("pay", seat_change.number))
    messages.success(request, "Agreement signed. A signed copy is on its way to your inbox.")
    return redirect(access.url("seat_change", seat_change.number))


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _payment_answer(request, outcome, *, seat_change_url: str, pay_url: str):
    """JSON for the payment page's script; without it, back to a page with a message."""
    if _wants_json(request):
        return JsonResponse(
            {
                "status": outcome.status,
                "message": outcome.message,
                "client_secret": outcome.client_secret,
                "redirect": seat_change_url,
            }
        )
    if outcome.status in ("failed", "requires_action"):
        messages.error(request, outcome.message)
        return redirect(pay_url)
    messages.success(request, outcome.message)
    return redirect(seat_change_url)


def _payment_refused(request, error: DomainError, *, seat_change_url: str):
    if _wants_json(request):
        return JsonResponse(
            {"status": "error", "message": error.message, "redirect": seat_change_url},
            status=error.status_code,
        )
    messages.error(request, error.message)
    return redirect(seat_change_url)


@with_access(CHANGE, SIGN)
@require_http_methods(["GET", "POST"])
def pay(request, number: str):
    """The payment page: the card on file, or a card entered with Stripe.js (card
    numbers go from Stripe's script to Stripe, never here). POST pays: with the card
    saved by the SetupIntent `setup_intent` (from `pay_card`, confirmed by
    `stripe.confirmCardSetup`), else with the card on file."""
    access = request.access
    seat_change = _seat_change_or_404(access, number)
    seat_change_url = access.url("seat_change", number)
    pay_url = access.url("pay", number)
    if request.method == "POST":
        try:
            outcome = billing_services.payment_start_or_retry(
                seat_change=seat_change,
                setup_intent=request.POST.get("setup_intent", "").strip()[:100],
                actor=access.user,
                actor_label=access.actor_label,
                request=request,
            )
        except DomainError as error:
            return _payment_refused(request, error, seat_change_url=seat_change_url)
        return _payment_answer(request, outcome, seat_change_url=seat_change_url, pay_url=pay_url)

    if seat_change.state != SeatChange.State.AWAITING_PAYMENT:
        return redirect(seat_change_url)
    payment = billing_selectors.payment_for_seat_change(seat_change)
    card_unavailable = False
    try:
        card = billing_selectors.card_on_file(seat_change.subscription)
    except PaymentProcessorUnavailable:
        card, card_unavailable = None, True
    return render(
        request,
        "billing/payment.html",
        {
            "access": access,
            "seat_change": seat_change,
            "subscription": seat_change.subscription,
            "payment": payment,
            "payment_message": billing_services.outcome_of(payment).message if payment else "",
            "card": card,
            "card_unavailable": card_unavailable,
            "quote_expired": timezone.now() >= seat_change.expires_at,
            "stripe_js": billing_selectors.stripe_js(),
            "pay_url": pay_url,
            "confirm_url": access.url("pay_confirm", number),
            "card_url": access.url("pay_card", number),
            "status_url": access.url("payment_status", number),
            "seat_change_url": seat_change_url,
        },
    )


@with_access(CHANGE, SIGN)
@require_POST
def pay_card(request, number: str):
    """A new card on the payment page: the SetupIntent's client secret, for Stripe.js
    to save the card typed in (`stripe.confirmCardSetup`) before paying with it."""
    seat_change = _seat_change_or_404(request.access, number)
    try:
        client_secret = billing_services.payment_card_setup(seat_change=seat_change)
    except DomainError as error:
        return JsonResponse({"status": "error", "message": error.message}, status=error.status_code)
    return JsonResponse({"client_secret": client_secret})


@with_access(CHANGE, SIGN)
@require_POST
def pay_confirm(request, number: str):
    """Stripe.js reported the bank's answer: the server asks Stripe what happened."""
    access = request.access
    seat_change = _seat_change_or_404(access, number)
    seat_change_url = access.url("seat_change", number)
    try:
        outcome = billing_services.payment_confirm(seat_change=seat_change)
    except DomainError as error:
        return _payment_refused(request, error, seat_change_url=seat_change_url)
    return _payment_answer(
        request, outcome, seat_change_url=seat_change_url, pay_url=access.url("pay", number)
    )


@with_access(CHANGE, SIGN)
@require_GET
def payment_status(request, number: str):
    """Where the payment stands, for the pages' "paying…" to poll."""
    seat_change = _seat_change_or_404(request.access, number)
    payment = billing_selectors.payment_for_seat_change(seat_change)
    push = licensing.push_status(subscription=seat_change.subscription).message
    if payment is None:
        return JsonResponse({"status": "none", "message": "", "state": seat_change.state, "push": push})
    outcome = billing_services.outcome_of(payment)
    return JsonResponse(
        {"status": outcome.status, "message": outcome.message, "state": seat_change.state, "push": push}
    )


@with_access(CHANGE)
@require_GET
def payments(request):
    """Invoices and payments of the subscription, with receipt PDFs."""
    access = request.access
    subscription = access.subscription
    rows = [
        (payment, access.url("receipt_pdf", payment.receipt_number) if payment.receipt_number else None)
        for payment in billing_selectors.payments_for_subscription(subscription)
    ]
    return render(
        request,
        "billing/payments.html",
        {
            "access": access,
            "subscription": subscription,
            "payment_rows": rows,
            "invoices": billing_selectors.renewal_invoices_for_subscription(subscription),
            "next_renewal": billing_selectors.next_renewal(subscription),
            "change_url": access.url("change"),
        },
    )


@with_access(CHANGE)
@require_GET
def receipt_pdf(request, receipt_number: str):
    payment = billing_selectors.receipt_payment(request.access.subscription, receipt_number)
    if payment is None:
        raise Http404
    return pdf_response(
        receipts.receipt_pdf(payment),
        filename=receipts.receipt_filename(payment),
        as_attachment=request.GET.get("download") == "1",
    )


@with_access(CHANGE)
@require_POST
def withdraw(request, number: str):
    access = request.access
    seat_change = _seat_change_or_404(access, number)
    try:
        seat_changes.seat_change_cancel(
            seat_change=seat_change,
            actor=access.user,
            actor_label=access.actor_label,
            request=request,
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(access.url("seat_change", number))
    messages.success(request, f"Seat change {seat_change.number} cancelled. Nothing was changed.")
    return redirect(access.url("change"))


@with_access(CANCEL)
@require_http_methods(["GET", "POST"])
def cancel_subscription(request):
    access = request.access
    subscription = access.subscription
    if request.method == "POST":
        if request.POST.get("confirm") != "on":
            return render(
                request,
                "portal/cancel.html",
                {
                    "subscription": subscription,
                    "error": "Tick the box to confirm the cancellation.",
                },
                status=400,
            )
        try:
            subscription = subscription_services.subscription_cancel(
                subscription=subscription,
                actor=access.user,
                actor_label=access.actor_label,
                request=request,
            )
        except DomainError as error:
            return render(
                request,
                "portal/cancel.html",
                {"subscription": subscription, "error": error.message},
                status=409,
            )
    return render(
        request, "portal/cancel.html", {"subscription": subscription, "keep_url": access.url("keep")}
    )


@with_access(CHANGE, CANCEL)
@require_POST
def keep_subscription(request):
    """ "Keep my subscription": the cancellation at period end is withdrawn."""
    access = request.access
    try:
        subscription = subscription_services.subscription_keep(
            subscription=access.subscription,
            actor=access.user,
            actor_label=access.actor_label,
            request=request,
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"Your subscription is no longer cancelled: it renews on "
            f"{subscription.current_period_end:%-d %B %Y}. We've emailed you a confirmation.",
        )
    if access.link and access.link.action == CANCEL:
        return redirect(access.url("cancel"))
    if not access.link and request.POST.get("next") == "detail":
        return redirect(reverse("subscriptions:detail", args=[access.subscription.pk]))
    new_total = request.POST.get("new_total", "")[:6]
    return redirect(access.url("change") + (f"?new_total={new_total}" if new_total.isdigit() else ""))


@require_http_methods(["GET", "POST"])
def retrieve_links(request):
    """Re-send the unique links. The same answer, as quickly, whether or not the
    address is known: the lookup and the emails happen in a task."""
    context = {}
    if request.method == "POST":
        email = request.POST.get("email", "").strip()
        if not email or "@" not in email:
            context = {"error": "Enter the email address your links were sent to.", "email": email}
            return render(request, "portal/retrieve_links.html", context, status=400)
        try:
            links.links_retrieve(email=email, ip=_client_ip(request))
        except links.RateLimited as error:
            return render(
                request,
                "portal/retrieve_links.html",
                {"error": error.message, "email": email},
                status=429,
            )
        context = {"sent": True}
    return render(request, "portal/retrieve_links.html", context)


@with_access(CHANGE)
@require_POST
def links_rotate(request):
    """Dashboard: revoke the current links and email new ones (admins only)."""
    access = request.access
    links.links_rotate(subscription=access.subscription, actor=access.user, request=request)
    messages.success(
        request,
        f"Your old links no longer work. New links are on their way to {access.subscription.admin_email}.",
    )
    return redirect(reverse("subscriptions:detail", args=[access.subscription.pk]))


def _buy_seat_offer(request):
    """The add-user form (or user) that Manage licences left in the session when no
    licence was available; None when it is missing or about another subscription."""
    offer = request.session.get(BUY_SEAT_SESSION_KEY)
    subscription = request.access.subscription
    if not isinstance(offer, dict) or offer.get("subscription") != subscription.pk:
        return None
    org_user = None
    if offer.get("user"):
        org_user = licensing.org_user_get(organization=subscription.organization, pk=offer["user"])
        if org_user is None:
            return None
    elif not isinstance(offer.get("values"), dict):
        return None
    return {**offer, "org_user": org_user}


def _buy_seat_page(request, offer, *, error="", status=200):
    subscription = request.access.subscription
    preview, preview_error = None, ""
    try:
        preview = services.buy_seat_preview(subscription=subscription)
    except DomainError as refused:
        preview_error = refused.message
    values = offer.get("values") or {}
    return render(
        request,
        "portal/buy_seat.html",
        {
            "subscription": subscription,
            "org_user": offer["org_user"],
            "values": values,
            "status_label": dict(OrgUser.Status.choices).get(values.get("status") or offer.get("status"), ""),
            "activating": bool(offer["org_user"] and offer.get("status")),
            **_open_change_context(
                request,
                subscription,
                page_url=reverse("portal:admin_buy_seat", args=[subscription.pk]),
                replacing=bool(request.POST.get("replace_open")),
            ),
            "preview": preview,
            "preview_error": preview_error,
            "error": error,
            "back_url": offer.get("next") or reverse("licensing:manage"),
        },
        status=status,
    )


@with_access(CHANGE)
@require_http_methods(["GET", "POST"])
def buy_seat(request):
    """No licence left: offer to add the user anyway and increase the licences by 1
    (amounts shown, terms to accept). Confirming saves the user waiting for the licence,
    starts the seat change and goes straight to it (agreement, signature, payment)."""
    access = request.access
    offer = _buy_seat_offer(request)
    if offer is None:
        messages.info(request, "There is nothing to confirm: add the user again.")
        return redirect("licensing:manage")
    if request.method == "GET":
        return _buy_seat_page(request, offer)
    if request.POST.get("accept_terms") != "yes":
        return _buy_seat_page(request, offer, error="Accept the terms to increase your licences.", status=400)
    subscription = access.subscription
    # The open change the admin confirmed replacing ("Replace the open change"), if any.
    replacing = request.POST.get("replace_open", "")[:20]
    try:
        if offer["org_user"] is not None and offer.get("status"):
            org_user = offer["org_user"]
            seat_change = services.activate_user_buying_seat(
                subscription=subscription,
                org_user=org_user,
                status=offer["status"],
                subscription_ids=offer.get("subscriptions", []),
                requested_by=access.user,
                replacing=replacing,
                request=request,
            )
        elif offer["org_user"] is not None:
            org_user = offer["org_user"]
            seat_change = services.licence_buy_seat(
                subscription=subscription,
                org_user=org_user,
                requested_by=access.user,
                replacing=replacing,
                request=request,
            )
        else:
            values = offer["values"]
            org_user, seat_change = services.add_user_buying_seat(
                subscription=subscription,
                name=values.get("name", ""),
                email=values.get("email", ""),
                status=values.get("status", ""),
                subscription_ids=values.get("subscriptions", []),
                requested_by=access.user,
                replacing=replacing,
                request=request,
            )
    except seat_changes.SeatChangeAlreadyOpen as refused:
        messages.info(request, refused.message)
        return redirect(access.url("seat_change", refused.open_change.number))
    except DomainError as refused:
        return _buy_seat_page(request, offer, error=refused.message, status=refused.status_code)
    request.session.pop(BUY_SEAT_SESSION_KEY, None)
    messages.success(
        request,
        f"{org_user.name} is saved and waiting for a licence: sign and pay seat change "
        f"{seat_change.number} and they get it at once.",
    )
    return redirect(access.url("seat_change", seat_change.number))
