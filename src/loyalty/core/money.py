"""Money in integer minor units and points as integers; rounding is always named, never implied."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from loyalty.core.errors import InvalidInput

# Amounts have at most this many digits in minor units (under 10^15 kopecks: ten trillion roubles).
MAX_MINOR_DIGITS = 15
# An amount a caller writes (a price, a discount) has at most this many digits before the decimal point and this many
# after it: the text form of Money at every door.
MONEY_DIGITS = 13
MONEY_DECIMALS = 4

# ISO 4217 minor-unit exponents of the currencies a program is likely to use; anything else has two.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "KWD": 3, "BHD": 3, "OMR": 3, "TND": 3}


def currency_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


class Rounding(StrEnum):
    """How a fractional number of points becomes a whole one."""

    DOWN = "down"
    HALF_UP = "half_up"
    UP = "up"


_DECIMAL_ROUNDING = {Rounding.DOWN: ROUND_FLOOR, Rounding.HALF_UP: ROUND_HALF_UP, Rounding.UP: ROUND_CEILING}


def round_points(value: Decimal, rounding: Rounding) -> int:
    return int(value.to_integral_value(rounding=_DECIMAL_ROUNDING[rounding]))


def parse_decimal(value: object, path: str) -> Decimal:
    """A decimal from a string, an int or a Decimal; floats are refused because they are not exact."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidInput.at(path, 'must be a decimal string such as "10.50" or an integer, not a float')
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(" ", "").replace("\u00a0", ""))
        except InvalidOperation:
            raise InvalidInput.at(path, f"{value!r} is not a number") from None
    else:
        raise InvalidInput.at(path, f"must be a decimal string or an integer, got {type(value).__name__}")
    if not number.is_finite():
        raise InvalidInput.at(path, "must be a finite number")
    return number


def parse_money(value: object, exponent: int, path: str, *, allow_negative: bool = False) -> int:
    """Minor units of a money amount given in major units ("1000.50" → 100050 for two decimals)."""
    return minor_units(parse_decimal(value, path), exponent, path, allow_negative=allow_negative)


def minor_units(number: Decimal, exponent: int, path: str, *, allow_negative: bool = False) -> int:
    """Minor units of an amount in major units, which must fit them exactly (Decimal("1000.50") → 100050 for two
    decimals); InvalidInput at `path` otherwise."""
    if number and number.adjusted() + exponent >= MAX_MINOR_DIGITS:
        # Checked on the exponent before any arithmetic: "9e999990" would otherwise overflow or take minutes.
        raise InvalidInput.at(path, f"{number} is too large")
    if number and number.adjusted() + exponent < 0:
        raise InvalidInput.at(path, f"{number} has more than {exponent} decimal places")
    scaled = number.scaleb(exponent) if number else Decimal(0)
    if scaled != scaled.to_integral_value():
        raise InvalidInput.at(path, f"{number} has more than {exponent} decimal places")
    if number < 0 and not allow_negative:
        raise InvalidInput.at(path, "must not be negative")
    return int(scaled)


def format_money(minor: int, exponent: int) -> str:
    """Major units as a decimal string with exactly `exponent` decimals (100050 → "1000.50")."""
    return str(Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))
