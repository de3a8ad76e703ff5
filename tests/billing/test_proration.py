"""Seat-change proration, to the second, with worked examples computed by hand.

Reminder of the rule (billing/proration.py):
    remaining = period_end - at, total = period_end - period_start, whole seconds (floor)
    credit = -round(unit * old * remaining / total), debit = +round(unit * new * remaining / total)
    each rounded half up on its magnitude, then down onto the currency's charge step
    (100 for ISK, 10 for KWD, 1 for EUR); amount_due = credit + debit.

Handy constants: 1 day = 86,400 s; 30 days = 2,592,000 s; 365 days = 31,536,000 s.
No test here touches the database.
"""

import random
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, localcontext
from zoneinfo import ZoneInfo

import pytest

from billing.proration import ProrationError, ProrationQuote, quote_seat_change, renewal_amount
from subscriptions.errors import InvalidInput

DAY = 86_400

# April 2028 has 30 days: 2,592,000 s.
APRIL_START = datetime(2028, 4, 1, tzinfo=UTC)
APRIL_END = datetime(2028, 5, 1, tzinfo=UTC)


def quote(unit_amount, old_quantity, new_quantity, period_start, period_end, at, currency="eur"):
    return quote_seat_change(
        unit_amount=unit_amount,
        currency=currency,
        old_quantity=old_quantity,
        new_quantity=new_quantity,
        period_start=period_start,
        period_end=period_end,
        at=at,
    )


def april(unit_amount, old_quantity, new_quantity, at):
    return quote(unit_amount, old_quantity, new_quantity, APRIL_START, APRIL_END, at)


# --- Worked examples ------------------------------------------------------------------


def test_mid_month_increase_on_a_30_day_month_charges_the_remaining_fraction():
    # 3 -> 5 seats at €10.00, on 11 April at noon.
    # remaining = 1 May 00:00 - 11 Apr 12:00 = 19.5 days = 1,684,800 s; total = 2,592,000 s
    # remaining / total = 19.5 / 30 = 0.65
    # credit = -round(1000 * 3 * 0.65) = -1950; debit = round(1000 * 5 * 0.65) = 3250
    # amount_due = -1950 + 3250 = 1300
    q = april(1000, 3, 5, datetime(2028, 4, 11, 12, tzinfo=UTC))

    assert q.remaining_seconds == 1_684_800
    assert q.total_seconds == 2_592_000
    assert (q.credit, q.debit, q.amount_due) == (-1950, 3250, 1300)


def test_credit_and_debit_are_rounded_separately():
    # 1 -> 2 seats at €10.00 on 21 April: remaining = 10 days, 10 / 30 = 1/3.
    # credit = -round(1000 / 3) = -round(333.33…) = -333
    # debit  = round(2000 / 3) = round(666.66…) = 667
    # amount_due = 334, not round(1000 / 3) = 333: each line is rounded on its own.
    q = april(1000, 1, 2, datetime(2028, 4, 21, tzinfo=UTC))

    assert q.remaining_seconds == 10 * DAY
    assert (q.credit, q.debit, q.amount_due) == (-333, 667, 334)


def test_decrease_gives_a_negative_amount_due():
    # 5 -> 3 seats at €10.00 on 11 April at noon (0.65 of the period left, as above).
    # credit = -round(1000 * 5 * 0.65) = -3250; debit = round(1000 * 3 * 0.65) = 1950
    # amount_due = -3250 + 1950 = -1300
    q = april(1000, 5, 3, datetime(2028, 4, 11, 12, tzinfo=UTC))

    assert (q.credit, q.debit, q.amount_due) == (-3250, 1950, -1300)


def test_unchanged_quantity_costs_nothing():
    q = april(1000, 4, 4, datetime(2028, 4, 11, 12, tzinfo=UTC))

    assert q.credit == -q.debit
    assert q.amount_due == 0


