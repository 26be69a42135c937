"""The report's figures against an independent computation in the test (plain Python and SciPy's own Welch test)
over a history confirmed through the checkout: a holdout that withholds the campaigns, so both groups buy."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from scipy import stats as scipy_stats
from sqlalchemy import Engine

from loyalty.experiments import report as reports
from loyalty.experiments import service as experiments
from loyalty.experiments.model import in_holdout
from tests.usecases import PROGRAM_START, confirm, order, read, register, return_lines, run

START = datetime(2026, 10, 2, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)  # 30 days; the pre-period is September 2 to October 2 (the program's first)


def rounded(value: float, places: int) -> str:
    return str(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN))


def test_the_report_agrees_with_an_independent_computation(seeded: Engine) -> None:
    rng = random.Random(8)
    members = [register(seeded, f"+7912555{i:04d}", at=PROGRAM_START) for i in range(30)]
    data = {
        "experiment_id": "h",
        "name": "campaigns held out",
        "kind": "holdout",
        "withholds": "campaigns",
        "starts_at": START.isoformat(),
        "ends_at": END.isoformat(),
        "share": "0.5",
        "seed": 11,
    }
    run(seeded, lambda uow: experiments.create(uow, data, START, lambda: UTC))
    spend: dict[int, int] = dict.fromkeys(members, 0)  # rubles, in the period
    orders: dict[int, int] = dict.fromkeys(members, 0)
    n = 0
    for member in members:
        for period_start in (START - timedelta(days=30), START):
            for _ in range(rng.randrange(0, 4)):
                n += 1
                price = rng.randrange(1000, 5000)
                at = period_start + timedelta(days=rng.randrange(1, 30), hours=rng.randrange(24))
                body = order(f"o{n}", ("tv", str(price), 1), member={"member_id": member}, occurred_at=at)
                confirm(seeded, body, END)
                if period_start == START:
                    spend[member] += price
                    orders[member] += 1
    # A wholly returned order is no order and no spend (as the KPIs count it).
    body = order("returned", ("tv", "9000", 1), member={"member_id": members[0]}, occurred_at=START + timedelta(days=3))
    confirm(seeded, body, END)
    return_lines(seeded, "returned", "r1", [("1", 1)], END)

    report = read(seeded, lambda uow: reports.report(uow, "h", resamples=500))

    held = [m for m in members if in_holdout(11, Decimal("0.5"), m)]
    kept = [m for m in members if m not in held]
    assert report["groups"]["control"]["customers"] == len(held)
    assert report["groups"]["treatment"]["orders"] == sum(orders[m] for m in kept)
    spend_metric = report["metrics"]["spend_per_customer"]
    t, c = [float(spend[m]) for m in kept], [float(spend[m]) for m in held]
    assert spend_metric["treatment"]["mean"] == rounded(sum(t) / len(t), 2)
    assert spend_metric["control"]["mean"] == rounded(sum(c) / len(c), 2)
    reference = scipy_stats.ttest_ind(t, c, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert spend_metric["welch"]["difference"] == [rounded(interval.low, 2), rounded(interval.high, 2)]
    assert spend_metric["welch"]["p_value"] == rounded(float(reference.pvalue), 4)
    assert spend_metric["verdict"] == ("significant" if reference.pvalue < 0.05 else "not significant")
    check = report["metrics"]["average_check"]
    assert check["treatment"]["mean"] == rounded(sum(t) / sum(orders[m] for m in kept), 2)
    assert check["cuped"] is None
    cuped = spend_metric["cuped"]
    assert cuped is not None and cuped["verdict"] in ("significant", "not significant")
    assert Decimal(cuped["variance_reduction"]) <= 1
