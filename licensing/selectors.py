"""Licence reads, always scoped to one organization."""

import threading
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from subscriptions import hot_cache
from subscriptions.models import Organization, Plan, Product, SeatChange, SeatSync, Subscription
from subscriptions.money_story import with_renewal_seats
from subscriptions.words import counted

from .models import LicenceAssignment, OrgUser, PendingLicence


@dataclass(frozen=True)
class SeatSummary:
    """A subscription's counts, defined here once for every page, email and the API.

    OpenCRM's "Number of active users" (Active or Locked people) is per system; here
    licences are per product, so the pages say what each number is: the users *with a
    <Product> licence* (`active`), the licences paid for (`maximum`), those still free
    (`available`), and the Active or Locked people who have none (`unlicensed`)."""

    maximum: int  # seats paid for: "<Product> licences paid for"
    active: int  # licences assigned: "Users with a <Product> licence"
    # An approved decrease waiting for the period end: its total and when.
    scheduled_maximum: int | None = None
    scheduled_on: datetime | None = None
    unlicensed: int = 0  # Active or Locked users of the organization without this licence

    @property
    def available(self) -> int:
        """Licences that can still be given: no more than the decrease will leave."""
        ceiling = (
            self.maximum if self.scheduled_maximum is None else min(self.maximum, self.scheduled_maximum)
        )
        return max(ceiling - self.active, 0)


def scheduled_decrease(field: str) -> Subquery:
    """For annotating subscriptions: `field` of their decrease waiting for the period
    end (None without one)."""
    return Subquery(
        SeatChange.objects.filter(subscription=OuterRef("pk"), state=SeatChange.State.SCHEDULED).values(
            field
        )[:1]
    )