def test_period_from_jan_31_to_feb_28_lasts_28_days():
    # 2027 is not a leap year: 31 Jan -> 28 Feb = 28 days = 2,419,200 s.
    # at = 14 Feb 00:00: remaining = 14 days = 1,209,600 s; 14 / 28 = 1/2.
    # 1 -> 2 seats at 2900: credit = -round(2900 / 2) = -1450; debit = round(5800 / 2) = 2900
    # amount_due = 1450
    q = quote(
        2900,
        1,
        2,
        datetime(2027, 1, 31, tzinfo=UTC),
        datetime(2027, 2, 28, tzinfo=UTC),
        datetime(2027, 2, 14, tzinfo=UTC),
    )

    assert q.total_seconds == 28 * DAY == 2_419_200
    assert q.remaining_seconds == 14 * DAY == 1_209_600
    assert (q.credit, q.debit, q.amount_due) == (-1450, 2900, 1450)


def test_period_from_jan_31_to_feb_29_in_leap_year_2028_lasts_29_days():
    # 2028 is a leap year: 31 Jan -> 29 Feb = 29 days = 2,505,600 s.
    # at = 15 Feb 00:00: remaining = 14 days = 1,209,600 s; 14 / 29 of the period.
    # 1 -> 2 seats at 2900: credit = -round(2900 * 14 / 29) = -1400
    #                       debit  = round(5800 * 14 / 29) = 2800;  amount_due = 1400
    # (the same 14 days left cost 1450 in the 28-day February of 2027)
    q = quote(
        2900,
        1,
        2,
        datetime(2028, 1, 31, tzinfo=UTC),
        datetime(2028, 2, 29, tzinfo=UTC),
        datetime(2028, 2, 15, tzinfo=UTC),
    )

    assert q.total_seconds == 29 * DAY == 2_505_600
    assert q.remaining_seconds == 14 * DAY
    assert (q.credit, q.debit, q.amount_due) == (-1400, 2800, 1400)


def test_february_2028_period_rounds_a_non_terminating_fraction():
    # 1 Feb -> 1 Mar 2028 = 29 days; at = 20 Feb 00:00: remaining = 10 days; 10 / 29.
    # 1 -> 3 seats at €10.00:
    #   credit = -round(1000 * 10 / 29) = -round(344.827…) = -345
    #   debit  = round(3000 * 10 / 29)  = round(1034.482…) = 1034;  amount_due = 689
    q = quote(
        1000,
        1,
        3,
        datetime(2028, 2, 1, tzinfo=UTC),
        datetime(2028, 3, 1, tzinfo=UTC),
        datetime(2028, 2, 20, tzinfo=UTC),
    )

    assert q.total_seconds == 29 * DAY
    assert (q.credit, q.debit, q.amount_due) == (-345, 1034, 689)


def test_yearly_plan_in_a_365_day_year():
    # 1 Jan 2027 -> 1 Jan 2028 = 365 days = 31,536,000 s.
    # at = 2 Dec 2027: remaining = 30 days = 2,592,000 s; 30 / 365.
    # 1 -> 4 seats at €365.00 (36500):
    #   credit = -round(36500 * 30 / 365) = -3000
    #   debit  = round(146000 * 30 / 365) = 12000;  amount_due = 9000
    q = quote(
        36500,
        1,
        4,
        datetime(2027, 1, 1, tzinfo=UTC),
        datetime(2028, 1, 1, tzinfo=UTC),
        datetime(2027, 12, 2, tzinfo=UTC),
    )

    assert q.total_seconds == 365 * DAY == 31_536_000
    assert q.remaining_seconds == 30 * DAY
    assert (q.credit, q.debit, q.amount_due) == (-3000, 12000, 9000)


def test_yearly_plan_in_a_366_day_leap_year():
    # 1 Jan 2028 -> 1 Jan 2029 = 366 days = 31,622,400 s.
    # at = 2 Dec 2028: remaining = 30 days; 30 / 366.
    # 1 -> 4 seats at €365.00 (36500):
    #   credit = -round(36500 * 30 / 366)  = -round(1,095,000 / 366)  = -round(2991.80…)  = -2992
    #   debit  = round(146000 * 30 / 366)  = round(4,380,000 / 366)   = round(11967.21…) = 11967
    #   amount_due = 11967 - 2992 = 8975
    q = quote(
        36500,
        1,
        4,
        datetime(2028, 1, 1, tzinfo=UTC),
        datetime(2029, 1, 1, tzinfo=UTC),
        datetime(2028, 12, 2, tzinfo=UTC),
    )

    assert q.total_seconds == 366 * DAY == 31_622_400
    assert q.remaining_seconds == 30 * DAY
    assert (q.credit, q.debit, q.amount_due) == (-2992, 11967, 8975)


