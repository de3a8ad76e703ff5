"""Amounts by currency, as Stripe's "Supported currencies" page states them
(https://docs.stripe.com/currencies): minor units, the currencies whose amounts must
end in 0 or 00, and the minimum charge amounts.

This table is the stand-in's own, on purpose: the app keeps its table in
billing/money.py, and the stand-in checks the app independently.
"""

from stripe_standin.errors import StripeRefusal

# https://docs.stripe.com/currencies#zero-decimal: the amount is in whole units.
ZERO_DECIMAL = frozenset({
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
})  # fmt: skip
# https://docs.stripe.com/currencies#three-decimal: amounts in thousandths whose last
# digit must be 0 (Stripe's payment partners settle these to the hundredth).
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# https://docs.stripe.com/currencies#special-cases: ISK is zero-decimal, but the API
# keeps it two-decimal for backwards compatibility, so amounts are multiples of 100.
WHOLE_UNITS_IN_TWO_DECIMALS = frozenset({"isk"})
# https://docs.stripe.com/currencies#special-cases: HUF and TWD charges may have
# decimals, but payouts are in whole units (multiples of 100).
WHOLE_UNIT_PAYOUTS = frozenset({"huf", "twd"})

# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts, in minor units.
# Other currencies' minimum is the equivalent of USD 0.50 at the day's rate, which the
# stand-in cannot know: it checks only these.
MINIMUM_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50,
    "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200,
    "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip
# Same page: "The amount value supports up to eight digits".
MAXIMUM_AMOUNT = 99_999_999


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def shown(amount: int, currency: str) -> str:
    """`0.50 eur`, `50 jpy`: how Stripe's messages write an amount."""
    places = exponent(currency)
    if places == 0:
        return f"{amount} {currency}"
    return f"{amount / 10**places:.{places}f} {currency}"


def check_charge_amount(amount: int, currency: str, *, param: str = "amount") -> None:
    """An amount charged to a customer (PaymentIntent, Charge)."""
    check_minor_units(amount, currency, param=param)
    minimum = MINIMUM_CHARGE.get(currency)
    if minimum is not None and amount < minimum:
        raise StripeRefusal(
            f"Amount must be at least {shown(minimum, currency)}",
            param=param,
            code="amount_too_small",
        )
    if amount > MAXIMUM_AMOUNT:
        raise StripeRefusal(
            f"Amount must be no more than {shown(MAXIMUM_AMOUNT, currency)}",
            param=param,
            code="amount_too_large",
        )


def check_minor_units(amount: int, currency: str, *, param: str = "amount") -> None:
    if currency in THREE_DECIMAL and amount % 10:
        raise StripeRefusal(
            f"Amounts in {currency} must end in 0: Stripe settles {currency} to the hundredth "
            f"(round {amount} to the nearest ten).",
            param=param,
            code="invalid_charge_amount",
        )
    if currency in WHOLE_UNITS_IN_TWO_DECIMALS and amount % 100:
        raise StripeRefusal(
            f"Amounts in {currency} must be evenly divisible by 100: {currency} is charged in whole "
            "units but written with two decimals.",
            param=param,
            code="invalid_charge_amount",
        )


def check_payout_amount(amount: int, currency: str, *, param: str = "amount") -> None:
    check_minor_units(amount, currency, param=param)
    if currency in WHOLE_UNIT_PAYOUTS and amount % 100:
        raise StripeRefusal(
            f"Payouts in {currency} must be in whole units: the amount must be evenly divisible by 100.",
            param=param,
            code="invalid_charge_amount",
        )
