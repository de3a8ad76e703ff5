"""Formatting minor-unit amounts: digits per currency, symbols, signs and grouping."""

import random
from decimal import Decimal

import pytest

from billing.money import chargeable, format_integer, format_money, minimum_charge, minor_unit_digits


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
        (10000, "clf", "1.0000 CLF"),
    ],
)
def test_currencies_with_zero_three_or_four_minor_digits(amount, currency, expected):
    assert format_money(amount, currency) == expected


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("jpy", 0),
        ("KRW", 0),
        ("isk", 0),
        ("xof", 0),
        ("bhd", 3),
        ("KWD", 3),
        ("jod", 3),
        ("tnd", 3),
        ("clf", 4),
        ("eur", 2),
        ("USD", 2),
        ("chf", 2),
        ("sek", 2),
        ("xyz", 2),
    ],
)
def test_minor_unit_digits_follow_iso_4217(currency, digits):
    assert minor_unit_digits(currency) == digits


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
        currency = rng.choice(["chf", "krw", "kwd", "clf", "sek"])
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
    ],
)
def test_less_than_the_smallest_card_payment_cannot_be_charged(amount, currency, can_charge):
    assert chargeable(amount, currency) is can_charge


@pytest.mark.parametrize(
    ("currency", "minimum"), [("eur", 50), ("gbp", 30), ("jpy", 50), ("bhd", 500), ("xyz", 50)]
)
def test_the_smallest_card_payment_is_half_a_major_unit_unless_stripe_says_otherwise(currency, minimum):
    assert minimum_charge(currency) == minimum