def test_change_at_period_start_credits_and_charges_full_amounts():
    # remaining = total = 2,592,000 s: credit = -1000 * 3 = -3000; debit = 1000 * 5 = 5000.
    q = april(1000, 3, 5, APRIL_START)

    assert q.remaining_seconds == q.total_seconds == 2_592_000
    assert (q.credit, q.debit, q.amount_due) == (-3000, 5000, 2000)
    assert q.debit == renewal_amount(unit_amount=1000, quantity=5)
    assert -q.credit == renewal_amount(unit_amount=1000, quantity=3)


def test_change_one_second_before_period_end_rounds_to_nothing_for_a_normal_price():
    # remaining = 1 s: credit = -round(3000 / 2,592,000) = -round(0.0011…) = 0; debit = 0.
    q = april(1000, 3, 5, APRIL_END - timedelta(seconds=1))

    assert q.remaining_seconds == 1
    assert (q.credit, q.debit, q.amount_due) == (0, 0, 0)


def test_change_one_second_before_period_end_charges_one_second_of_a_large_price():
    # unit = 2,592,000 minor units per seat per 30 days = 1 minor unit per seat-second.
    # remaining = 1 s: credit = -round(2,592,000 * 3 * 1 / 2,592,000) = -3; debit = 5.
    q = april(2_592_000, 3, 5, APRIL_END - timedelta(seconds=1))

    assert (q.credit, q.debit, q.amount_due) == (-3, 5, 2)


def test_half_a_minor_unit_one_second_before_period_end_rounds_up():
    # unit = 1,296,000 = half a minor unit per seat-second; 1 -> 1 seat, 1 s left:
    # 1,296,000 / 2,592,000 = 0.5 -> credit -1, debit 1.
    q = april(1_296_000, 1, 1, APRIL_END - timedelta(seconds=1))

    assert (q.credit, q.debit, q.amount_due) == (-1, 1, 0)


def test_remaining_and_total_are_whole_seconds_rounded_down():
    # at = 1 Apr 00:00:00.5: remaining = 2,591,999.5 s -> 2,591,999 s.
    # unit = 2,592,000 (1 minor unit per second), 1 -> 0 seats: credit = -2,591,999.
    q = april(2_592_000, 1, 0, APRIL_START + timedelta(milliseconds=500))
    assert q.remaining_seconds == 2_591_999
    assert (q.credit, q.debit) == (-2_591_999, 0)

    # at = 30 Apr 23:59:59.5: remaining = 0.5 s -> 0 s: nothing is prorated.
    q = april(2_592_000, 1, 2, APRIL_END - timedelta(milliseconds=500))
    assert q.remaining_seconds == 0
    assert (q.credit, q.debit, q.amount_due) == (0, 0, 0)

    # A period of 30 days and 0.9 s counts as 2,592,000 s.
    q = quote(1000, 1, 1, APRIL_START, APRIL_END + timedelta(microseconds=900_000), APRIL_START)
    assert q.total_seconds == 2_592_000


# --- Exact halves: half up on the magnitude ------------------------------------------


def test_exact_half_rounds_credit_and_debit_away_from_zero():
    # at = 16 Apr 00:00: remaining = 15 days = 1,296,000 s = exactly half of 2,592,000 s.
    # 1 -> 5 seats at 1001:
    #   credit = -round(1001 / 2)     = -round(500.5)  = -501  (Python's round(): -500)
    #   debit  = round(1001 * 5 / 2)  = round(2502.5)  = 2503  (Python's round(): 2502)
    #   amount_due = 2002
    q = april(1001, 1, 5, datetime(2028, 4, 16, tzinfo=UTC))

    assert (q.credit, q.debit, q.amount_due) == (-501, 2503, 2002)
    # Banker's rounding and rounding towards +infinity would both differ:
    assert round(500.5) == 500
    assert round(-500.5) == -500


