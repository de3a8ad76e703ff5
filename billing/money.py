"""Formatting amounts held in a currency's minor unit (cents, pence, yen, fils...).

Amounts are integers of the currency's *minor* unit, as Stripe and `Plan.unit_amount`
keep them. How many minor-unit digits a currency has follows ISO 4217: 0 for JPY, KRW
and the like (500 means ¥500), 3 for BHD, KWD and the like (1500 means 1.500 BHD), 2 for
everything not listed. Only integer arithmetic is used: no float ever sees an amount.

    >>> format_money(123450, "eur")
    '€1,234.50'
    >>> format_money(-300, "EUR")
    '-€3.00'
    >>> format_money(500, "jpy")
    '¥500'
    >>> format_money(123450, "chf")
    '1,234.50 CHF'
    >>> format_money(123450, "eur", locale="de")
    '1.234,50 €'
"""

import re

__all__ = ["chargeable", "format_integer", "format_money", "minimum_charge", "minor_unit_digits"]

# ISO 4217 currencies whose minor unit is not 1/100.
_ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
_FOUR_DECIMAL = frozenset({"CLF", "UYW"})

# Currencies shown with a symbol; every other currency is shown with its code.
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


class _Locale:
    def __init__(self, *, group: str, decimal: str, symbol_first: bool):
        self.group = group
        self.decimal = decimal
        # "€1,234.50" (en) or "1.234,50 €" (de). Codes always follow the number.
        self.symbol_first = symbol_first


_LOCALES = {
    "en": _Locale(group=",", decimal=".", symbol_first=True),
    "de": _Locale(group=".", decimal=",", symbol_first=False),
}

_CURRENCY_RE = re.compile(r"[A-Za-z]{3}")


def _normalise_currency(currency: str) -> str:
    if not isinstance(currency, str) or not _CURRENCY_RE.fullmatch(currency):
        raise ValueError(f"Currency must be a three-letter ISO 4217 code, got {currency!r}.")
    return currency.upper()


def _locale(locale: str) -> _Locale:
    """`en`, `en-GB`, `en_US`... all mean `en`; unknown languages are refused, not guessed."""
    language = locale.replace("_", "-").split("-", 1)[0].lower() if isinstance(locale, str) else ""
    try:
        return _LOCALES[language]
    except KeyError:
        supported = ", ".join(sorted(_LOCALES))
        raise ValueError(f"Unsupported locale {locale!r}; supported: {supported}.") from None


def _require_int(value, name: str) -> int:
    # bool is an int subclass, but True is not an amount.
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    return value


def minor_unit_digits(currency: str) -> int:
    """Digits after the decimal point in `currency` (case-insensitive): 0, 2, 3 or 4."""
    code = _normalise_currency(currency)
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    if code in _FOUR_DECIMAL:
        return 4
    return 2


def _group(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return separator.join(parts)


def format_integer(value: int, locale: str = "en") -> str:
    """A whole number with the locale's thousands separator: 2592000 -> "2,592,000"."""
    value = _require_int(value, "value")
    sign = "-" if value < 0 else ""
    return sign + _group(str(abs(value)), _locale(locale).group)


def format_money(amount_minor: int, currency: str, locale: str = "en") -> str:
    """`amount_minor` minor units of `currency`, written for people.

    en: "€1,234.50", "-€3.00", "$0.99", "£12.00", "¥500", "1,234.50 CHF", "-0.005 KWD".
    de: "1.234,50 €", "-3,00 €", "1.234,50 CHF".
    """
    amount_minor = _require_int(amount_minor, "amount_minor")
    code = _normalise_currency(currency)
    conventions = _locale(locale)
    digits = minor_unit_digits(code)

    magnitude = abs(amount_minor)
    major, minor = divmod(magnitude, 10**digits)
    number = _group(str(major), conventions.group)
    if digits:
        number += conventions.decimal + str(minor).zfill(digits)

    sign = "-" if amount_minor < 0 else ""
    symbol = _SYMBOLS.get(code)
    if symbol is not None and conventions.symbol_first:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {symbol or code}"


# The smallest amount a card can be charged, per Stripe (in minor units; 50 for any
# currency not listed): stripe.com/docs/currencies#minimum-and-maximum-charge-amounts
_MINIMUM_CHARGE = {
    "AED": 200,
    "BGN": 100,
    "CZK": 1500,
    "DKK": 250,
    "GBP": 30,
    "HKD": 400,
    "HUF": 17500,
    "MXN": 1000,
    "MYR": 200,
    "NOK": 300,
    "PLN": 200,
    "RON": 200,
    "SEK": 300,
    "THB": 1000,
}


def minimum_charge(currency: str) -> int:
    """The smallest card payment in `currency`, in minor units (50 cents, 30 pence…):
    for a currency Stripe lists no minimum for, 0.50 of its major unit (50 for a
    currency without minor units, ¥50 say)."""
    currency = currency.upper()
    if currency in _MINIMUM_CHARGE:
        return _MINIMUM_CHARGE[currency]
    digits = minor_unit_digits(currency)
    return 50 * 10 ** (digits - 2) if digits >= 2 else 50


def chargeable(amount_minor: int, currency: str) -> bool:
    """Whether `amount_minor` can be charged to a card at all: less than the minimum
    is not charged (an increase quoted minutes before its period ends, a free plan).

    >>> chargeable(33, "eur"), chargeable(50, "eur"), chargeable(30, "gbp")
    (False, True, True)
    """
    return amount_minor >= minimum_charge(currency)
