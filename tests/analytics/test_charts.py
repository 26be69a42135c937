"""The charts: PNG and SVG files that exist, parse and carry their titles, and the same SVG bytes for the same
history."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from loyalty.analytics import charts
from loyalty.core.errors import InvalidInput
from tests.analytics import accounting_history as h
from tests.usecases import read

START = datetime(2026, 9, 1, tzinfo=h.MOSCOW)
END = datetime(2026, 12, 1, tzinfo=h.MOSCOW)
PNG = b"\x89PNG\r\n\x1a\n"
TITLES = {
    "engagement": ["Engagement by month", "70% line"],
    "members_vs_non_members": [
        "Members vs non-members: orders by month",
        "Members vs non-members: revenue by month",
        "revenue, RUB",
    ],
    "cohort_retention": ["Cohort retention", "2026-09 (2)"],
    "liability": ["Liability at each month end", "liability, RUB"],
}


def svg_text(path: Path) -> str:
    """The text of every element of an SVG file (which must parse as XML)."""
    return " ".join("".join(element.itertext()) for element in ET.parse(path).getroot().iter())


def test_every_chart_is_written_as_png_and_svg(engine: Engine, tmp_path: Path) -> None:
    h.build(engine)
    written = read(engine, lambda uow: charts.write_charts(uow, START, END, tmp_path / "a"))
    assert sorted(p.name for p in written) == sorted(f"{name}.{s}" for name in TITLES for s in ("png", "svg"))
    for name, titles in TITLES.items():
        assert (tmp_path / "a" / f"{name}.png").read_bytes().startswith(PNG)
        text = svg_text(tmp_path / "a" / f"{name}.svg")
        for title in titles:
            assert title in text
    again = read(engine, lambda uow: charts.write_charts(uow, START, END, tmp_path / "b"))
    for first, second in zip(sorted(written), sorted(again), strict=True):
        if first.suffix == ".svg":
            assert first.read_bytes() == second.read_bytes(), first.name


def test_a_chart_of_a_period_that_ends_before_it_starts_is_refused(engine: Engine, tmp_path: Path) -> None:
    h.build(engine)
    with pytest.raises(InvalidInput) as refused:
        read(engine, lambda uow: charts.write_charts(uow, END, START, tmp_path))
    assert refused.value.problems[0].path == "to"
    assert not tmp_path.joinpath("engagement.svg").exists()


def test_an_interval_chart_shows_each_estimate_with_its_interval(tmp_path: Path) -> None:
    estimates = [
        charts.Estimate("orders per customer", Decimal("0.10"), Decimal("0.04"), Decimal("0.16")),
        charts.Estimate("average check", Decimal("0.01"), Decimal("-0.02"), Decimal("0.04")),
    ]
    first = charts.interval_chart(estimates, "Chicken Club lift", "lift", tmp_path / "a", unit="share")
    second = charts.interval_chart(estimates, "Chicken Club lift", "lift", tmp_path / "b", unit="share")
    assert [p.name for p in first] == ["lift.png", "lift.svg"]
    text = svg_text(tmp_path / "a" / "lift.svg")
    assert all(label in text for label in ("Chicken Club lift", "orders per customer", "average check"))
    assert first[1].read_bytes() == second[1].read_bytes()
    assert first[0].read_bytes().startswith(PNG)
    other = charts.interval_chart(estimates[:1], "Chicken Club lift", "lift", tmp_path / "c")
    assert other[1].read_bytes() != first[1].read_bytes()  # the bytes follow the figures
