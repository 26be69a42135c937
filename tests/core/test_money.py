"""Money in minor units and points rounding: exact, named, and refusing what is not exact."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.core.errors import InvalidInput
from loyalty.core.money import Rounding, currency_exponent, format_money, parse_decimal, parse_money, round_points


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("1000.50", 100050),
        ("1000", 100000),
        (1000, 100000),
        (Decimal("999.99"), 99999),
        ("10 000.00", 1000000),  # a space as a thousands separator
        ("10\u00a0000", 1000000),  # a no-break space, as Russian formatting writes it
        (" 0.01 ", 1),
        ("0", 0),
    ],
)
def test_roubles_become_kopecks_exactly(text: object, minor: int) -> None:
    assert parse_money(text, 2, "price") == minor


def test_exponents_follow_the_currency() -> None:
    assert currency_exponent("RUB") == 2
    assert currency_exponent("JPY") == 0
    assert currency_exponent("KWD") == 3
    assert parse_money("1.234", currency_exponent("KWD"), "price") == 1234


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (10.5, "not a float"),
        (True, "not a float"),
        ("10.001", "more than 2 decimal places"),
        ("ten", "is not a number"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("-1", "must not be negative"),
        (None, "got NoneType"),
        ("1e-999999999", "decimal places"),
    ],
)
def test_inexact_or_malformed_money_is_refused_naming_the_field(value: object, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_money(value, 2, "lines[0].price")
    assert [p.path for p in caught.value.problems] == ["lines[0].price"]
    assert reason in caught.value.problems[0].reason


def test_yen_have_no_minor_units() -> None:
    assert parse_money("1500", 0, "price") == 1500
    with pytest.raises(InvalidInput, match="more than 0 decimal places"):
        parse_money("10.5", 0, "price")


def test_a_negative_amount_is_accepted_only_when_asked_for() -> None:
    assert parse_money("-10.50", 2, "adjustment", allow_negative=True) == -1050


@pytest.mark.parametrize("value", ["1e999999999", "9e999990", "1e30"])
def test_an_absurdly_large_amount_is_refused_at_once(value: str) -> None:
    # A price of 10^999990 roubles must be an input error, not a crash or minutes of arithmetic.
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="too large"):
        parse_money(value, 2, "lines[0].price")
    assert time.monotonic() - started < 1


def test_large_but_real_amounts_are_still_accepted() -> None:
    assert parse_money("1000000000.00", 2, "price") == 100_000_000_000
    assert parse_money("0E+999999999", 2, "price") == 0


def test_parse_decimal_refuses_floats_but_keeps_exact_decimals() -> None:
    assert parse_decimal("99.5", "x") == Decimal("99.5")
    with pytest.raises(InvalidInput, match="not a float"):
        parse_decimal(99.5, "x")


@given(minor=st.integers(min_value=0, max_value=10**14), exponent=st.sampled_from([0, 2, 3]))
def test_format_and_parse_round_trip(minor: int, exponent: int) -> None:
    text = format_money(minor, exponent)
    assert parse_money(text, exponent, "x") == minor
    if exponent:
        assert len(text.split(".")[1]) == exponent


def test_format_money_writes_exactly_the_currency_decimals() -> None:
    assert format_money(100050, 2) == "1000.50"
    assert format_money(0, 2) == "0.00"
    assert format_money(1500, 0) == "1500"


@pytest.mark.parametrize(
    ("value", "down", "half_up", "up"),
    [("4.9995", 4, 5, 5), ("2.5", 2, 3, 3), ("2.4", 2, 2, 3), ("3", 3, 3, 3), ("0.0001", 0, 0, 1)],
)
def test_rounding_is_named(value: str, down: int, half_up: int, up: int) -> None:
    number = Decimal(value)
    assert round_points(number, Rounding.DOWN) == down
    assert round_points(number, Rounding.HALF_UP) == half_up
    assert round_points(number, Rounding.UP) == up
