"""Back-office reads. Every list starts from a StaffScope (see `access`), so an
account manager's queries never reach another account manager's organizations."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone
from django.utils.timesince import timesince

from accounts.models import User
from agreements.models import Agreement
from audit.models import AuditEvent
from billing.models import Payment
from licensing import selectors as licensing
from licensing.models import SeatSyncAttempt
from subscriptions import numbers
from subscriptions.links import LINK_ACTIONS_EMAILED
from subscriptions.models import (
    CapabilityLink,
    Invitation,
    Membership,
    Organization,
    Product,
    SeatChange,
    SeatSync,
    Subscription,
)

from . import charts
from .access import BACKOFFICE_ROLES, StaffScope
from .business_days import business_cutoff, business_time_between

# A decrease waiting longer than this many business days gets a badge (and is "overdue").
APPROVAL_OVERDUE_BUSINESS_DAYS = 2
QUEUE_SORTS = {
    "oldest": ("signed_at", "pk"),
    "newest": ("-signed_at", "-pk"),
    "organization": ("subscription__organization__name", "signed_at"),
    "largest": ("-decrease_size", "signed_at"),
}
ACCOUNT_PAGE_ROWS = 50
ATTEMPTS_SHOWN = 10  # per push, on the account page


def licences_kept(seat_change: SeatChange) -> int:
    """Licences of the change's subscription that stay assigned once the users it names
    have lost theirs (what an approval checks against the new total)."""
    return (
        licensing.licensed_users(subscription=seat_change.subscription)
        .exclude(pk__in=seat_change.licences_to_free)
        .count()
    )


# --- Approvals queue -------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalRow:
    seat_change: SeatChange
    licences_in_use: int
    waiting_since: datetime
    business_waited: timedelta
    has_signed_agreement: bool
    waited: str  # "3 days, 5 hours" (Django's timesince), at the instant of `business_waited`

    @property
    def overdue(self) -> bool:
        return self.business_waited > timedelta(days=APPROVAL_OVERDUE_BUSINESS_DAYS)

    @property
    def named_to_free(self) -> int:
        return len(self.seat_change.licences_to_free)


def awaiting_approval(scope: StaffScope) -> QuerySet[SeatChange]:
    return scope.restrict(
        SeatChange.objects.filter(state=SeatChange.State.AWAITING_APPROVAL).select_related(
            "subscription__plan__product", "subscription__organization__account_manager"
        )
    )


def approvals_queryset(
    *,
    scope: StaffScope,
    product: str = "",
    account_manager: str = "",
    overdue_only: bool = False,
    search: str = "",
    sort: str = "oldest",
    now: datetime | None = None,
) -> QuerySet[SeatChange]:
    """Decreases awaiting approval in `scope`, filtered and sorted in the database (so a
    page of the queue reads one page of rows); `account_manager` is a user id, or
    "none" for organizations without one. Turn its rows into `ApprovalRow`s with
    `approval_row`."""
    now = now or timezone.now()
    changes = awaiting_approval(scope).annotate(
        licences_in_use=licensing.assigned_licences("subscription"),
        decrease_size=F("old_quantity") - F("new_quantity"),
        has_signed_agreement=Exists(
            Agreement.objects.filter(seat_change=OuterRef("pk"), signed_at__isnull=False)
        ),
    )
    if product:
        changes = changes.filter(subscription__plan__product__code=product)
    if account_manager == "none":
        changes = changes.filter(subscription__organization__account_manager__isnull=True)
    elif (account_manager_id := numbers.whole_number(account_manager)) is not None:
        changes = changes.filter(subscription__organization__account_manager_id=account_manager_id)
    if search.strip():
        changes = changes.filter(subscription__organization__name__icontains=search.strip())
    if overdue_only:
        changes = changes.annotate(waiting_since=Coalesce("signed_at", "created_at")).filter(
            waiting_since__lt=business_cutoff(now, business_days=APPROVAL_OVERDUE_BUSINESS_DAYS)
        )
    return changes.order_by(*QUEUE_SORTS.get(sort, QUEUE_SORTS["oldest"]))


def approval_row(change: SeatChange, *, now: datetime) -> ApprovalRow:
    """One change of `approvals_queryset` as the queue shows it."""
    since = change.signed_at or change.created_at
    return ApprovalRow(
        seat_change=change,
        licences_in_use=change.licences_in_use,
        waiting_since=since,
        business_waited=business_time_between(since, now),
        has_signed_agreement=change.has_signed_agreement,
        waited=timesince(since, now),
    )


def approvals_queue(*, now: datetime | None = None, **filters) -> list[ApprovalRow]:
    """The whole queue (filters as `approvals_queryset`), for the daily digest."""
    now = now or timezone.now()
    return [approval_row(change, now=now) for change in approvals_queryset(now=now, **filters)]


def queue_filter_choices(scope: StaffScope) -> dict:
    """What the queue's filters offer: the products, and for managers the account managers."""
    return {
        "products": Product.objects.order_by("name"),
        "account_managers": (
            staff_who_can_manage_accounts().only("pk", "full_name", "email")
            if scope.sees_all
            else User.objects.none()
        ),
        "sorts": [
            ("oldest", "Waiting longest first"),
            ("newest", "Newest first"),
            ("organization", "Organization"),
            ("largest", "Largest decrease first"),
        ],
    }


