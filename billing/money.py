"""Amounts as Stripe's API takes them, per currency: one table (`CURRENCIES`).

Amounts are integers in the *minor unit Stripe's API uses* for the currency: what
`Plan.unit_amount`, a quote and a Payment hold is exactly the `amount` sent to Stripe.
That unit follows Stripe's "Supported currencies" page, not ISO 4217, where they differ:

* two decimals unless listed otherwise (1234 means €12.34);
* zero-decimal (500 means ¥500): BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF
  XOF XPF. MGA has two decimals in ISO 4217 but none in Stripe;
* special cases: ISK and UGX "transitioned to a zero-decimal currency, but backward
  compatibility requires you to represent it as a two-decimal value, where the decimal
  amount is always 00" (500 means 5 ISK, and a charge must be a multiple of 100); UGX
  also appears in the zero-decimal list, and the special case, being the more specific
  statement about charges, is the one followed. HUF and TWD are zero-decimal for
  *payouts* only: charges take two decimals, so they are ordinary two-decimal currencies
  here;
* three-decimal (1500 means 1.500 KWD): BHD JOD KWD OMR TND, charged in multiples of 10
  (the last digit 0).

`charge_step` is that granularity (100 for ISK, 10 for KWD, 1 otherwise);
`round_to_charge_step` rounds an amount onto it, always *down* (towards minus infinity),
which is in the customer's favour both ways: a charge gets smaller, a credit bigger.
Amounts are formatted with the digits people use (ISK and UGX without decimals, since
theirs are always 00). Only integer arithmetic is used: no float ever sees an amount.

    >>> format_money(123450, "eur")
    '€1,234.50'
    >>> format_money(-300, "EUR")
    '-€3.00'
    >>> format_money(500, "jpy")
    '¥500'
    >>> format_money(500000, "isk")
    '5,000 ISK'
    >>> format_money(1500, "kwd")
    '1.500 KWD'
    >>> format_money(123450, "eur", locale="de")
    '1.234,50 €'

The smallest charge (`minimum_charge`) is Stripe's "Minimum and maximum charge amounts"
table for the presentment currencies it lists (€0.50, £0.30, HUF 175.00, ¥50…), and
for the others, which Stripe only bounds as "the equivalent of $0.50", half a major unit
rounded up to the charge step (50 units of a zero-decimal currency). Stripe applies its
minimum after converting to the account's settlement currency, at exchange rates we
don't know: an amount above our minimum can still be refused by Stripe as too small.
That refusal (`amount_too_small`) is a definitive failure of the payment: nothing was
charged, the customer is told so and the account manager is alerted
(`billing.services`), who settles the change by hand.
"""

import re
from dataclasses import dataclass

__all__ = [
    "CURRENCIES",
    "Currency",
    "charge_step",
    "chargeable",
    "format_integer",
    "format_money",
    "is_valid_charge",
    "minimum_charge",
    "minor_unit_digits",
    "round_to_charge_step",
]


@dataclass(frozen=True)
class Currency:
    """How Stripe's API writes one currency's amounts."""

    # Digits after the decimal point in Stripe's `amount` (0 for JPY, 2 for ISK, 3 for KWD).
    digits: int = 2
    # Digits people write; fewer than `digits` when Stripe's extra ones are always 0 (ISK).
    display_digits: int = 2
    # A charge must be a multiple of this many minor units (100 for ISK, 10 for KWD).
    step: int = 1
    # Stripe's minimum charge in minor units, where its table lists the currency.
    minimum: int | None = None


_TWO_DECIMAL = Currency()
_ZERO_DECIMAL = Currency(digits=0, display_digits=0)
_WHOLE_UNITS_AS_TWO_DECIMALS = Currency(digits=2, display_digits=0, step=100)
_THREE_DECIMAL = Currency(digits=3, display_digits=3, step=10)


def _two_decimal(minimum: int) -> Currency:
    return Currency(minimum=minimum)


# Every currency that is not an ordinary two-decimal currency without a listed minimum.
CURRENCIES: dict[str, Currency] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF", "XOF", "XPF"),
        _ZERO_DECIMAL,
    ),
    "JPY": Currency(digits=0, display_digits=0, minimum=50),
    "ISK": _WHOLE_UNITS_AS_TWO_DECIMALS,
    "UGX": _WHOLE_UNITS_AS_TWO_DECIMALS,
    **dict.fromkeys(("BHD", "JOD", "KWD", "OMR", "TND"), _THREE_DECIMAL),
    # Stripe's minimum charge amounts (two-decimal currencies, in minor units).
    "USD": _two_decimal(50),
    "AED": _two_decimal(200),
    "AUD": _two_decimal(50),
    "BGN": _two_decimal(100),
    "BRL": _two_decimal(50),
    "CAD": _two_decimal(50),
    "CHF": _two_decimal(50),
    "CZK": _two_decimal(1500),
    "DKK": _two_decimal(250),
    "EUR": _two_decimal(50),
    "GBP": _two_decimal(30),
    "HKD": _two_decimal(400),
    "HUF": _two_decimal(17500),
    "INR": _two_decimal(50),
    "MXN": _two_decimal(1000),
    "MYR": _two_decimal(200),
    "NOK": _two_decimal(300),
    "NZD": _two_decimal(50),
    "PLN": _two_decimal(200),
    "RON": _two_decimal(200),
    "SEK": _two_decimal(300),
    "SGD": _two_decimal(50),
    "THB": _two_decimal(1000),
}

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