def test_exact_half_on_a_quarter_of_the_period_rounds_away_from_zero():
    # at = 23 Apr 12:00: remaining = 7.5 days = 648,000 s = 1/4 of 2,592,000 s.
    # 1 -> 3 seats at 10: credit = -round(10 / 4) = -round(2.5) = -3 (not -2)
    #                     debit  = round(30 / 4) = round(7.5) = 8;  amount_due = 5
    q = april(10, 1, 3, datetime(2028, 4, 23, 12, tzinfo=UTC))

    assert q.remaining_seconds == 648_000
    assert (q.credit, q.debit, q.amount_due) == (-3, 8, 5)


def test_exact_half_on_a_decrease_rounds_both_lines_away_from_zero():
    # Half of April left; 3 -> 1 seat at 999:
    #   credit = -round(2997 / 2) = -round(1498.5) = -1499
    #   debit  = round(999 / 2)   = round(499.5)   = 500;   amount_due = -999
    q = april(999, 3, 1, datetime(2028, 4, 16, tzinfo=UTC))

    assert (q.credit, q.debit, q.amount_due) == (-1499, 500, -999)


def test_just_below_half_rounds_down():
    # remaining = 1,295,999 s (one second less than half): 1001 * 1,295,999 / 2,592,000
    # = 500.4996… -> 500.
    q = april(1001, 1, 1, datetime(2028, 4, 16, 0, 0, 1, tzinfo=UTC))

    assert q.remaining_seconds == 1_295_999
    assert (q.credit, q.debit) == (-500, 500)


# --- Time zones -----------------------------------------------------------------------


def test_period_across_a_daylight_saving_change_counts_real_seconds():
    # Berlin, March 2028: clocks go forward on 26 March, so 1 Mar -> 1 Apr (local) lasts
    # 31 days - 1 hour = 2,674,800 s, and 16 Mar -> 1 Apr lasts 16 days - 1 h = 1,378,800 s.
    # 1,378,800 / 2,674,800 = 383 / 743 (both / 3600).
    # 1 -> 2 seats at 74300: credit = -74300 * 383 / 743 = -38300; debit = 76600.
    # (Wall-clock subtraction would give 16 / 31 and a credit of -38348.)
    berlin = ZoneInfo("Europe/Berlin")
    q = quote(
        74300,
        1,
        2,
        datetime(2028, 3, 1, tzinfo=berlin),
        datetime(2028, 4, 1, tzinfo=berlin),
        datetime(2028, 3, 16, tzinfo=berlin),
    )

    assert q.total_seconds == 31 * DAY - 3600
    assert q.remaining_seconds == 16 * DAY - 3600
    assert (q.credit, q.debit, q.amount_due) == (-38300, 76600, 38300)


def test_datetimes_in_different_zones_are_compared_as_instants():
    # The same instants as the mid-month example, written in three other zones.
    tokyo = timezone(timedelta(hours=9))
    new_york = ZoneInfo("America/New_York")
    q = quote(
        1000,
        3,
        5,
        APRIL_START.astimezone(tokyo),
        APRIL_END.astimezone(new_york),
        datetime(2028, 4, 11, 12, tzinfo=UTC).astimezone(timezone(timedelta(hours=-3))),
    )

    assert (q.remaining_seconds, q.total_seconds) == (1_684_800, 2_592_000)
    assert (q.credit, q.debit, q.amount_due) == (-1950, 3250, 1300)
    assert q.period_start == APRIL_START
    assert q.period_start.tzinfo is UTC
    assert q.at.tzinfo is UTC


# --- The quote as a record ------------------------------------------------------------


