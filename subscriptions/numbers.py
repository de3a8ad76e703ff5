"""Whole numbers typed by a person or sent to the API, bounded before they are parsed.

Python refuses to turn a string of more than 4,300 digits into an int (`ValueError`),
`str.isdigit()` says yes to "²" and "١٢", and a number the database column cannot hold
fails in the database: each of these was an error page. Every number read from a form,
a query string, a session value a form put there or a JSON body goes through here, and
anything that is not a plain decimal number within bounds is simply not a number.
"""

import re

# PostgreSQL's integer and bigint columns (seats are PositiveIntegerField, ids BigAutoField).
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def is_digits(raw) -> bool:
    """Whether `raw` is written as a plain decimal number (ASCII digits only, however
    many), so that a caller can tell "not a number" from "a number out of bounds"."""
    if isinstance(raw, bool):
        return False
    if isinstance(raw, int):
        return raw >= 0
    return isinstance(raw, str) and _DIGITS.fullmatch(raw.strip()) is not None


def whole_number(raw, *, maximum: int = BIGINT_MAX) -> int | None:
    """`raw` (a str of ASCII digits, or an int) as an int from 0 to `maximum`, else None.

    The digits are counted before they are converted, so a 10,000-digit string costs
    nothing and raises nothing; leading zeros are allowed ("007" is 7)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw <= maximum else None
    if not is_digits(raw):
        return None
    digits = raw.strip().lstrip("0") or "0"
    if len(digits) > len(str(maximum)):
        return None
    value = int(digits)
    return value if value <= maximum else None


def whole_numbers(values, *, maximum: int = BIGINT_MAX) -> list[int] | None:
    """Each of `values` as `whole_number`, or None if any of them is not one."""
    numbers = [whole_number(value, maximum=maximum) for value in values]
    return None if any(number is None for number in numbers) else numbers
