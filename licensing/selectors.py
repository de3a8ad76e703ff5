"""Licence reads, always scoped to one organization."""

from dataclasses import dataclass

from django.db.models import Count, F, Prefetch, QuerySet

from subscriptions import hot_cache
from subscriptions.models import Organization, Subscription

from .models import LicenceAssignment, OrgUser


@dataclass(frozen=True)
class SeatSummary:
    maximum: int  # seats paid for ("Maximum active users")
    active: int  # licences assigned ("Number of active users")

    @property
    def available(self) -> int:
        return max(self.maximum - self.active, 0)


def subscriptions_with_seats(*, organization: Organization) -> QuerySet[Subscription]:
    """The organization's subscriptions, each annotated with `licences_in_use`,
    in one query whatever the number of users."""
    return (
        Subscription.objects.filter(organization=organization)
        .select_related("plan__product")
        .annotate(licences_in_use=Count("licence_assignments"))
        .order_by("plan__product__name", "pk")
    )


def seat_summary(subscription: Subscription) -> SeatSummary:
    active = getattr(subscription, "licences_in_use", None)
    if active is None:
        active = LicenceAssignment.objects.filter(subscription=subscription).count()
    return SeatSummary(maximum=subscription.quantity, active=active)


def org_users_with_licences(*, organization: Organization) -> QuerySet[OrgUser]:
    return OrgUser.objects.filter(organization=organization).prefetch_related(
        Prefetch(
            "licences",
            queryset=LicenceAssignment.objects.only("id", "subscription_id", "org_user_id").annotate(
                product_code=F("subscription__plan__product__code")
            ),
        )
    )


def org_user_get(*, organization: Organization, pk: int) -> OrgUser | None:
    return OrgUser.objects.filter(organization=organization, pk=pk).first()


def subscription_get(*, organization: Organization, pk: int) -> Subscription | None:
    return (
        Subscription.objects.filter(organization=organization, pk=pk)
        .select_related("plan__product", "organization")
        .first()
    )


def is_licensed(*, organization_id: int, product_code: str, email: str) -> bool:
    """The hot path a connected app calls on every login: does this person hold a
    licence of this product in this organization's live subscription?"""
    email = email.strip().lower()

    def query() -> bool:
        return LicenceAssignment.objects.filter(
            organization_id=organization_id,
            subscription__plan__product__code=product_code,
            subscription__status__in=(Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE),
            org_user__email=email,
        ).exists()

    return hot_cache.get_or_compute(("licensed", organization_id, product_code, email), query)


def licences_in_use(*, subscription: Subscription) -> int:
    return LicenceAssignment.objects.filter(subscription=subscription).count()


def licensed_users(*, subscription: Subscription) -> QuerySet[OrgUser]:
    """The org users holding a licence of `subscription`, by name."""
    return OrgUser.objects.filter(
        organization_id=subscription.organization_id, licences__subscription=subscription
    ).order_by("name", "pk")
