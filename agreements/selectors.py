"""Reads of the agreements app, scoped to the seat change's organization."""

from pdfs import downloads as pdfs_downloads
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


def agreement_pdf_filename(agreement: Agreement, *, organization_name: str) -> str:
    """What the agreement's PDF is saved as: `change-agreement-<org>-<number>-<date>.pdf`
    (the day it was issued), or `…-signed-<date>.pdf` for the signed copy with its
    certificate of completion (the day it was signed)."""
    if agreement.signed_pdf is not None:
        return pdfs_downloads.pdf_filename(
            "change-agreement", organization_name, agreement.number, "signed", on=agreement.signed_at
        )
    return pdfs_downloads.pdf_filename(
        "change-agreement", organization_name, agreement.number, on=agreement.sent_at
    )