def test_quote_keeps_its_inputs_and_is_frozen():
    at = datetime(2028, 4, 11, 12, tzinfo=UTC)
    q = april(1000, 3, 5, at)

    assert isinstance(q, ProrationQuote)
    assert (q.unit_amount, q.old_quantity, q.new_quantity) == (1000, 3, 5)
    assert (q.period_start, q.period_end, q.at) == (APRIL_START, APRIL_END, at)
    with pytest.raises(AttributeError):
        q.credit = 0  # type: ignore[misc]


def test_quote_seat_change_takes_keyword_arguments_only():
    with pytest.raises(TypeError):
        quote_seat_change(1000, 3, 5, APRIL_START, APRIL_END, APRIL_START)  # type: ignore[misc]


# --- Onto what Stripe can charge, per currency ----------------------------------------

# A 7-day period with 1 day left: 1/7 of each seat's price is prorated.
WEEK_START = datetime(2028, 4, 1, tzinfo=UTC)
WEEK_END = datetime(2028, 4, 8, tzinfo=UTC)
LAST_DAY = datetime(2028, 4, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("currency", "unit_amount", "credit", "debit", "amount_due"),
    [
        # ISK: two decimals in Stripe's API, always 00. 9,900 ISK a seat:
        # -round(2970000 / 7) = -424286 -> -424300; round(4950000 / 7) = 707143 -> 707100.
        ("isk", 990000, -424300, 707100, 282800),
        # KWD: three decimals, charged in multiples of 10. 9.900 KWD a seat:
        # -round(29700 / 7) = -4243 -> -4250; round(49500 / 7) = 7071 -> 7070.
        ("kwd", 9900, -4250, 7070, 2820),
        # JPY and MGA: zero-decimal, any whole amount. ¥9,900 a seat:
        # -round(29700 / 7) = -4243; round(49500 / 7) = 7071.
        ("jpy", 9900, -4243, 7071, 2828),
        ("mga", 9900, -4243, 7071, 2828),
        # HUF and EUR: two decimals, any amount (HUF is zero-decimal for payouts only).
        ("huf", 990000, -424286, 707143, 282857),
        ("eur", 9900, -4243, 7071, 2828),
    ],
)
def test_each_line_is_rounded_down_onto_what_stripe_charges_in_the_currency(
    currency, unit_amount, credit, debit, amount_due
):
    q = quote(unit_amount, 3, 5, WEEK_START, WEEK_END, LAST_DAY, currency=currency)

    assert (q.credit, q.debit, q.amount_due, q.currency) == (credit, debit, amount_due, currency)


@pytest.mark.parametrize(("currency", "step"), [("isk", 100), ("UGX", 100), ("kwd", 10), ("bhd", 10)])
def test_quotes_in_currencies_with_a_charge_step_never_exceed_the_exact_amount(currency, step):
    rng = random.Random(step)
    for _ in range(500):
        case = _random_case(rng)
        unit_amount, old_quantity, new_quantity = case[:3]
        q = quote(*case, currency=currency)

        total, remaining = q.total_seconds, q.remaining_seconds
        exact_debit = Decimal(unit_amount * new_quantity * remaining) / total
        exact_credit = Decimal(unit_amount * old_quantity * remaining) / total
        assert q.debit % step == 0 and q.credit % step == 0, case
        # In the customer's favour: at most the exact debit, at least the exact credit...
        assert q.debit <= exact_debit + Decimal("0.5") and -q.credit >= exact_credit - Decimal("0.5"), case
        # ...and never by a whole step or more.
        assert exact_debit - q.debit < step + 1 and -q.credit - exact_credit < step + 1, case


# --- Renewal --------------------------------------------------------------------------


def test_renewal_amount_is_unit_amount_times_quantity():
    assert renewal_amount(unit_amount=1000, quantity=5) == 5000
    assert renewal_amount(unit_amount=1000, quantity=0) == 0
    assert renewal_amount(unit_amount=0, quantity=7) == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"unit_amount": -1, "quantity": 1}, "unit_amount"),
        ({"unit_amount": 1000, "quantity": -1}, "quantity"),
        ({"unit_amount": 10.0, "quantity": 1}, "unit_amount"),
        ({"unit_amount": 1000, "quantity": True}, "quantity"),
        ({"unit_amount": "1000", "quantity": 1}, "unit_amount"),
        ({"unit_amount": Decimal(1000), "quantity": 1}, "unit_amount"),
    ],
)
def test_renewal_amount_rejects_invalid_input(kwargs, field):
    with pytest.raises(ProrationError) as excinfo:
        renewal_amount(**kwargs)
    assert excinfo.value.extra == {"field": field}


