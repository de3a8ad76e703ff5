"""Proration of a seat change within a billing period, to the second, as Stripe does it.

The rule
--------
A change from `old_quantity` to `new_quantity` seats at instant `at`, in the period
[`period_start`, `period_end`), is billed as two lines:

    remaining = period_end - at               whole seconds (floor)
    total     = period_end - period_start     whole seconds (floor)

    credit = -round(unit_amount * old_quantity * remaining / total)   unused time, refunded
    debit  = +round(unit_amount * new_quantity * remaining / total)   remaining time, charged
    amount_due = credit + debit                                       negative for a decrease

Each line is rounded on its own, to the currency's minor unit, HALF UP on its magnitude:
an exact .5 goes away from zero (500.5 -> 501 for a debit, -500.5 -> -501 for a credit).
The division is done in exact integer arithmetic, `(2 * n + d) // (2 * d)`, so no float
ever touches an amount and the result does not depend on the size of the numbers.

All datetimes must be timezone-aware. They are converted to UTC before anything is
compared or subtracted, so a period that crosses a daylight-saving change counts the
seconds that really elapse (Python would otherwise subtract two datetimes sharing a
tzinfo as wall-clock times).

Amounts are integers in the minor unit of the plan's currency (`Plan.unit_amount`);
`billing.money.format_money` writes them for people.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from billing.money import format_integer, format_money
from subscriptions.errors import InvalidInput

__all__ = ["ProrationError", "ProrationQuote", "quote_seat_change", "renewal_amount"]

_ONE_SECOND = timedelta(seconds=1)
_TIMES = "\u00d7"  # the multiplication sign, for people reading `explain`


class ProrationError(InvalidInput):
    """The inputs of a proration or renewal make no sense; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ProrationQuote:
    """What a seat change costs, with every input needed to show how it was computed.

    Datetimes are stored in UTC. `credit` <= 0 <= `debit`; `amount_due` = credit + debit.
    """

    unit_amount: int
    old_quantity: int
    new_quantity: int
    period_start: datetime
    period_end: datetime
    at: datetime
    remaining_seconds: int
    total_seconds: int
    credit: int
    debit: int
    amount_due: int

    @property
    def remaining_fraction(self) -> Fraction:
        """remaining_seconds / total_seconds, exactly (1 at period_start)."""
        return Fraction(self.remaining_seconds, self.total_seconds)

    @property
    def quantity_change(self) -> int:
        return self.new_quantity - self.old_quantity

    def explain(self, currency: str, locale: str = "en") -> tuple[str, ...]:
        """The computation written out, one line each, for an agreement or an invoice.

        Example (en, eur), 3 -> 5 seats at €10.00 with 19.5 of 30 days left (the
        multiplication sign is written "x" here, "\u00d7" in the output):
            Period 2028-04-01 00:00:00 UTC to 2028-05-01 00:00:00 UTC: 2,592,000 seconds.
            Change at 2028-04-11 12:00:00 UTC: 1,684,800 seconds remaining.
            Credit for unused time on 3 seats: -(€10.00 x 3 x 1,684,800 / 2,592,000) = -€19.50
            Charge for remaining time on 5 seats: €10.00 x 5 x 1,684,800 / 2,592,000 = €32.50
            Each line is rounded half up to the nearest minor unit.
            Amount due: €13.00
        """
        unit = format_money(self.unit_amount, currency, locale)
        remaining = format_integer(self.remaining_seconds, locale)
        total = format_integer(self.total_seconds, locale)
        old, new = self.old_quantity, self.new_quantity
        total_line = "Amount due" if self.amount_due >= 0 else "Amount credited"
        return (
            f"Period {_when(self.period_start)} to {_when(self.period_end)}: {total} seconds.",
            f"Change at {_when(self.at)}: {remaining} seconds remaining.",
            f"Credit for unused time on {_seats(old)}: "
            f"-({unit} {_TIMES} {old} {_TIMES} {remaining} / {total}) = "
            f"{format_money(self.credit, currency, locale)}",
            f"Charge for remaining time on {_seats(new)}: "
            f"{unit} {_TIMES} {new} {_TIMES} {remaining} / {total} = "
            f"{format_money(self.debit, currency, locale)}",
            "Each line is rounded half up to the nearest minor unit.",
            f"{total_line}: {format_money(abs(self.amount_due), currency, locale)}",
        )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seats(quantity: int) -> str:
    return f"{quantity} seat" if quantity == 1 else f"{quantity} seats"


