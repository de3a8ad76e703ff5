"""The overdue cutoff a database filters on agrees with business time, to the second."""

import random
from datetime import UTC, datetime, timedelta

from backoffice.business_days import business_cutoff, business_time_between

DAYS = 2


def overdue(start: datetime, end: datetime) -> bool:
    return business_time_between(start, end) > timedelta(days=DAYS)


def test_a_start_is_overdue_exactly_when_it_is_before_the_cutoff():
    rng = random.Random(16)
    for _ in range(2_000):
        end = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(seconds=rng.randrange(21 * 86_400))
        cutoff = business_cutoff(end, business_days=DAYS)
        for start in (cutoff - timedelta(seconds=1), cutoff, cutoff + timedelta(seconds=1)):
            assert overdue(start, end) == (start < cutoff), (end, cutoff, start)


def test_over_a_weekend_the_cutoff_is_the_friday_morning_before():
    monday_noon = datetime(2026, 11, 30, 12, tzinfo=UTC)
    # Monday noon minus two business days: Thursday noon; the weekend does not count.
    assert business_cutoff(monday_noon, business_days=DAYS) == datetime(2026, 11, 26, 12, tzinfo=UTC)
    # From Tuesday midnight one business day back is Monday midnight, and a start
    # during the weekend before has waited no longer: the cutoff is Saturday midnight.
    tuesday = datetime(2026, 12, 1, tzinfo=UTC)
    assert business_cutoff(tuesday, business_days=1) == datetime(2026, 11, 28, tzinfo=UTC)
