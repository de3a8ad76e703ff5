"""Every page a customer, a signer or the vendor's staff can open is audited by axe-core
(axe-playwright-python ships it; it is injected into the page from the package, nothing
is fetched) with no serious or critical violation, and fits a phone (390 px) and a
desktop (1280 px) without scrolling sideways. Screenshots of both widths go to
test-artifacts/ (`test_…-<page>-390.png`).

The pages are the urlconfs' GET routes that answer HTML: a test checks that every one of
them is either audited here or named below as not a page (a PDF, JSON, a POST-only
action), so a new page cannot be left out."""

import json
import re
from dataclasses import dataclass, field

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from devmail.models import StoredEmail
from licensing import imports
from licensing.models import OrgUser, SetupWizard
from licensing.views import BUY_SEAT_SESSION_KEY
from portal import services as portal
from subscriptions import invitations, links
from subscriptions.models import Subscription
from tests.backoffice.factories import payment_factory, seat_change_signed, staff_factory
from tests.browser.conftest import ARTIFACTS, is_csp_violation
from tests.factories import (
    LicenceAssignmentFactory,
    MembershipFactory,
    OrgUserFactory,
    PlanFactory,
    SubscriptionFactory,
    UserFactory,
    paid_seat_change,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_localstripe", "celery_eager"),
]

WIDTHS = (390, 1280)
SERIOUS = ("serious", "critical")
AXE = Axe()
# The stand-in's card element (localstripe's Stripe.js draws bare inputs with
# placeholders; Stripe's own is an iframe with its labels) is not our markup.
NOT_OURS = ["#card-element"]

# Routes that are not pages: files, JSON for the pages' scripts, POST-only actions,
# redirects. Everything else the urlconfs serve to a browser is audited below.
NOT_PAGES = {
    "api-schema": "the API's OpenAPI schema (YAML)",
    "api-docs": "Swagger UI, not ours to write (test_content_security_policy.py opens it)",
    "account_logout": "POST only (the header's Sign out button)",
    "account_signup": "nobody signs up: allauth's sign-up is closed",
    "account_confirm_email": "opened from an emailed key: allauth's confirmation page, as email",
    "account_reset_password_from_key": "opened from an emailed key: same layout as the reset page",
    "account_reset_password_from_key_done": "same layout as the reset page",
    "account_set_password": "redirects to change password for accounts that have one",
    "account_inactive": "no account is ever inactive here",
    "account_reauthenticate": "same layout as sign-in, asked before sensitive changes",
    "account_request_reauthentication_code": "same layout as the code pages",
    "account_confirm_reauthentication_code": "same layout as the code pages",
    "admin_login": "redirects to allauth's sign-in",
    "wizard": "redirects to the wizard's current step",
    "subscriptions:api_key_revoke": "POST only",
    "subscriptions:organization_switch": "POST only",
    "licensing:push_status": "JSON for My subscriptions' script",
    "health": "JSON for monitors (/health/)",
    "portal:admin_keep": "POST only (Keep my subscription)",
    "portal:link_keep": "POST only (Keep my subscription)",
    "licensing:user_add": "POST only",
    "licensing:user_status": "POST only",
    "licensing:user_delete": "POST only",
    "licensing:assign": "POST only",
    "licensing:remove": "POST only",
    "billing:stripe_webhook": "Stripe's webhook (POST, JSON)",
    "backoffice:agreement_pdf": "a PDF",
    "backoffice:approve": "POST only",
    "backoffice:reject": "POST only",
    "backoffice:audit_csv": "a CSV file",
    "backoffice:test_push": "POST only",
    "backoffice:subscription_activate": "POST only",
    "backoffice:links_send": "POST only",
    "backoffice:links_rotate": "POST only",
    "backoffice:link_revoke": "POST only",
    "backoffice:payment_receipt": "a PDF",
    "portal:link": "redirects to the link's page (link_invalid.html when it does not work: audited)",
    "portal:link_to": "redirects to the link's page",
    "portal:admin_rotate_links": "POST only",
    "portal:link_quote": "JSON for the change page's script",
    "portal:admin_quote": "JSON for the change page's script",
    "portal:link_agreement_pdf": "a PDF",
    "portal:admin_agreement_pdf": "a PDF",
    "portal:link_sign": "POST only",
    "portal:admin_sign": "POST only",
    "portal:link_withdraw": "POST only",
    "portal:admin_withdraw": "POST only",
    "portal:link_pay_card": "POST only (JSON)",
    "portal:admin_pay_card": "POST only (JSON)",
    "portal:link_pay_confirm": "POST only (JSON)",
    "portal:admin_pay_confirm": "POST only (JSON)",
    "portal:link_payment_status": "JSON for the payment page's script",
    "portal:admin_payment_status": "JSON for the payment page's script",
    "portal:link_receipt_pdf": "a PDF",
    "portal:admin_receipt_pdf": "a PDF",
    "portal:link_seat_change": "the same view and template as admin_seat_change",
    "portal:link_payments": "the same view and template as admin_payments",
    "portal:link_cancel": "the same view and template as admin_cancel",
    "portal:link_pay": "the same view and template as admin_pay",
}