def _round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for numerator >= 0 and denominator > 0."""
    return (2 * numerator + denominator) // (2 * denominator)


def _check_non_negative_int(value, name: str) -> int:
    # bool is an int subclass, but True seats is a bug, not a quantity.
    if type(value) is not int:
        raise ProrationError(
            f"{name} must be a whole number (int), got {type(value).__name__} {value!r}.",
            field=name,
        )
    if value < 0:
        raise ProrationError(f"{name} must not be negative, got {value}.", field=name)
    return value


def _check_aware(value, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ProrationError(f"{name} must be a datetime, got {type(value).__name__} {value!r}.", field=name)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ProrationError(
            f"{name} must be timezone-aware, got the naive datetime {value.isoformat()}.",
            field=name,
        )
    return value.astimezone(UTC)


def _whole_seconds(delta: timedelta) -> int:
    """Whole seconds in a non-negative timedelta, rounded down (1.9 s -> 1)."""
    return delta // _ONE_SECOND


def quote_seat_change(
    *,
    unit_amount: int,
    old_quantity: int,
    new_quantity: int,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
) -> ProrationQuote:
    """Price a change from `old_quantity` to `new_quantity` seats at `at`.

    `unit_amount` is the price of one seat for the whole period, in minor units.

        credit = -round(unit_amount * old_quantity * remaining / total)
        debit  = +round(unit_amount * new_quantity * remaining / total)

    with remaining = period_end - at and total = period_end - period_start in whole
    seconds (floor), each line rounded half up on its magnitude. A change at
    period_start credits and charges the full amounts; `at` must be before period_end.

    Raises ProrationError for a negative or non-int amount or quantity, a naive or
    non-datetime bound, a period that does not last at least one second, or an `at`
    outside [period_start, period_end).
    """
    unit_amount = _check_non_negative_int(unit_amount, "unit_amount")
    old_quantity = _check_non_negative_int(old_quantity, "old_quantity")
    new_quantity = _check_non_negative_int(new_quantity, "new_quantity")
    start = _check_aware(period_start, "period_start")
    end = _check_aware(period_end, "period_end")
    moment = _check_aware(at, "at")

    if end <= start:
        raise ProrationError(
            f"period_end ({end.isoformat()}) must be after period_start ({start.isoformat()}).",
            field="period_end",
        )
    total = _whole_seconds(end - start)
    if total == 0:
        raise ProrationError(
            f"The period from period_start ({start.isoformat()}) to period_end "
            f"({end.isoformat()}) is shorter than one second; nothing can be prorated over it.",
            field="period_end",
        )
    if not start <= moment < end:
        raise ProrationError(
            f"at ({moment.isoformat()}) must be within the period: on or after "
            f"{start.isoformat()} and before {end.isoformat()}.",
            field="at",
        )
    remaining = _whole_seconds(end - moment)

    credit = -_round_half_up(unit_amount * old_quantity * remaining, total)
    debit = _round_half_up(unit_amount * new_quantity * remaining, total)
    return ProrationQuote(
        unit_amount=unit_amount,
        old_quantity=old_quantity,
        new_quantity=new_quantity,
        period_start=start,
        period_end=end,
        at=moment,
        remaining_seconds=remaining,
        total_seconds=total,
        credit=credit,
        debit=debit,
        amount_due=credit + debit,
    )


def renewal_amount(*, unit_amount: int, quantity: int) -> int:
    """What a full period costs at renewal: unit_amount * quantity, in minor units."""
    unit_amount = _check_non_negative_int(unit_amount, "unit_amount")
    quantity = _check_non_negative_int(quantity, "quantity")
    return unit_amount * quantity