# --- Errors ---------------------------------------------------------------------------

VALID = {
    "unit_amount": 1000,
    "currency": "eur",
    "old_quantity": 3,
    "new_quantity": 5,
    "period_start": APRIL_START,
    "period_end": APRIL_END,
    "at": datetime(2028, 4, 11, 12, tzinfo=UTC),
}


def test_valid_baseline_for_the_error_cases_is_accepted():
    assert quote_seat_change(**VALID).amount_due == 1300


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        # A currency that is not a code.
        ({"currency": "euro"}, "currency", "three-letter ISO 4217 code"),
        ({"currency": None}, "currency", "three-letter ISO 4217 code"),
        # Naive or non-datetime bounds.
        ({"period_start": datetime(2028, 4, 1)}, "period_start", "timezone-aware"),
        ({"period_end": datetime(2028, 5, 1)}, "period_end", "timezone-aware"),
        ({"at": datetime(2028, 4, 11, 12)}, "at", "timezone-aware"),
        ({"period_start": date(2028, 4, 1)}, "period_start", "must be a datetime"),
        ({"at": "2028-04-11T12:00:00Z"}, "at", "must be a datetime"),
        ({"period_end": None}, "period_end", "must be a datetime"),
        # Periods that are empty, backwards or shorter than one second.
        ({"period_end": APRIL_START}, "period_end", "must be after period_start"),
        (
            {"period_end": APRIL_START - timedelta(days=1), "at": APRIL_START},
            "period_end",
            "must be after period_start",
        ),
        (
            {"period_end": APRIL_START + timedelta(milliseconds=999), "at": APRIL_START},
            "period_end",
            "shorter than one second",
        ),
        # `at` outside [period_start, period_end).
        ({"at": APRIL_START - timedelta(microseconds=1)}, "at", "must be within the period"),
        ({"at": APRIL_END}, "at", "must be within the period"),
        ({"at": APRIL_END + timedelta(days=3)}, "at", "must be within the period"),
        # Amounts and quantities.
        ({"unit_amount": -1}, "unit_amount", "must not be negative"),
        ({"unit_amount": 10.0}, "unit_amount", "whole number"),
        ({"unit_amount": Decimal("10")}, "unit_amount", "whole number"),
        ({"unit_amount": "1000"}, "unit_amount", "whole number"),
        ({"unit_amount": None}, "unit_amount", "whole number"),
        ({"unit_amount": True}, "unit_amount", "whole number"),
        ({"old_quantity": -1}, "old_quantity", "must not be negative"),
        ({"new_quantity": -1}, "new_quantity", "must not be negative"),
        ({"old_quantity": 3.0}, "old_quantity", "whole number"),
        ({"new_quantity": 5.5}, "new_quantity", "whole number"),
        ({"old_quantity": True}, "old_quantity", "whole number"),
        ({"new_quantity": False}, "new_quantity", "whole number"),
    ],
)
def test_invalid_input_raises_proration_error_naming_the_field(changes, field, message):
    with pytest.raises(ProrationError, match=message) as excinfo:
        quote_seat_change(**{**VALID, **changes})

    assert excinfo.value.extra == {"field": field}
    assert field in excinfo.value.message


def test_aware_datetime_whose_tzinfo_gives_no_offset_counts_as_naive():
    class NoOffset(tzinfo):  # a tzinfo that does not know its offset
        def utcoffset(self, dt):
            return None

    with pytest.raises(ProrationError, match="timezone-aware"):
        quote_seat_change(**{**VALID, "at": datetime(2028, 4, 11, tzinfo=NoOffset())})


