"""Extension points that apps above licensing fill in when they start.

Licensing may not import the apps above it (import-linter's layers), yet one licence
API call needs them: adding a user and buying the missing seat starts a seat change
(quote, agreement, signing link), which is `portal`'s work. `portal` registers that
function here in its `AppConfig.ready()`; the API calls it through `seat_buyer()`.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class BoughtSeat:
    org_user: Any  # licensing.models.OrgUser, saved and waiting for its licence
    seat_change: Any  # subscriptions.models.SeatChange, a draft increase by 1
    sign_url: str  # absolute signing link for that change (an API client has no session)


class SeatBuyer(Protocol):
    def __call__(
        self,
        *,
        subscription,
        name: str,
        email: str,
        status: str,
        subscription_ids: list[int],
        actor=None,
        actor_label: str = "",
        request=None,
    ) -> BoughtSeat: ...


_seat_buyer: SeatBuyer | None = None


def register_seat_buyer(buyer: SeatBuyer) -> None:
    global _seat_buyer
    _seat_buyer = buyer


def seat_buyer() -> SeatBuyer:
    if _seat_buyer is None:
        raise ImproperlyConfigured("No app registered a seat buyer (is `portal` installed?).")
    return _seat_buyer
