"""Reads of the agreements app, scoped to the seat change's organization."""

from subscriptions.models import SeatChange

from .models import Agreement


def agreement_for_seat_change(seat_change: SeatChange) -> Agreement | None:
    """The agreement of a seat change, or None before one is issued. Filtered by the
    seat change's organization as well, so a row of another tenant can never match."""
    return (
        Agreement.objects.filter(seat_change_id=seat_change.pk, organization_id=seat_change.organization_id)
        .select_related("seat_change")
        .first()
    )