def test_proration_error_is_an_invalid_input_domain_error():
    with pytest.raises(InvalidInput) as excinfo:
        quote_seat_change(**{**VALID, "old_quantity": -2})

    error = excinfo.value
    assert isinstance(error, ProrationError)
    assert error.status_code == 400
    assert error.as_dict() == {
        "code": "invalid",
        "detail": "old_quantity must not be negative, got -2.",
        "field": "old_quantity",
    }


# --- Property: agrees with Decimal ROUND_HALF_UP on random inputs ----------------------


def _whole_seconds(later: datetime, earlier: datetime) -> int:
    # Subtract in UTC (two datetimes sharing a ZoneInfo would subtract as wall-clock
    # times); for a non-negative timedelta, days and seconds are exact and the
    # microseconds are dropped: the floor.
    delta = later.astimezone(UTC) - earlier.astimezone(UTC)
    return delta.days * DAY + delta.seconds


def _decimal_round_half_up(numerator: int, denominator: int) -> int:
    # ROUND_HALF_UP in decimal rounds .5 away from zero, i.e. half up on the magnitude.
    with localcontext(prec=200):
        value = Decimal(numerator) / Decimal(denominator)
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _random_case(rng: random.Random):
    zones = [UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")]
    start = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rng.randrange(0, 12 * 365 * DAY), microseconds=rng.randrange(1_000_000)
    )
    length = rng.choice(
        [
            timedelta(seconds=rng.randrange(1, 120), microseconds=rng.randrange(1_000_000)),
            timedelta(days=rng.choice([28, 29, 30, 31])),
            timedelta(days=rng.choice([365, 366])),
            timedelta(microseconds=rng.randrange(1_000_000, 400 * DAY * 1_000_000)),
        ]
    )
    end = start + length
    at = start + timedelta(microseconds=rng.randrange(length // timedelta(microseconds=1)))
    if rng.random() < 0.05:
        at = start
    unit_amount = rng.choice([0, 1, 99, 1001, rng.randrange(10**7), rng.randrange(10**12)])
    old_quantity = rng.randrange(0, 10_000)
    new_quantity = rng.randrange(0, 10_000)
    return (
        unit_amount,
        old_quantity,
        new_quantity,
        start.astimezone(rng.choice(zones)),
        end.astimezone(rng.choice(zones)),
        at.astimezone(rng.choice(zones)),
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 20280229])
def test_random_quotes_agree_with_decimal_round_half_up(seed):
    rng = random.Random(seed)
    for _ in range(1_000):
        unit_amount, old_quantity, new_quantity, start, end, at = case = _random_case(rng)
        q = quote(*case)

        total = _whole_seconds(end, start)
        remaining = _whole_seconds(end, at)
        assert (q.total_seconds, q.remaining_seconds) == (total, remaining), case
        assert q.credit == _decimal_round_half_up(-unit_amount * old_quantity * remaining, total)
        assert q.debit == _decimal_round_half_up(unit_amount * new_quantity * remaining, total)
        assert q.amount_due == q.credit + q.debit
        assert -unit_amount * old_quantity <= q.credit <= 0
        assert 0 <= q.debit <= unit_amount * new_quantity


@pytest.mark.parametrize("seed", [3, 4])
def test_random_exact_halves_always_round_away_from_zero(seed):
    rng = random.Random(seed)
    for _ in range(1_000):
        # remaining = total / 2 and an odd seat price: every line lands on exactly .5.
        half = rng.randrange(1, 200 * DAY)
        start = datetime(2028, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**8))
        end = start + timedelta(seconds=2 * half)
        at = start + timedelta(seconds=half)
        unit_amount = 2 * rng.randrange(10**6) + 1
        old_quantity = 2 * rng.randrange(5_000) + 1
        new_quantity = 2 * rng.randrange(5_000) + 1

        q = quote(unit_amount, old_quantity, new_quantity, start, end, at)

        assert q.credit == -((unit_amount * old_quantity + 1) // 2)
        assert q.debit == (unit_amount * new_quantity + 1) // 2
        assert q.credit == _decimal_round_half_up(-unit_amount * old_quantity, 2)
        assert q.debit == _decimal_round_half_up(unit_amount * new_quantity, 2)
