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

Then each line is rounded down onto the amounts Stripe accepts in the currency
(`billing.money.round_to_charge_step`: multiples of 100 for ISK and UGX, of 10 for
three-decimal currencies like KWD, any amount otherwise), so that the amount quoted and
signed is one Stripe can charge. Down is in the customer's favour on both lines: the
debit gets smaller, the credit larger. Worked example, ISK (two decimals in Stripe's
API, always 00), 9,900 ISK a seat, 3 -> 5 seats with 1/7 of the period left:

    credit = -round(990000 * 3 / 7) = -424286  ->  -424300  (-4,243 ISK)
    debit  = +round(990000 * 5 / 7) = +707143  ->  +707100  (+7,071 ISK)
    amount_due = 282800 (2,828 ISK; exactly it would be 2,828.57)

All datetimes must be timezone-aware. They are converted to UTC before anything is
compared or subtracted, so a period that crosses a daylight-saving change counts the
seconds that really elapse (Python would otherwise subtract two datetimes sharing a
tzinfo as wall-clock times).

Amounts are integers in the minor unit of the plan's currency (`Plan.unit_amount`);
`billing.money.format_money` writes them for people.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from subscriptions.errors import InvalidInput

from .money import round_to_charge_step

__all__ = ["ProrationError", "ProrationQuote", "quote_seat_change", "renewal_amount"]

_ONE_SECOND = timedelta(seconds=1)


class ProrationError(InvalidInput):
    """The inputs of a proration or renewal make no sense; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ProrationQuote:
    """What a seat change costs, with every input needed to show how it was computed.

    Datetimes are stored in UTC. `credit` <= 0 <= `debit`; `amount_due` = credit + debit.
    """

    unit_amount: int
    currency: str
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


def _check_currency(value) -> str:
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()):
        raise ProrationError(
            f"currency must be a three-letter ISO 4217 code, got {value!r}.", field="currency"
        )
    return value.lower()


def _whole_seconds(delta: timedelta) -> int:
    """Whole seconds in a non-negative timedelta, rounded down (1.9 s -> 1)."""
    return delta // _ONE_SECOND


def quote_seat_change(
    *,
    unit_amount: int,
    currency: str,
    old_quantity: int,
    new_quantity: int,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
) -> ProrationQuote:
    """Price a change from `old_quantity` to `new_quantity` seats at `at`.

    `unit_amount` is the price of one seat for the whole period, in minor units of
    `currency`.

        credit = -round(unit_amount * old_quantity * remaining / total)
        debit  = +round(unit_amount * new_quantity * remaining / total)

    with remaining = period_end - at and total = period_end - period_start in whole
    seconds (floor), each line rounded half up on its magnitude, then down onto the
    currency's charge step (see the module's docstring). A change at
    period_start credits and charges the full amounts; `at` must be before period_end.

    Raises ProrationError for a negative or non-int amount or quantity, a currency that
    is not a three-letter code, a naive or
    non-datetime bound, a period that does not last at least one second, or an `at`
    outside [period_start, period_end).
    """
    unit_amount = _check_non_negative_int(unit_amount, "unit_amount")
    old_quantity = _check_non_negative_int(old_quantity, "old_quantity")
    new_quantity = _check_non_negative_int(new_quantity, "new_quantity")
    currency = _check_currency(currency)
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

    credit = round_to_charge_step(-_round_half_up(unit_amount * old_quantity * remaining, total), currency)
    debit = round_to_charge_step(_round_half_up(unit_amount * new_quantity * remaining, total), currency)
    return ProrationQuote(
        unit_amount=unit_amount,
        currency=currency,
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
