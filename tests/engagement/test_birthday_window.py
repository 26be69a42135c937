"""The birthday window, in the program's time zone, across the new year and on 29 February."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from loyalty.checkout.cart import Cart, CartLine
from loyalty.checkout.quote import quote
from loyalty.core.errors import InvalidInput
from loyalty.program.document import parse_program
from loyalty.program.rules import birthday_in_window


@pytest.mark.parametrize(
    ("born", "day", "before", "after", "inside"),
    [
        (date(1990, 5, 17), date(2026, 5, 17), 0, 0, True),
        (date(1990, 5, 17), date(2026, 5, 16), 0, 0, False),
        (date(1990, 5, 17), date(2026, 5, 14), 3, 3, True),
        (date(1990, 5, 17), date(2026, 5, 20), 3, 3, True),
        (date(1990, 5, 17), date(2026, 5, 21), 3, 3, False),
        (date(1990, 12, 30), date(2027, 1, 2), 0, 3, True),  # the window spans the new year
        (date(1990, 1, 2), date(2026, 12, 31), 2, 0, True),
        (date(1992, 2, 29), date(2026, 2, 28), 0, 0, True),  # celebrated on the 28th in other years
        (date(1992, 2, 29), date(2028, 2, 28), 0, 0, False),  # ... but on the 29th in a leap year
        (date(1992, 2, 29), date(2028, 2, 29), 0, 0, True),
    ],
)
def test_birthday_window(born: date, day: date, before: int, after: int, inside: bool) -> None:
    assert birthday_in_window(born, day, before, after) is inside


def test_a_raised_rate_in_the_birthday_window_uses_the_program_time_zone() -> None:
    program = parse_program(
        {
            "name": "Golden apple",
            "timezone": "Asia/Vladivostok",
            "earning": {
                "rules": [
                    {"id": "base", "percent": 5},
                    {
                        "id": "birthday",
                        "name": "Birthday +5%",
                        "percent": 5,
                        "birthday": {"days_before": 0, "days_after": 2},
                    },
                ]
            },
        }
    )
    cart_line = CartLine("1", "cake", None, 1, 10_000_00)
    # 16 May 20:00 UTC is already 17 May in Vladivostok (UTC+10): the birthday itself.
    on_the_day = Cart((cart_line,), datetime(2026, 5, 16, 20, tzinfo=UTC))
    member = {"birth_date": date(1990, 5, 17)}
    assert quote(
        program, on_the_day, available=0, requested=0, is_member=True, member_attributes=member
    ).earned_by_rule == {"base": 500, "birthday": 500}
    day_before = Cart((cart_line,), datetime(2026, 5, 16, 10, tzinfo=UTC))
    q = quote(program, day_before, available=0, requested=0, is_member=True, member_attributes=member)
    assert q.earned_by_rule == {"base": 500}
    assert any(r.source == "birthday" and r.outcome == "blocked" for r in q.reasons)
    unknown = quote(program, on_the_day, available=0, requested=0, is_member=True, member_attributes={})
    assert unknown.points_to_earn == 500


def test_a_bad_birthday_window_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_program({"name": "x", "earning": {"rules": [{"id": "b", "percent": 5, "birthday": {"days_before": 90}}]}})
    assert "earning.rules[0].birthday.days_before" in [p.path for p in caught.value.problems]