def _currency(currency: str) -> Currency:
    return CURRENCIES.get(_normalise_currency(currency), _TWO_DECIMAL)


def minor_unit_digits(currency: str) -> int:
    """Digits after the decimal point in Stripe's `amount` for `currency` (case-insensitive):
    0 (JPY, MGA), 2 (EUR, ISK, HUF) or 3 (KWD)."""
    return _currency(currency).digits


def charge_step(currency: str) -> int:
    """A charge in `currency` must be a multiple of this many minor units: 100 for ISK
    and UGX, 10 for the three-decimal currencies, 1 otherwise."""
    return _currency(currency).step


def round_to_charge_step(amount_minor: int, currency: str) -> int:
    """`amount_minor` rounded down (towards minus infinity) to a multiple of the charge
    step: in the customer's favour, a charge smaller and a credit larger.

    >>> round_to_charge_step(282857, "isk"), round_to_charge_step(-424286, "isk")
    (282800, -424300)
    >>> round_to_charge_step(1505, "kwd"), round_to_charge_step(1505, "eur")
    (1500, 1505)
    """
    amount_minor = _require_int(amount_minor, "amount_minor")
    step = charge_step(currency)
    return amount_minor // step * step


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

    en: "€1,234.50", "-€3.00", "$0.99", "£12.00", "¥500", "5,000 ISK", "1,234.50 CHF",
    "-0.005 KWD". de: "1.234,50 €", "-3,00 €", "1.234,50 CHF".
    An ISK or UGX amount that is not whole (never one we charge) shows its decimals
    rather than hiding them.
    """
    amount_minor = _require_int(amount_minor, "amount_minor")
    code = _normalise_currency(currency)
    conventions = _locale(locale)
    details = _currency(code)

    magnitude = abs(amount_minor)
    major, minor = divmod(magnitude, 10**details.digits)
    digits = details.digits
    hidden = details.digits - details.display_digits
    if hidden and minor % 10**hidden == 0:
        minor, digits = minor // 10**hidden, details.display_digits
    number = _group(str(major), conventions.group)
    if digits:
        number += conventions.decimal + str(minor).zfill(digits)

    sign = "-" if amount_minor < 0 else ""
    symbol = _SYMBOLS.get(code)
    if symbol is not None and conventions.symbol_first:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {symbol or code}"


def minimum_charge(currency: str) -> int:
    """The smallest card payment in `currency`, in minor units: Stripe's listed minimum
    (50 cents, 30 pence, ¥50…), else half a major unit rounded up to the charge step
    (0.500 KWD, 1 ISK), or 50 for a zero-decimal currency (50 KRW). The module's
    docstring says why Stripe may still refuse an amount above it."""
    details = _currency(currency)
    if details.minimum is not None:
        return details.minimum
    half_a_unit = 5 * 10 ** (details.digits - 1) if details.digits else 50
    return -(-half_a_unit // details.step) * details.step


def is_valid_charge(amount_minor: int, currency: str) -> bool:
    """Whether Stripe accepts `amount_minor` as a charge in `currency`: at least the
    minimum, and a multiple of the charge step."""
    return chargeable(amount_minor, currency) and amount_minor % charge_step(currency) == 0


def chargeable(amount_minor: int, currency: str) -> bool:
    """Whether `amount_minor` can be charged to a card at all: less than the minimum
    is not charged (an increase quoted minutes before its period ends, a free plan).

    >>> chargeable(33, "eur"), chargeable(50, "eur"), chargeable(30, "gbp")
    (False, True, True)
    """
    return amount_minor >= minimum_charge(currency)


def renewal_words(renewal, *, with_date: bool = True) -> str:
    """The next renewal (`subscriptions.money_story.Renewal`) for people: "€360.00 on
    31 December 2026" ("€360.00" without the date), or "None: ends on 31 December 2026"
    for a subscription cancelled at its period end; "" for None (not live)."""
    if renewal is None:
        return ""
    on = f"{renewal.on:%-d %B %Y}"
    if renewal.ends:
        return f"None: ends on {on}"
    amount = format_money(renewal.amount, renewal.currency)
    return f"{amount} on {on}" if with_date else amount