def staff_who_can_manage_accounts() -> QuerySet[User]:
    """Staff who can be an organization's account manager."""
    return User.objects.filter(is_staff=True, is_active=True, staff_role__in=BACKOFFICE_ROLES).order_by(
        "full_name", "email"
    )


# --- Accounts --------------------------------------------------------------------------


def accounts_list(*, scope: StaffScope, search: str = "") -> QuerySet[Organization]:
    organizations = scope.organizations().select_related("account_manager")
    if search.strip():
        term = search.strip()
        organizations = organizations.filter(
            Q(name__icontains=term) | Q(slug__icontains=term) | Q(billing_email__icontains=term)
        )
    # Counted per organization shown (correlated subqueries), not by grouping every
    # organization's subscriptions and changes before a page is cut.
    return organizations.annotate(
        subscription_count=_count_of(Subscription.objects.filter(organization=OuterRef("pk"))),
        pending_approvals=_count_of(
            SeatChange.objects.filter(
                subscription__organization=OuterRef("pk"), state=SeatChange.State.AWAITING_APPROVAL
            )
        ),
    ).order_by("name", "pk")


@dataclass(frozen=True)
class ListPage:
    """One page of a list paged without counting it: Previous and Next, no "of N"."""

    object_list: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def list_page(queryset: QuerySet, *, number, size: int) -> ListPage:
    """Page `number` (as typed in the query string) of the ordered `queryset`, `size` rows
    a page. It reads `size + 1` rows, the last only to know whether a Next page exists,
    so no request counts every match (a search matching 10,000 organizations costs what
    one matching 10 does). As with Django's `Paginator.get_page` (the approvals queue's),
    what is not a whole number is page 1 and a number no page has (0, negative, past
    the end) is the last page: only then are the matches counted, to find it."""
    text = number.strip() if isinstance(number, str) else ""
    if not numbers.is_digits(text.removeprefix("-")):
        wanted = 1
    elif text.startswith("-"):
        wanted = 0
    else:  # None for a page past any end the database could hold
        wanted = numbers.whole_number(text, maximum=numbers.BIGINT_MAX // size - 1) or 0
    if wanted:
        rows = list(queryset[(wanted - 1) * size : wanted * size + 1])
        if rows or wanted == 1:
            return ListPage(object_list=rows[:size], number=wanted, has_next=len(rows) > size)
    last = max(1, -(-queryset.count() // size))
    return ListPage(object_list=list(queryset[(last - 1) * size : last * size]), number=last, has_next=False)


def _count_of(queryset: QuerySet) -> Coalesce:
    return Coalesce(
        Subquery(queryset.order_by().values(group=Value(1)).annotate(count=Count("pk")).values("count")),
        0,
    )


@dataclass
class SubscriptionPanel:
    subscription: object
    seats: licensing.SeatSummary
    chart: charts.SeatChart
    open_change: SeatChange | None
    links: list[CapabilityLink]


@dataclass
class AccountOverview:
    organization: Organization
    admins: list[Membership]
    invitations: list[Invitation]  # not yet accepted
    subscriptions: list[SubscriptionPanel]
    seat_changes: list[SeatChange]
    seat_syncs: list[SeatSync]
    payments: list[Payment]
    audit_events: list[AuditEvent]


def _seat_histories(organization: Organization, subscriptions) -> dict[str, list[AuditEvent]]:
    events = AuditEvent.objects.filter(
        organization=organization,
        action="subscription.quantity_changed",
        object_type="subscriptions.Subscription",
        object_id__in=[str(s.pk) for s in subscriptions],
    ).order_by("created_at", "id")
    by_subscription: dict[str, list[AuditEvent]] = {}
    for event in events:
        by_subscription.setdefault(event.object_id, []).append(event)
    return by_subscription


def seat_chart_for(subscription, events: list[AuditEvent], *, scheduled: SeatChange | None, now: datetime):
    """The seats-over-time chart of one subscription, from its `subscription.quantity_changed`
    audit events (each carries the quantity before and after)."""
    start = subscription.activated_at or subscription.created_at
    initial = subscription.quantity
    if events:
        initial = (events[0].before or {}).get("quantity", initial)
        start = min(start, events[0].created_at)
    changes = [
        charts.Step(
            event.created_at, (event.after or {}).get("quantity", 0), (event.after or {}).get("via", "")
        )
        for event in events
    ]
    upcoming = (
        charts.Step(scheduled.effective_at, scheduled.new_quantity, "scheduled")
        if scheduled is not None and scheduled.state == SeatChange.State.SCHEDULED
        else None
    )
    return charts.seats_chart(start=start, initial=initial, changes=changes, now=now, scheduled=upcoming)


def account_overview(*, organization: Organization, now: datetime | None = None) -> AccountOverview:
    now = now or timezone.now()
    subscriptions = list(licensing.subscriptions_with_seats(organization=organization))
    histories = _seat_histories(organization, subscriptions)
    open_changes = {
        change.subscription_id: change
        for change in SeatChange.objects.filter(
            subscription__organization=organization, state__in=SeatChange.OPEN_STATES
        )
    }
    links: dict[int, list[CapabilityLink]] = {}
    for link in CapabilityLink.objects.filter(
        subscription__organization=organization,
        action__in=LINK_ACTIONS_EMAILED,
        revoked_at__isnull=True,
    ).order_by("subscription_id", "-created_at"):
        links.setdefault(link.subscription_id, []).append(link)
    panels = [
        SubscriptionPanel(
            subscription=subscription,
            seats=licensing.seat_summary(subscription),
            chart=seat_chart_for(
                subscription,
                histories.get(str(subscription.pk), []),
                scheduled=open_changes.get(subscription.pk),
                now=now,
            ),
            open_change=open_changes.get(subscription.pk),
            links=links.get(subscription.pk, []),
        )
        for subscription in subscriptions
    ]
    audit_events = list(
        AuditEvent.objects.filter(organization=organization)
        .select_related("actor")
        .order_by("-created_at", "-id")[:ACCOUNT_PAGE_ROWS]
    )
    for event in audit_events:
        event.summary = audit_summary(event)
    return AccountOverview(
        organization=organization,
        admins=list(
            Membership.objects.filter(organization=organization, role=Membership.Role.ADMIN)
            .select_related("user")
            .order_by("user__email")
        ),
        invitations=list(organization.invitations.filter(accepted_at__isnull=True).order_by("email")),
        subscriptions=panels,
        seat_changes=list(
            SeatChange.objects.filter(subscription__organization=organization)
            .select_related("subscription__plan__product", "requested_by", "decided_by")
            .order_by("-created_at")[:ACCOUNT_PAGE_ROWS]
        ),
        seat_syncs=_with_latest_attempts(
            SeatSync.objects.filter(subscription__organization=organization)
            .select_related("subscription__plan__product", "seat_change")
            .order_by("-created_at")[:ACCOUNT_PAGE_ROWS]
        ),
        payments=list(
            Payment.objects.filter(organization=organization)
            .select_related("seat_change", "subscription__plan__product")
            .defer("receipt_pdf")
            .order_by("-created_at")[:ACCOUNT_PAGE_ROWS]
        ),
        audit_events=audit_events,
    )


def _with_latest_attempts(pushes) -> list[SeatSync]:
    """`pushes`, each with `latest_attempts`: its newest ATTEMPTS_SHOWN attempts (a push
    that keeps failing is tried for as long as it takes), for all of them in one query."""
    pushes = list(pushes)
    attempts: dict[int, list[SeatSyncAttempt]] = {push.pk: [] for push in pushes}
    ranked = (
        SeatSyncAttempt.objects.filter(seat_sync_id__in=attempts)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=F("seat_sync_id"), order_by=[F("started_at").desc(), F("id").desc()]
            )
        )
        .filter(rank__lte=ATTEMPTS_SHOWN)
        .order_by("seat_sync_id", "rank")
    )
    for attempt in ranked:
        attempts[attempt.seat_sync_id].append(attempt)
    for push in pushes:
        push.latest_attempts = attempts[push.pk]
    return pushes


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


def audit_summary(event: AuditEvent) -> str:
    """An event's before and after for people: "state: draft → signed · reason: …"
    (long values cut; the CSV export has them whole)."""
    before, after = event.before or {}, event.after or {}
    parts = []
    for key in dict.fromkeys([*before, *after]):
        if key in before and key in after:
            parts.append(f"{key}: {_short(before[key])} → {_short(after[key])}")
        elif key in after:
            parts.append(f"{key}: {_short(after[key])}")
        else:
            parts.append(f"{key} was {_short(before[key])}")
    return " · ".join(parts)


def audit_events_for_export(organization: Organization):
    """Every audit event of `organization`, oldest first, streamed in chunks."""
    return (
        AuditEvent.objects.filter(organization=organization)
        .select_related("actor")
        .order_by("created_at", "id")
        .iterator(chunk_size=500)
    )


# --- Seat changes ----------------------------------------------------------------------


@dataclass(frozen=True)
class SeatChangeDetail:
    seat_change: SeatChange
    agreement: Agreement | None
    licences_in_use: int
    licences_kept: int
    named_users: list
    history: list[AuditEvent]

    @property
    def must_free(self) -> int:
        """Licences still to free before the decrease fits (0 when it does)."""
        return max(self.licences_kept - self.seat_change.new_quantity, 0)


def seat_change_detail(seat_change: SeatChange) -> SeatChangeDetail:
    agreement = (
        Agreement.objects.filter(seat_change_id=seat_change.pk, organization_id=seat_change.organization_id)
        .defer("unsigned_pdf", "signed_pdf", "signature_png")
        .first()
    )
    named = list(
        licensing.licensed_users(subscription=seat_change.subscription).filter(
            pk__in=seat_change.licences_to_free
        )
    )
    return SeatChangeDetail(
        seat_change=seat_change,
        agreement=agreement,
        licences_in_use=licensing.licences_in_use(subscription=seat_change.subscription),
        licences_kept=licences_kept(seat_change),
        named_users=named,
        history=list(
            AuditEvent.objects.filter(organization_id=seat_change.organization_id)
            .filter(
                Q(object_type="subscriptions.SeatChange", object_id=str(seat_change.pk))
                | Q(object_type="agreements.Agreement", object_id=str(agreement.pk) if agreement else "")
            )
            .select_related("actor")
            .order_by("created_at", "id")
        ),
    )


def payment_receipt(*, scope: StaffScope, pk: int) -> Payment | None:
    """A payment with a receipt, in one of `scope`'s organizations."""
    return scope.restrict(Payment.objects.filter(pk=pk, receipt_number__isnull=False)).first()


def agreement_pdf(seat_change: SeatChange) -> tuple[Agreement, bytes] | None:
    """The agreement and its PDF (signed if it is signed)."""
    agreement = Agreement.objects.filter(
        seat_change_id=seat_change.pk, organization_id=seat_change.organization_id
    ).first()
    if agreement is None:
        return None
    signed = agreement.signed_pdf is not None
    return agreement, bytes(agreement.signed_pdf if signed else agreement.unsigned_pdf)
