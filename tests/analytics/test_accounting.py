"""Cohorts, the liability and the daily journal over the history of `accounting_history`, each figure held to a
computation in plain Python over the raw ledger rows, and a few worked out by hand."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from loyalty.analytics import cohorts, journal, liability
from loyalty.analytics.kpi import divide_half_even
from loyalty.core.errors import InvalidInput
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from tests.analytics import accounting_history as h
from tests.usecases import read

START = datetime(2026, 9, 1, tzinfo=h.MOSCOW)
END = datetime(2026, 12, 1, tzinfo=h.MOSCOW)
AFTER_ALL = datetime(2026, 12, 2, tzinfo=h.MOSCOW)


@pytest.fixture
def history(engine: Engine) -> Engine:
    h.build(engine)
    return engine


def kopecks(money: str) -> int:
    return int(Decimal(money) * 100)


def test_cohorts_are_retention_by_month_of_registration(history: Engine) -> None:
    report = read(history, lambda uow: cohorts.cohorts(uow, START, END))
    assert report["months"] == ["2026-09", "2026-10", "2026-11"]
    expected = h.cohorts(history, report["months"])
    for cohort in report["cohorts"]:
        registered, active = expected[cohort["month"]]
        assert cohort["registered"] == registered
        assert {r["month"]: r["active"] for r in cohort["retention"]} == active
        for r in cohort["retention"]:
            share = None if registered == 0 else Decimal(r["active"]) / registered
            assert r["share"] == (None if share is None else str(share.quantize(Decimal("0.0001"))))
    # By hand: A and B (September) both bought in September, only B in October; C (and D, who registered at
    # 23:30 Moscow time on 31 October) make October's cohort, of whom C bought.
    september, october, november = report["cohorts"]
    assert [(r["active"], r["share"]) for r in september["retention"]] == [(2, "1.0000"), (1, "0.5000"), (0, "0.0000")]
    assert (october["registered"], october["retention"][0]["share"]) == (2, "0.5000")
    assert (november["registered"], november["retention"][0]["share"]) == (0, None)


def test_liability_over_time_is_the_ledger_at_each_month_end(history: Engine) -> None:
    report = read(history, lambda uow: cohorts.cohorts(uow, START, END))
    ends = [datetime(2026, 10, 1, tzinfo=h.MOSCOW), datetime(2026, 11, 1, tzinfo=h.MOSCOW), END]
    for month, end in zip(report["liability"], ends, strict=True):
        assert datetime.fromisoformat(month["at"]) == end
        assert month["points"] == h.outstanding(history, end)
        assert kopecks(month["money"]) == month["points"] * h.point_value(end)
    assert [m["points"] for m in report["liability"]] == [1600, 1160, 0]  # every lot burnt by the end of November


@pytest.mark.parametrize(
    "as_of",
    [
        datetime(2026, 10, 12, tzinfo=UTC),
        datetime(2026, 10, 21, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
        AFTER_ALL,
    ],
)
def test_the_liability_at_an_instant_is_held_by_its_lots(history: Engine, as_of: datetime) -> None:
    report = read(history, lambda uow: liability.liability(uow, as_of))
    lots = h.lots_at(history, as_of)
    held = sum(state["held"] for state in lots.values())
    assert report["points_in_lots"] == held
    assert report["liability_points"] == h.outstanding(history, as_of) == held - report["debt_points"]
    assert kopecks(report["liability_money"]) == report["liability_points"] * h.point_value(as_of)
    by_month: dict[str | None, int] = defaultdict(int)
    for state in lots.values():
        if state["held"]:
            expires = state["lot"].expires_at
            by_month[None if expires is None else h.local_month(expires)] += state["held"]
    assert {row["expires"]: row["points"] for row in report["by_expiry_month"]} == by_month
    assert sum(row["points"] for row in report["by_source"]) == held
    expired, redeemed = h.breakage(history, as_of)
    breakage = report["breakage"]
    assert (breakage["matured_expired_points"], breakage["matured_redeemed_points"]) == (expired, redeemed)
    expected = divide_half_even(report["liability_points"] * expired, expired + redeemed) if expired + redeemed else 0
    assert breakage["expected_points"] == expected
    assert report["expected_redemption_points"] == report["liability_points"] - expected


def test_the_liability_after_everything_is_the_sum_of_the_balances(history: Engine) -> None:
    report = read(history, lambda uow: liability.liability(uow, AFTER_ALL))
    balances = sum(row.balance for row in h.rows(history, t.accounts))
    assert report["liability_points"] == balances == 0
    # By hand: A's 1,000 points and the 100 of b1 burnt unused; B's registration lot paid 500 for b2, of which a
    # return gave 250 back, and burnt the 250 (the write-off dated at its expiry): 1,350 expired, 250 redeemed.
    assert read(history, lambda uow: liability.breakage_history(uow, datetime(2026, 11, 1, tzinfo=UTC))) == (1350, 250)
    midway = read(history, lambda uow: liability.liability(uow, datetime(2026, 11, 1, tzinfo=UTC)))
    assert midway["breakage"]["rate"] == "0.8438"  # 1,350 / 1,600
    assert midway["breakage"]["expected_points"] == 979  # 1,160 × 1,350 / 1,600 = 978.75


def test_the_lot_register_lists_the_lots_that_hold_points(history: Engine) -> None:
    as_of = datetime(2026, 11, 1, tzinfo=UTC)
    with UnitOfWork(history, snapshot=True) as uow:  # streamed: PostgreSQL's server-side cursor needs a transaction
        register = list(liability.lot_register(uow, as_of))
    expected = {key: state["held"] for key, state in h.lots_at(history, as_of).items() if state["held"]}
    assert {(row["account_id"], row["lot"]): row["held"] for row in register} == expected
    assert all(kopecks(row["money"]) == row["held"] * 200 for row in register)


def test_the_daily_journal_reconciles_with_the_balances(history: Engine) -> None:
    report = read(history, lambda uow: journal.journal(uow, START, AFTER_ALL))
    expected = h.journal(history, START, AFTER_ALL)
    got = {day["date"]: _points_by_movement(day["lines"]) for day in report["days"]}
    assert got == expected
    points, money = report["opening"]["points"], kopecks(report["opening"]["money"])
    assert (points, money) == (h.outstanding(history, START), 0)
    for day in report["days"]:
        for line in day["lines"]:
            raises = line["credit"] == journal.LIABILITY
            assert raises != (line["debit"] == journal.LIABILITY)  # the liability is on exactly one side
            amount = kopecks(line["amount"])
            points += line["points"]
            money += amount if raises else -amount
            if line["movement"] != "revaluation":
                assert raises == (line["points"] > 0)
        assert day["closing_points"] == points
        assert kopecks(day["closing_money"]) == money
        closes = datetime.fromisoformat(day["date"]).replace(tzinfo=h.MOSCOW) + timedelta(days=1)
        assert points == h.outstanding(history, closes)
        assert money == points * h.point_value(closes)
    assert report["closing"] == {"points": points, "money": day["closing_money"]}
    assert points == sum(row.balance for row in h.rows(history, t.accounts))


def test_a_new_point_value_revalues_the_liability(history: Engine) -> None:
    """On 15 October (Moscow) a point goes from 1 to 2 RUB: the 675 points held at the start of that day double."""
    report = read(history, lambda uow: journal.journal(uow, START, AFTER_ALL))
    day = next(d for d in report["days"] if d["date"] == "2026-10-15")
    revaluation = [line for line in day["lines"] if line["movement"] == "revaluation"]
    assert revaluation == [
        {
            "movement": "revaluation",
            "points": 0,
            "amount": "675.00",
            "debit": "Loyalty points revaluation",
            "credit": journal.LIABILITY,
        }
    ]
    rows = journal.csv_rows(report)
    assert rows[next(i for i, r in enumerate(rows) if r[:2] == ["2026-10-15", "revaluation"])][:6] == [
        "2026-10-15",
        "revaluation",
        "0",
        "675.00",
        "Loyalty points revaluation",
        journal.LIABILITY,
    ]


@pytest.mark.parametrize("use_case", [cohorts.cohorts, journal.journal])
def test_a_period_that_ends_before_it_starts_is_refused(history: Engine, use_case: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        read(history, lambda uow: use_case(uow, END, START))  # type: ignore[operator]
    assert refused.value.problems[0].path == "to"
    assert "must be after from" in refused.value.problems[0].reason


def _points_by_movement(lines: list[dict[str, object]]) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for line in lines:
        if line["movement"] != "revaluation":
            found[str(line["movement"])] += int(str(line["points"]))
    return dict(found)
