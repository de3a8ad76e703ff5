"""Who may use the back office, and which accounts they see. The one place that scopes.

Vendor staff (`is_staff`) with a staff role get in: an account manager sees the
organizations whose `account_manager` they are, a manager sees every organization.
Everyone else is refused: anonymous visitors go to sign-in, customers and staff without
a role get 403. Every back-office view takes `request.scope` and looks objects up
through it, so another account manager's organization, subscription, seat change or
link is simply not found (404).
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from subscriptions.models import CapabilityLink, Organization, SeatChange, Subscription

BACKOFFICE_ROLES = (User.StaffRole.ACCOUNT_MANAGER, User.StaffRole.MANAGER)


def staff_role_of(user) -> str | None:
    """The back-office role of `user`, or None if they may not use the back office."""
    if not getattr(user, "is_authenticated", False) or not user.is_active or not user.is_staff:
        return None
    return user.staff_role if user.staff_role in BACKOFFICE_ROLES else None


@dataclass(frozen=True)
class StaffScope:
    """The accounts one member of staff sees."""

    user: User

    @property
    def sees_all(self) -> bool:
        return self.user.staff_role == User.StaffRole.MANAGER

    def restrict(self, queryset: QuerySet, organization_path: str = "organization") -> QuerySet:
        """`queryset` narrowed to this person's organizations; `organization_path` is the
        lookup from the queryset's model to its Organization (empty for Organization)."""
        if self.sees_all:
            return queryset
        lookup = f"{organization_path}__account_manager" if organization_path else "account_manager"
        return queryset.filter(**{lookup: self.user})

    def organizations(self) -> QuerySet[Organization]:
        return self.restrict(Organization.objects.all(), "")

    def organization(self, pk: int) -> Organization:
        return _found(self.organizations().select_related("account_manager").filter(pk=pk))

    def subscription(self, pk: int) -> Subscription:
        return _found(
            self.restrict(Subscription.objects.select_related("plan__product", "organization")).filter(pk=pk)
        )

    def seat_change(self, number: str) -> SeatChange:
        return _found(
            self.restrict(
                SeatChange.objects.select_related(
                    "subscription__plan__product", "subscription__organization", "requested_by", "decided_by"
                )
            ).filter(number=number)
        )

    def link(self, pk: int) -> CapabilityLink:
        return _found(
            self.restrict(CapabilityLink.objects.select_related("subscription__organization")).filter(pk=pk)
        )


def _found(queryset: QuerySet):
    found = queryset.first()
    if found is None:
        raise Http404
    return found


def backoffice_view(view):
    """Decorator for every back-office view: sets `request.scope` (a StaffScope)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if staff_role_of(request.user) is None:
            raise PermissionDenied("The back office is for the vendor's account managers.")
        request.scope = StaffScope(request.user)
        return view(request, *args, **kwargs)

    return wrapper
