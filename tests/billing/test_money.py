"""Amounts as Stripe's API takes them: digits and charge steps per currency (Stripe's
currency table, not ISO 4217, where they differ), minimum charges, formatting."""

import random
from decimal import Decimal

import pytest

from billing.money import (
    charge_step,
    chargeable,
    format_integer,
    format_money,
    is_valid_charge,
    minimum_charge,
    minor_unit_digits,
    round_to_charge_step,
)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (123450, "eur", "€1,234.50"),
        (-300, "eur", "-€3.00"),
        (99, "usd", "$0.99"),
        (1200, "gbp", "£12.00"),
        (500, "jpy", "¥500"),
        (123450, "chf", "1,234.50 CHF"),
        (-123450, "chf", "-1,234.50 CHF"),
    ],
)
def test_formats_the_documented_examples(amount, currency, expected):
    assert format_money(amount, currency) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (0, "eur", "€0.00"),
        (5, "eur", "€0.05"),
        (-5, "eur", "-€0.05"),
        (100, "usd", "$1.00"),
        (99999, "usd", "$999.99"),
        (100000, "usd", "$1,000.00"),
        (123456789012, "usd", "$1,234,567,890.12"),
        (-100000000, "gbp", "-£1,000,000.00"),
    ],
)
def test_two_digit_currencies_pad_cents_and_group_thousands(amount, currency, expected):
    assert format_money(amount, currency) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (0, "jpy", "¥0"),
        (1234567, "jpy", "¥1,234,567"),
        (-500, "jpy", "-¥500"),
        (1234567, "krw", "1,234,567 KRW"),
        (999, "vnd", "999 VND"),
        (1000, "clp", "1,000 CLP"),
        (1234567, "bhd", "1,234.567 BHD"),
        (5, "kwd", "0.005 KWD"),
        (-1500, "omr", "-1.500 OMR"),
        # Stripe's special cases: ISK and UGX in hundredths that are always 00, shown whole.
        (500000, "isk", "5,000 ISK"),
        (-500, "isk", "-5 ISK"),
        (500, "ugx", "5 UGX"),
        # Never charged, but never hidden either: a fraction shows.
        (550, "isk", "5.50 ISK"),
        # MGA: zero-decimal in Stripe (two decimals in ISO 4217).
        (5000, "mga", "5,000 MGA"),
        # HUF: two decimals for charges.
        (17500, "huf", "175.00 HUF"),
    ],
)
def test_currencies_with_zero_three_or_four_minor_digits(amount, currency, expected):
    assert format_money(amount, currency) == expected


@pytest.mark.parametrize(
    ("currency", "digits", "step"),
    [
        ("jpy", 0, 1),
        ("KRW", 0, 1),
        ("xof", 0, 1),
        ("mga", 0, 1),
        ("isk", 2, 100),
        ("UGX", 2, 100),
        ("huf", 2, 1),
        ("twd", 2, 1),
        ("bhd", 3, 10),
        ("KWD", 3, 10),
        ("jod", 3, 10),
        ("omr", 3, 10),
        ("tnd", 3, 10),
        ("eur", 2, 1),
        ("USD", 2, 1),
        ("chf", 2, 1),
        ("xyz", 2, 1),
    ],
)
def test_digits_and_charge_steps_follow_stripes_currency_table(currency, digits, step):
    assert (minor_unit_digits(currency), charge_step(currency)) == (digits, step)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        # ISK: 2,828.57 ISK is charged as 2,828 ISK; a credit of 4,242.86 becomes 4,243.
        (282857, "isk", 282800),
        (-424286, "isk", -424300),
        (282800, "isk", 282800),
        # KWD: 1.505 KWD -> 1.500; -1.505 -> -1.510.
        (1505, "kwd", 1500),
        (-1505, "kwd", -1510),
        (1509, "bhd", 1500),
        # Every whole minor unit is chargeable in JPY, MGA, HUF and EUR.
        (2829, "jpy", 2829),
        (2829, "mga", 2829),
        (282857, "huf", 282857),
        (2829, "eur", 2829),
    ],
)
def test_rounding_onto_the_charge_step_is_down_in_the_customers_favour(amount, currency, rounded):
    assert round_to_charge_step(amount, currency) == rounded


