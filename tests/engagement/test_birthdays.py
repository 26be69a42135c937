"""Birthday mechanics through the use cases: a raised rate in the window, and a gift once a year."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from loyalty.engagement import birthdays
from loyalty.members import service as members
from tests.usecases import NOW, balance, confirm, order, publish, run, seed_program

BIRTHDAY_PROGRAM = seed_program(
    earning={
        "rules": [
            {"id": "base", "name": "Cashback", "percent": 5},
            {
                "id": "birthday",
                "name": "Birthday cashback",
                "percent": 5,
                "birthday": {"days_before": 3, "days_after": 3},
            },
        ]
    },
    actions={"registration": {"points": 500}, "birthday": {"points": 300, "cap": {"per": "year"}}},
)


def register_born(engine: Engine, phone: str, born: str) -> int:
    member = members.parse_member({"phone": phone, "birth_date": born})
    return run(engine, lambda uow: members.register(uow, member, NOW))


def test_orders_in_the_birthday_window_earn_the_raised_rate(engine: Engine) -> None:
    publish(engine, BIRTHDAY_PROGRAM)
    member_id = register_born(engine, "+79123450001", "1990-11-03")  # NOW is 1 November
    inside = confirm(engine, order("b-1", ("cake", "10000.00", 1), member={"member_id": member_id}))
    assert inside["points_to_earn"] == 1000
    assert {p["rule"] for p in inside["lines"][0]["earned_by"]} == {"base", "birthday"}
    other = register_born(engine, "+79123450002", "1990-06-01")
    outside = confirm(engine, order("b-2", ("cake", "10000.00", 1), member={"member_id": other}))
    assert outside["points_to_earn"] == 500


def test_the_birthday_gift_is_granted_once_a_year_and_on_28_february_for_29_february(engine: Engine) -> None:
    publish(engine, BIRTHDAY_PROGRAM)
    leap = register_born(engine, "+79123450003", "1992-02-29")
    plain = register_born(engine, "+79123450004", "1985-02-28")
    other = register_born(engine, "+79123450005", "1985-03-01")
    day = datetime(2027, 2, 28, 9, tzinfo=UTC)  # 2027 is not a leap year
    assert birthdays.grant_gifts(engine, day, day) == {"members": 2, "points": 600, "withheld": 0}
    assert birthdays.grant_gifts(engine, day, day) == {
        "members": 0,
        "points": 0,
        "withheld": 0,
    }  # running again gives nothing
    assert balance(engine, leap, day)["balance"] == 800
    assert balance(engine, plain, day)["balance"] == 800
    assert balance(engine, other, day)["balance"] == 500
    leap_year = datetime(2028, 2, 28, 9, tzinfo=UTC)
    assert birthdays.grant_gifts(engine, leap_year, leap_year) == {
        "members": 1,
        "points": 300,
        "withheld": 0,
    }  # only the 28th
    feb_29 = datetime(2028, 2, 29, 9, tzinfo=UTC)
    assert birthdays.grant_gifts(engine, feb_29, feb_29) == {"members": 1, "points": 300, "withheld": 0}
    assert balance(engine, leap, feb_29)["balance"] == 1100