def _routes(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            if str(pattern.pattern).startswith(("api/", "admin/")) or pattern.namespace == "admin":
                continue  # the API answers JSON; the Django admin is not ours to write
            yield from _routes(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}{pattern.name}"


@dataclass
class Page:
    name: str  # the route's name
    who: str  # "admin", "link", "manager", "wizard", "anonymous", "nobody"
    url: str


@dataclass
class World:
    pages: list[Page] = field(default_factory=list)
    people: dict = field(default_factory=dict)
    sessions: dict = field(default_factory=dict)


def build_world(live_server) -> World:
    """One of each page's situations: a customer admin with users, licences, an open
    increase waiting for payment, a draft to sign, a receipt; a new customer in the setup
    wizard; a decrease waiting for approval in the back office."""
    world = World()
    manager = staff_factory("manager", email="boss@vendor.example", full_name="Mo Manager")
    admin = MembershipFactory(
        user__email="ada@acme.example",
        user__full_name="Ada Admin",
        organization__name="Acme Field Services",
        organization__account_manager=manager,
    )
    organization = admin.organization
    documents = SubscriptionFactory(
        organization=organization,
        quantity=5,
        admin_email="ada@acme.example",
        status=Subscription.Status.PENDING,
    )
    links.subscription_activate(subscription=documents)
    body = mail.outbox[-1].body.splitlines()
    change_link = body[body.index("Add or remove users (change the number of seats):") + 1]
    signature = SubscriptionFactory(
        organization=organization, quantity=2, plan=PlanFactory(product__code="signature")
    )
    forms = SubscriptionFactory(
        organization=organization, quantity=3, plan=PlanFactory(product__code="forms")
    )
    for subscription in (documents, signature, documents):
        LicenceAssignmentFactory(subscription=subscription, org_user__name="Bea Busy")
    LicenceAssignmentFactory(subscription=signature, org_user__name="Cal Carter")
    inactive = OrgUserFactory(
        organization=organization,
        name="Ivy Inactive",
        status=OrgUser.Status.INACTIVE,
        licences_held_before=[documents.pk],
    )
    OrgUserFactory(organization=organization, name="Lou Locked", status=OrgUser.Status.LOCKED)
    OrgUserFactory(organization=organization, name="Rory Room", status=OrgUser.Status.ROOM)

    # Documents: an increase signed, waiting for payment. Forms: an increase paid (its
    # receipt), then a draft to sign. Signature: every licence in use, none open.
    increase = seat_change_signed(documents, 7, with_agreement=True, signer_email="ada@acme.example")
    payment_factory(increase, status="failed", receipt_number=None)
    payment_factory(paid_seat_change(forms, 4), receipt_number="R-2026-0042")
    forms.refresh_from_db()
    draft = portal.seat_change_start(subscription=forms, raw_new_total="5", requested_by=admin.user)

    user_import = imports.user_import_create(
        organization=organization,
        filename="users.csv",
        raw=(
            b"name;email;status;products\n"
            b"Nia New;nia@acme.example;active;documents\n"
            b"Bad;not-an-email;active;\n"
        ),
        actor=admin.user,
    )
    invitation_raw = _invitation(organization)

    # A new customer in the setup wizard.
    newcomer = MembershipFactory(user__email="new@globex.example", organization__name="Globex Legal")
    SubscriptionFactory(organization=newcomer.organization, quantity=3)
    SetupWizard.objects.create(organization=newcomer.organization)

    # The back office: a decrease of another customer waiting for approval.
    other = MembershipFactory(
        user__email="ops@initech.example",
        organization__name="Initech",
        organization__account_manager=manager,
    )
    waiting = SubscriptionFactory(
        organization=other.organization, quantity=6, admin_email="ops@initech.example"
    )
    LicenceAssignmentFactory.create_batch(2, subscription=waiting)
    decrease = seat_change_signed(waiting, 4, with_agreement=True, signer_email="ops@initech.example")

    # What Manage licences leaves in the session when no Signature licence is left for
    # the user being added (the buy-seat page's offer).
    world.sessions = {
        "admin": {
            BUY_SEAT_SESSION_KEY: {
                "subscription": signature.pk,
                "user": None,
                "values": {
                    "name": "Nia New",
                    "email": "nia@acme.example",
                    "status": "active",
                    "subscriptions": [str(signature.pk)],
                },
                "status": None,
                "subscriptions": [],
                "next": "",
            }
        },
        # The same offer for Documents, whose increase is open: the buy-seat page offers
        # to replace it.
        "admin_replacing": {
            BUY_SEAT_SESSION_KEY: {
                "subscription": documents.pk,
                "user": None,
                "values": {
                    "name": "Nia New",
                    "email": "nia@acme.example",
                    "status": "active",
                    "subscriptions": [str(documents.pk)],
                },
                "status": None,
                "subscriptions": [],
                "next": "",
            }
        },
    }
    world.people = {
        "admin": admin.user,
        "admin_replacing": admin.user,
        "manager": manager,
        "wizard": newcomer.user,
        "nobody": UserFactory(email="lost@nowhere.example", password=None),
        "change_link": change_link.split(live_server.url, 1)[-1],
    }
    s = f"/subscriptions/{documents.pk}"
    pages = [
        # Anyone
        ("account_login", "anonymous", "/accounts/login/"),
        ("account_request_login_code", "anonymous", "/accounts/login/code/"),
        ("account_confirm_login_code", "code", "/accounts/login/code/confirm/"),
        ("account_reset_password", "anonymous", "/accounts/password/reset/"),
        ("account_reset_password_done", "anonymous", "/accounts/password/reset/done/"),
        ("account_email_verification_sent", "anonymous", "/accounts/confirm-email/"),
        ("portal:retrieve_links", "anonymous", "/links/retrieve/"),
        ("agreements:verify", "anonymous", "/agreements/verify/"),
        ("link_invalid", "anonymous", "/l/not-a-working-link/"),
        ("devmail:mailbox", "anonymous", "/_dev/mail/"),
        ("devmail:message", "anonymous", "/_dev/mail/{mail}/"),
        # A customer admin, signed in
        ("dashboard", "admin", "/dashboard/"),
        ("licensing:manage", "admin", "/licences/"),
        ("licensing:import_upload", "admin", "/licences/import/"),
        ("licensing:import_preview", "admin", f"/licences/import/{user_import.pk}/"),
        ("licensing:user_activate", "admin", f"/licences/users/{inactive.pk}/activate/?status=active"),
        ("subscriptions:detail", "admin", f"{s}/"),
        ("subscriptions:api_keys", "admin", "/subscriptions/api-keys/"),
        ("subscriptions:invitation", "admin", f"/subscriptions/invitations/{invitation_raw}/"),
        ("account_email", "admin", "/accounts/email/"),
        ("account_change_password", "admin", "/accounts/password/change/"),
        ("portal:admin_change", "admin", f"{s}/change/?new_total=6"),
        ("portal:admin_seat_change", "admin", f"{s}/changes/{increase.number}/"),
        ("portal:admin_pay", "admin", f"{s}/changes/{increase.number}/pay/"),
        ("portal:admin_payments", "admin", f"/subscriptions/{forms.pk}/payments/"),
        ("portal:admin_buy_seat", "admin", f"/subscriptions/{signature.pk}/buy-seat/"),
        ("buy_seat_open_change", "admin_replacing", f"{s}/buy-seat/"),
        ("buy_seat_replacing", "admin_replacing", f"{s}/buy-seat/?replace=1"),
        ("portal:admin_cancel", "admin", f"{s}/cancel/"),
        ("signing_page", "admin", f"/subscriptions/{forms.pk}/changes/{draft.number}/"),
        ("forbidden", "nobody", "/dashboard/"),
        # The emailed link (no sign-in)
        ("portal:link_change", "link", "{link}"),
        # The setup wizard
        *[("wizard_step", "wizard", f"/welcome/{step}/") for step in SetupWizard.STEPS],
        # The back office
        ("backoffice:approvals", "manager", "/backoffice/"),
        ("backoffice:seat_change", "manager", f"/backoffice/changes/{decrease.number}/"),
        ("backoffice_seat_change_increase", "manager", f"/backoffice/changes/{increase.number}/"),
        ("backoffice:accounts", "manager", "/backoffice/accounts/"),
        ("backoffice:account_new", "manager", "/backoffice/accounts/new/"),
        ("backoffice:account", "manager", f"/backoffice/accounts/{organization.pk}/"),
        (
            "backoffice:subscription_new",
            "manager",
            f"/backoffice/accounts/{organization.pk}/subscriptions/new/",
        ),
        (
            "backoffice:connected_org_edit",
            "manager",
            f"/backoffice/accounts/{organization.pk}/connected-org/",
        ),
        ("backoffice:change_start", "manager", f"/backoffice/subscriptions/{waiting.pk}/change/"),
        ("forbidden_staff", "manager", "/dashboard/"),
    ]
    world.pages = [Page(name, who, url) for name, who, url in pages]
    return world


def _invitation(organization) -> str:
    """An invitation to Ada's own address (she follows it signed in), its raw token."""
    invitations.invitation_create(organization=organization, email="ada@acme.example")
    body = mail.outbox[-1].body
    url = next(line for line in body.splitlines() if "/subscriptions/invitations/" in line)
    return url.rstrip("/").rsplit("/", 1)[1]


def signed_in_context(browser, live_server, user, session_data=None):
    """A browser context with `user` signed in (a session made by Django's test client:
    no password typed, no hashing), holding `session_data`."""
    context = browser.new_context(base_url=live_server.url)
    if user is not None:
        client = Client()
        client.force_login(user)
        if session_data:
            session = client.session
            session.update(session_data)
            session.save()
        cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return context


AXE_OPTIONS = {"resultTypes": ["violations"], "iframes": False}
OVERFLOW = """() => {
    const width = window.innerWidth, wide = document.documentElement.scrollWidth;
    if (wide <= width) return {wide, width, culprits: []};
    const culprits = [...document.querySelectorAll("body *")]
        .filter(e => e.getBoundingClientRect().right > width + 1)
        .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : ""));
    return {wide, width, culprits};
}"""


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now (axe-core,
    from the package, is added to every page of the context as an init script)."""
    context = json.dumps({"exclude": [[selector] for selector in NOT_OURS]})
    results = page.evaluate(f"axe.run({context}, {json.dumps(AXE_OPTIONS)})")
    return [v for v in results["violations"] if v["impact"] in SERIOUS]


def audit(page, url: str, label: str, prefix: str) -> list[str]:
    """Open `url`; at each width (the page resized, as a phone turned or a window
    narrowed): what axe finds serious or critical, what sticks out sideways, a
    screenshot."""
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    response = page.goto(url)
    status = response.status if response else 0
    if status >= 500 or (status >= 400 and not label.startswith(("forbidden", "link_invalid"))):
        return [f"{label} ({url}): HTTP {status}"]
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for violation in axe_violations(page):
            targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
            problems.append(
                f"{label} at {width}px: {violation['impact']} {violation['id']} "
                f"({violation['help']}): {targets}"
            )
        overflow = page.evaluate(OVERFLOW)
        if overflow["wide"] > overflow["width"]:
            problems.append(f"{label} at {width}px: {overflow['wide']}px wide: {overflow['culprits']}")
        page.screenshot(path=ARTIFACTS / f"{prefix}-{label}-{width}.png", full_page=True)
    return problems


def test_every_page_has_no_serious_accessibility_violation_and_fits_a_phone(
    browser, live_server, settings, request
):
    ARTIFACTS.mkdir(exist_ok=True)
    settings.SITE_URL = live_server.url
    world = build_world(live_server)
    mail_pk = StoredEmail.objects.create(
        subject="Opero Documents is now active",
        from_email="Opero <no-reply@opero.example>",
        to="ada@acme.example",
        body=mail.outbox[0].body,
    ).pk
    contexts, problems, refused = {}, [], []
    try:
        for page_spec in world.pages:
            who = page_spec.who
            if who not in contexts:
                user = None if who in ("anonymous", "link", "code") else world.people[who]
                context = signed_in_context(browser, live_server, user, world.sessions.get(who))
                context.on("console", lambda m: refused.append(m.text) if is_csp_violation(m) else None)
                context.add_init_script(script=AXE.axe_script)
                tab = context.new_page()
                tab.set_default_timeout(15_000)
                if who == "link":
                    tab.goto(world.people["change_link"])
                if who == "code":
                    tab.goto("/accounts/login/code/")
                    tab.get_by_label("Email").fill("ada@acme.example")
                    tab.get_by_role("button", name=re.compile("code", re.IGNORECASE)).click()
                    tab.wait_for_url("**/login/code/confirm/")
                contexts[who] = (context, tab)
            _, tab = contexts[who]
            url = page_spec.url.format(link=world.people["change_link"], mail=mail_pk)
            label = page_spec.name.replace(":", "-") + (
                "-" + url.rstrip("/").rsplit("/", 1)[1] if page_spec.name == "wizard_step" else ""
            )
            problems += audit(tab, url, label, request.node.name)
    finally:
        for context, _ in contexts.values():
            context.close()
    assert not problems, "\n".join(problems)
    assert not refused, refused


def test_every_page_of_the_urlconfs_is_audited_or_is_not_a_page():
    audited = {
        "account_login",
        "account_request_login_code",
        "account_confirm_login_code",
        "account_reset_password",
        "account_reset_password_done",
        "account_email_verification_sent",
        "account_email",
        "account_change_password",
        "portal:retrieve_links",
        "agreements:verify",
        "devmail:mailbox",
        "devmail:message",
        "dashboard",
        "wizard_step",
        "licensing:manage",
        "licensing:import_upload",
        "licensing:import_preview",
        "licensing:user_activate",
        "subscriptions:detail",
        "subscriptions:api_keys",
        "subscriptions:invitation",
        "portal:admin_change",
        "portal:link_change",
        "portal:admin_seat_change",
        "portal:admin_pay",
        "portal:admin_payments",
        "portal:admin_cancel",
        "portal:admin_buy_seat",
        "backoffice:approvals",
        "backoffice:seat_change",
        "backoffice:accounts",
        "backoffice:account_new",
        "backoffice:account",
        "backoffice:subscription_new",
        "backoffice:connected_org_edit",
        "backoffice:change_start",
    }
    routes = set(_routes(get_resolver().url_patterns))

    assert routes - audited - set(NOT_PAGES) == set()
    assert audited - routes == set() and set(NOT_PAGES) - routes == set()