def assigned_licences(subscription: str = "pk") -> Coalesce:
    """For annotating subscriptions (or rows with a `subscription` field to name): how
    many of the subscription's licences are held. A subquery, not a join counted by
    GROUP BY: grouped, PostgreSQL evaluates the other annotations' subqueries once per
    licence row instead of once per subscription (30 ms for a subscription of 89
    licences at 10,000 organizations, BENCHMARKS.md)."""
    return Coalesce(
        Subquery(
            LicenceAssignment.objects.filter(subscription_id=OuterRef(subscription))
            .order_by()
            .values("subscription_id")
            .annotate(count=Count("pk"))
            .values("count")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def unlicensed_users() -> Subquery:
    """For annotating subscriptions: how many Active or Locked users of their
    organization hold no licence of them."""
    return Coalesce(
        Subquery(
            OrgUser.objects.filter(
                organization_id=OuterRef("organization_id"), status__in=OrgUser.LICENSED_STATUSES
            )
            .exclude(
                Exists(
                    LicenceAssignment.objects.filter(
                        org_user_id=OuterRef("pk"), subscription_id=OuterRef(OuterRef("pk"))
                    )
                )
            )
            .order_by()
            .values("organization_id")
            .annotate(count=Count("pk"))
            .values("count")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def subscriptions_with_seats(*, organization: Organization) -> QuerySet[Subscription]:
    """The organization's subscriptions, each annotated with `licences_in_use`, the
    Active or Locked users without its licence and any scheduled decrease, in one
    query whatever the number of users."""
    return (
        Subscription.objects.filter(organization=organization)
        .select_related("plan__product")
        .annotate(
            licences_in_use=assigned_licences(),
            unlicensed_users=unlicensed_users(),
            scheduled_maximum=scheduled_decrease("new_quantity"),
            scheduled_on=scheduled_decrease("effective_at"),
        )
        .order_by("plan__product__name", "pk")
    )


def seat_summary(subscription: Subscription) -> SeatSummary:
    active = getattr(subscription, "licences_in_use", None)
    if active is None:
        active = LicenceAssignment.objects.filter(subscription=subscription).count()
    if hasattr(subscription, "scheduled_maximum"):
        scheduled = (subscription.scheduled_maximum, subscription.scheduled_on)
    else:
        scheduled = (
            SeatChange.objects.filter(subscription=subscription, state=SeatChange.State.SCHEDULED)
            .values_list("new_quantity", "effective_at")
            .first()
        ) or (None, None)
    unlicensed = getattr(subscription, "unlicensed_users", None)
    if unlicensed is None:
        unlicensed = (
            Subscription.objects.filter(pk=subscription.pk)
            .annotate(unlicensed_users=unlicensed_users())
            .values_list("unlicensed_users", flat=True)
            .get()
        )
    return SeatSummary(
        maximum=subscription.quantity,
        active=active,
        scheduled_maximum=scheduled[0],
        scheduled_on=scheduled[1],
        unlicensed=unlicensed,
    )


def org_users_with_licences(
    *, organization: Organization, search: str = "", with_pending: bool = False
) -> QuerySet[OrgUser]:
    """The organization's users (optionally those whose name or email contains
    `search`), each with their licences prefetched (and, `with_pending`, the licences
    they wait for, with the number of the seat change buying them)."""
    users = OrgUser.objects.filter(organization=organization)
    if search:
        users = users.filter(Q(name__icontains=search) | Q(email__icontains=search))
    users = users.prefetch_related(
        Prefetch(
            "licences",
            queryset=LicenceAssignment.objects.only("id", "subscription_id", "org_user_id").annotate(
                product_code=F("subscription__plan__product__code")
            ),
        )
    )
    if with_pending:
        users = users.prefetch_related(
            Prefetch(
                "pending_licences",
                queryset=PendingLicence.objects.only("id", "subscription_id", "org_user_id").annotate(
                    seat_change_number=F("seat_change__number")
                ),
            )
        )
    return users


LIVE_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)


def licences_offered(*, organization: Organization, org_user: OrgUser | None = None) -> list[int]:
    """The subscriptions (ids) whose licences a user made Active or Locked gets unless
    the admin chooses otherwise: those they held when a status change last freed them,
    or, for a new user or one who never held any, every live subscription. In OpenCRM's
    words an Active user *is* a user with a licence, so the default is to give one, and
    where none is left the admin is asked to increase rather than told nothing."""
    live = list(
        Subscription.objects.filter(organization=organization, status__in=LIVE_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if org_user is not None and org_user.licences_held_before is not None:
        held = set(org_user.licences_held_before)
        return [pk for pk in live if pk in held]
    return live


USER_ORDERINGS = ("name", "-name", "email", "-email", "created_at", "-created_at", "id", "-id")
SUBSCRIPTION_ORDERINGS = ("product", "-product", "id", "-id", "current_period_end", "-current_period_end")


def org_users_filtered(
    *,
    organization: Organization,
    email: str | None = None,
    status: str | None = None,
    product: str | None = None,
    licensed: bool | None = None,
    search: str = "",
    ordering: str = "name",
) -> QuerySet[OrgUser]:
    """The organization's users with their licences (as `org_users_with_licences`):
    `email` exactly (normalised), of a `status`, holding a licence of `product` (a
    code, compared case-insensitively), holding any licence or none (`licensed`),
    whose name or email contains `search`, ordered by one of USER_ORDERINGS (then by
    id, so pages are stable)."""
    users = org_users_with_licences(organization=organization, search=search)
    if email is not None:
        users = users.alias(email_lower=Lower("email")).filter(email_lower=email)
    if status is not None:
        users = users.filter(status=status)
    if product is not None:
        users = users.filter(
            Exists(
                LicenceAssignment.objects.filter(
                    org_user=OuterRef("pk"), subscription__plan__product__code__iexact=product
                )
            )
        )
    if licensed is not None:
        holds_any = Exists(LicenceAssignment.objects.filter(org_user=OuterRef("pk")))
        users = users.filter(holds_any if licensed else ~holds_any)
    return users.order_by(ordering, "-id" if ordering.startswith("-") else "id")


def subscriptions_filtered(
    *,
    organization: Organization,
    product: str | None = None,
    status: str | None = None,
    ordering: str = "product",
) -> QuerySet[Subscription]:
    """`subscriptions_with_seats`, of a `product` (code, case-insensitive) and `status`,
    ordered by one of SUBSCRIPTION_ORDERINGS (then by id)."""
    subscriptions = with_renewal_seats(subscriptions_with_seats(organization=organization))
    if product is not None:
        subscriptions = subscriptions.filter(plan__product__code__iexact=product)
    if status is not None:
        subscriptions = subscriptions.filter(status=status)
    descending = ordering.startswith("-")
    field = ordering.lstrip("-")
    field = "plan__product__name" if field == "product" else field
    order = f"-{field}" if descending else field
    return subscriptions.order_by(order, "-id" if descending else "id")


def org_user_get(*, organization: Organization, pk: int) -> OrgUser | None:
    return OrgUser.objects.filter(organization=organization, pk=pk).first()


def subscription_get(*, organization: Organization, pk: int) -> Subscription | None:
    return (
        Subscription.objects.filter(organization=organization, pk=pk)
        .select_related("plan__product", "organization")
        .first()
    )


def product_code(code: str) -> str | None:
    """The catalogue's code of the product `code` names, compared case-insensitively;
    None for a product that does not exist."""

    def query() -> str | None:
        return (
            Product.objects.filter(code__iexact=code).order_by("code").values_list("code", flat=True).first()
        )

    return hot_cache.get_or_compute(("product", code.lower()), query)


# The licence check's one query, on covering indexes only: the org user from
# (organization, lower(email)) INCLUDE (id), their licences from (org_user,
# subscription), then the subscription, its plan and product by primary key.
LICENSED_SQL = f"""
    SELECT 1 FROM {OrgUser._meta.db_table} u
    JOIN {LicenceAssignment._meta.db_table} a ON a.org_user_id = u.id
    JOIN {Subscription._meta.db_table} s ON s.id = a.subscription_id
    JOIN {Plan._meta.db_table} p ON p.id = s.plan_id
    JOIN {Product._meta.db_table} r ON r.id = p.product_id
    WHERE u.organization_id = $1 AND lower(u.email) = $2 AND r.code = $3
      AND s.status IN ({", ".join(f"'{status}'" for status in LIVE_STATUSES)})
    LIMIT 1
"""  # noqa: S608 - names and statuses come from the models, never from input
# Planning that five-table join costs several times running it, so on PostgreSQL it is
# prepared once per connection (a prepared statement outlives transactions and their
# rollbacks, and goes with its connection).
LICENSED_STATEMENT = "licensing_is_licensed"
_prepared = threading.local()


def _licensed_on_postgresql(organization_id: int, product_code: str, email: str) -> bool:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        if getattr(_prepared, "connection", None) is not connection.connection:
            cursor.execute(f"PREPARE {LICENSED_STATEMENT} (bigint, text, text) AS {LICENSED_SQL}")
            _prepared.connection = connection.connection
        cursor.execute(f"EXECUTE {LICENSED_STATEMENT} (%s, %s, %s)", [organization_id, email, product_code])
        return cursor.fetchone() is not None


def is_licensed(*, organization_id: int, product_code: str, email: str) -> bool:
    """The hot path a connected app calls on every login: does this person hold a
    licence of this product in this organization's live subscription? `product_code`
    as the catalogue writes it, `email` normalised (`licensing.emails`)."""

    def query() -> bool:
        if connection.vendor == "postgresql":
            return _licensed_on_postgresql(organization_id, product_code, email)
        return (
            LicenceAssignment.objects.alias(email_lower=Lower("org_user__email"))
            .filter(
                org_user__organization_id=organization_id,
                email_lower=email,
                subscription__plan__product__code=product_code,
                subscription__status__in=LIVE_STATUSES,
            )
            .exists()
        )

    return hot_cache.get_or_compute(
        ("licensed", organization_id, product_code, email), query, organization_id=organization_id
    )


def licences_in_use(*, subscription: Subscription) -> int:
    return LicenceAssignment.objects.filter(subscription=subscription).count()


def licensed_users(*, subscription: Subscription) -> QuerySet[OrgUser]:
    """The org users holding a licence of `subscription`, by name."""
    return OrgUser.objects.filter(
        organization_id=subscription.organization_id, licences__subscription=subscription
    ).order_by("name", "pk")


@dataclass(frozen=True)
class PushStatus:
    """Where the subscription's latest seat count stands in the connected org."""

    state: str  # live | sending | retrying | none
    seats: int | None
    version: int | None
    message: str
    next_attempt_at: datetime | None = None


def push_status(*, subscription: Subscription, now: datetime | None = None) -> PushStatus:
    return _push_status_of(subscription.seat_syncs.order_by("-version").first(), now=now or timezone.now())


def push_statuses(*, subscriptions, now: datetime | None = None) -> dict[int, PushStatus]:
    """`push_status` of each of `subscriptions` (by id), in one query whatever their
    number: each one's latest seat count is the one no newer version follows."""
    now = now or timezone.now()
    latest = {
        sync.subscription_id: sync
        for sync in SeatSync.objects.filter(subscription__in=[s.pk for s in subscriptions]).exclude(
            Exists(
                SeatSync.objects.filter(
                    subscription_id=OuterRef("subscription_id"), version__gt=OuterRef("version")
                )
            )
        )
    }
    return {s.pk: _push_status_of(latest.get(s.pk), now=now) for s in subscriptions}


def _push_status_of(latest: SeatSync | None, *, now: datetime) -> PushStatus:
    if latest is None:
        return PushStatus("none", None, None, "")
    if latest.status == SeatSync.Status.DELIVERED:
        return PushStatus(
            "live", latest.quantity, latest.version, f"{counted(latest.quantity, 'seat')} live in your org"
        )
    if latest.attempts == 0:
        return PushStatus("sending", latest.quantity, latest.version, "Sending to your org…")
    wait = max(int((latest.next_attempt_at - now).total_seconds()), 0) if latest.next_attempt_at else 0
    return PushStatus(
        "retrying",
        latest.quantity,
        latest.version,
        f"Retrying: {latest.last_error} Next attempt in {wait} s.",
        latest.next_attempt_at,
    )


def push_history(*, subscription: Subscription, limit: int = 20) -> QuerySet[SeatSync]:
    return (
        subscription.seat_syncs.select_related("seat_change")
        .prefetch_related("attempts_log")
        .order_by("-version")[:limit]
    )
