from dataclasses import dataclass
from datetime import datetime

# Seconds to wait for a connected org; a push that takes longer is retried later.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10


@dataclass(frozen=True)
class Push:
    """A seat count to deliver. `delivery_id` is the same on every retry of one
    SeatSync, so receivers can deduplicate; `version` only goes up per subscription."""

    delivery_id: str
    organization: str  # the organization's slug
    product: str  # the product code
    seats: int
    seat_change: str | None  # the agreement number, if a seat change caused it
    version: int
    occurred_at: datetime


class PushFailed(Exception):
    """The org did not take the count. Always retried: a wrong setting is fixed by
    staff and the next attempt lands."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