def test_currency_code_is_case_insensitive():
    assert format_money(123450, "EUR") == format_money(123450, "eur") == "€1,234.50"
    assert format_money(123450, "Chf") == "1,234.50 CHF"


def test_locale_variants_of_english_format_the_same():
    for locale in ("en", "en-GB", "en_US", "EN"):
        assert format_money(-123450, "eur", locale) == "-€1,234.50"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (123450, "eur", "1.234,50 €"),
        (-300, "eur", "-3,00 €"),
        (500, "jpy", "500 ¥"),
        (123450, "chf", "1.234,50 CHF"),
        (1234567, "bhd", "1.234,567 BHD"),
    ],
)
def test_german_locale_puts_the_symbol_after_and_swaps_separators(amount, currency, expected):
    assert format_money(amount, currency, locale="de-DE") == expected


def test_format_integer_groups_thousands():
    assert format_integer(2_592_000) == "2,592,000"
    assert format_integer(-1_000) == "-1,000"
    assert format_integer(999) == "999"
    assert format_integer(0) == "0"
    assert format_integer(2_592_000, "de") == "2.592.000"


@pytest.mark.parametrize("amount", [1.5, 10.0, Decimal("1.00"), "100", None, True])
def test_amount_must_be_an_int(amount):
    with pytest.raises(TypeError, match="amount_minor must be an int"):
        format_money(amount, "eur")


@pytest.mark.parametrize("currency", ["", "eu", "euro", "e1r", "€", None, 978])
def test_currency_must_be_a_three_letter_code(currency):
    with pytest.raises(ValueError, match="three-letter ISO 4217 code"):
        format_money(100, currency)


@pytest.mark.parametrize("locale", ["fr", "xx", "", None])
def test_unsupported_locale_is_refused(locale):
    with pytest.raises(ValueError, match="Unsupported locale"):
        format_money(100, "eur", locale)


def test_random_amounts_agree_with_decimal_formatting():
    # Decimal's own "{:,f}" formatting is the reference; the code under test uses ints only.
    rng = random.Random(1234)
    for _ in range(2_000):
        currency = rng.choice(["chf", "krw", "kwd", "sek"])
        digits = minor_unit_digits(currency)
        amount = rng.randrange(-(10**15), 10**15) // 10 ** rng.randrange(0, 15)
        expected_number = f"{Decimal(amount).scaleb(-digits):,.{digits}f}"
        assert format_money(amount, currency) == f"{expected_number} {currency.upper()}"


@pytest.mark.parametrize(
    ("amount", "currency", "can_charge"),
    [
        (49, "eur", False),
        (50, "EUR", True),
        (29, "gbp", False),
        (30, "gbp", True),
        (0, "usd", False),
        (299, "sek", False),
        (17499, "huf", False),
        (17500, "huf", True),
        (49, "jpy", False),
        (50, "jpy", True),
    ],
)
def test_less_than_the_smallest_card_payment_cannot_be_charged(amount, currency, can_charge):
    assert chargeable(amount, currency) is can_charge


@pytest.mark.parametrize(
    ("currency", "minimum"),
    [
        # Stripe's table of minimum charge amounts.
        ("eur", 50),
        ("gbp", 30),
        ("jpy", 50),
        ("huf", 17500),
        ("czk", 1500),
        ("thb", 1000),
        # Not in it: half a major unit, on the charge step (1 ISK, 0.500 KWD), or 50 units
        # of a zero-decimal currency.
        ("isk", 100),
        ("kwd", 500),
        ("bhd", 500),
        ("mga", 50),
        ("xyz", 50),
    ],
)
def test_the_smallest_card_payment_is_stripes_or_half_a_major_unit(currency, minimum):
    assert minimum_charge(currency) == minimum
    assert minimum_charge(currency) % charge_step(currency) == 0


@pytest.mark.parametrize(
    ("amount", "currency", "valid"),
    [
        (50, "eur", True),
        (51, "eur", True),
        (282800, "isk", True),
        (282857, "isk", False),
        (1500, "kwd", True),
        (1505, "kwd", False),
        (50, "jpy", True),
        (49, "jpy", False),
    ],
)
def test_a_valid_charge_is_at_least_the_minimum_and_on_the_charge_step(amount, currency, valid):
    assert is_valid_charge(amount, currency) is valid
