"""Business time: how long a request has waited counting only Monday to Friday (UTC).

Public holidays are not known to seatmgr and count as business days.
"""

from datetime import UTC, datetime, timedelta

DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)


def business_time_between(start: datetime, end: datetime) -> timedelta:
    """The part of [start, end) that falls on Monday to Friday, in UTC.

    Friday 10:00 → Monday 10:00 is one business day (14 hours of Friday, 10 of
    Monday); the weekend in between does not count.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return timedelta(0)
    total = timedelta(0)
    cursor = start
    while cursor < end:
        if cursor.time() == datetime.min.time() and end - cursor >= WEEK:
            # Any seven days from a midnight hold exactly five weekdays.
            weeks = (end - cursor) // WEEK
            total += weeks * 5 * DAY
            cursor += weeks * WEEK
            continue
        next_midnight = datetime.combine(cursor.date() + DAY, datetime.min.time(), tzinfo=UTC)
        stop = min(next_midnight, end)
        if cursor.weekday() < 5:
            total += stop - cursor
        cursor = stop
    return total


def waited_more_than(start: datetime, end: datetime, *, business_days: int) -> bool:
    return business_time_between(start, end) > business_days * DAY


def business_cutoff(end: datetime, *, business_days: int) -> datetime:
    """The instant before which a start has waited more than `business_days` business
    days at `end`: `business_time_between(start, end) > business_days` days exactly
    when `start < business_cutoff(end, …)`, so a database can filter on it."""
    cursor, remaining = end.astimezone(UTC), business_days * DAY
    while True:
        midnight = datetime.combine(cursor.date(), datetime.min.time(), tzinfo=UTC)
        day_start = midnight if midnight < cursor else midnight - DAY
        if day_start.weekday() < 5:
            if cursor - day_start >= remaining:
                cutoff = cursor - remaining
                break
            remaining -= cursor - day_start
        cursor = day_start
    # The weekend right before counts for nothing: starting then waits no longer.
    while cutoff.time() == datetime.min.time() and (cutoff - DAY).weekday() >= 5:
        cutoff -= DAY
    return cutoff
