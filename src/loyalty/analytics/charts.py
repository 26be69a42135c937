"""Charts of the analytics, drawn offline as PNG and SVG files (matplotlib's Agg backend, no display, no network):
KPIs over time with the 70% engagement line, members' and non-members' orders and revenue, cohort retention,
the liability over time, and estimates with their confidence intervals.

The same figures give the same SVG bytes: the SVG's ids are salted with a fixed string and its date is left out,
and its text is kept as text (searchable, and readable by the console). Figures arrive as the reports give them
(decimal strings); they become floats only to be drawn."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never a window, on a server as on a laptop

from matplotlib.figure import Figure

from loyalty.analytics import periods
from loyalty.analytics import service as analytics
from loyalty.analytics.cohorts import cohorts
from loyalty.analytics.kpi import ENGAGEMENT_LINE
from loyalty.analytics.valuation import program_before
from loyalty.storage.database import UnitOfWork

STYLE: dict[str, Any] = {
    "svg.hashsalt": "loyalty",  # the ids of the SVG's elements, otherwise random
    "svg.fonttype": "none",  # text stays text
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs everywhere
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
FORMATS = ("png", "svg")
MEMBERS, OTHERS, LINE = "#1f77b4", "#ff7f0e", "#d62728"


@dataclass(frozen=True)
class Estimate:
    """An estimate with its confidence interval (an experiment's lift, say): `low` <= `value` <= `high`."""

    label: str
    value: Decimal
    low: Decimal
    high: Decimal


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def _save(figure: Figure, directory: Path, name: str) -> list[Path]:
    """`name`.png and `name`.svg in `directory`, without the date or the software's version in them."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in FORMATS:
        path = directory / f"{name}.{suffix}"
        metadata: dict[str, Any] = {"Date": None} if suffix == "svg" else {"Software": None}
        figure.savefig(path, format=suffix, metadata=metadata, dpi=100, bbox_inches="tight")
        written.append(path)
    return written


def _number(value: str | Decimal | None) -> float:
    """A figure as drawn: NaN (a gap) when there is none."""
    return float("nan") if value is None else float(value)


def engagement_chart(months: Sequence[str], engagement: Sequence[str | None], directory: Path) -> list[Path]:
    """Engagement (active / registered) per month, with the 70% line."""
    with _style():
        figure = Figure(figsize=(8, 4))
        axes = figure.add_subplot()
        axes.plot(list(months), [_number(e) * 100 for e in engagement], marker="o", color=MEMBERS, label="engagement")
        axes.axhline(float(ENGAGEMENT_LINE) * 100, color=LINE, linestyle="--", label="70% line")
        axes.set_ylim(0, 100)
        axes.set_ylabel("active / registered members, %")
        axes.set_title("Engagement by month")
        axes.legend(loc="lower right")
        axes.tick_params(axis="x", labelrotation=45)
        return _save(figure, directory, "engagement")


def members_chart(
    months: Sequence[str], by_group: dict[str, Sequence[dict[str, Any]]], currency: str, directory: Path
) -> list[Path]:
    """Orders and revenue per month of members' and non-members' orders, side by side."""
    with _style():
        figure = Figure(figsize=(9, 6))
        orders, revenue = figure.subplots(2, 1, sharex=True)
        positions = range(len(months))
        for offset, (group, colour) in zip((-0.2, 0.2), (("members", MEMBERS), ("non_members", OTHERS)), strict=True):
            figures = by_group[group]
            label = group.replace("_", "-")
            orders.bar([p + offset for p in positions], [f["orders"] for f in figures], 0.4, color=colour, label=label)
            revenue.bar(
                [p + offset for p in positions],
                [_number(f["revenue"]) for f in figures],
                0.4,
                color=colour,
                label=label,
            )
        orders.set_title("Members vs non-members: orders by month")
        revenue.set_title("Members vs non-members: revenue by month")
        orders.legend()
        orders.set_ylabel("orders")
        revenue.set_ylabel(f"revenue, {currency}")
        revenue.set_xticks(list(positions), list(months), rotation=45)
        return _save(figure, directory, "members_vs_non_members")


def cohort_heatmap(report: dict[str, Any], directory: Path) -> list[Path]:
    """Retention by month of registration: a row per cohort with members, a column per month, the share active in
    each cell."""
    months = report["months"]
    shown = [c for c in report["cohorts"] if c["registered"]] or report["cohorts"]  # months nobody joined: no row
    grid = [[float("nan")] * len(months) for _ in shown]
    for row, cohort in enumerate(shown):
        for cell in cohort["retention"]:
            grid[row][months.index(cell["month"])] = _number(cell["share"])
    with _style():
        figure = Figure(figsize=(2.5 + 0.6 * len(months), 1.5 + 0.45 * len(shown)))
        axes = figure.add_subplot()
        image = axes.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        axes.grid(visible=False)
        axes.set_xticks(range(len(months)), months, rotation=45)
        axes.set_yticks(range(len(shown)), [f"{c['month']} ({c['registered']})" for c in shown])
        axes.set_xlabel("month active")
        axes.set_ylabel("month registered (members)")
        axes.set_title("Cohort retention")
        figure.colorbar(image, ax=axes, label="share active")
        return _save(figure, directory, "cohort_retention")


def liability_chart(liability: Sequence[dict[str, Any]], currency: str, directory: Path) -> list[Path]:
    """Outstanding points and their money value at each month's end."""
    months = [m["month"] for m in liability]
    with _style():
        figure = Figure(figsize=(8, 4))
        axes = figure.add_subplot()
        axes.bar(months, [m["points"] for m in liability], color=MEMBERS, label="points")
        money = axes.twinx()
        money.plot(months, [_number(m["money"]) for m in liability], color=LINE, marker="o", label=currency)
        money.grid(visible=False)
        axes.set_ylabel("points outstanding")
        money.set_ylabel(f"liability, {currency}")
        axes.set_title("Liability at each month end")
        axes.tick_params(axis="x", labelrotation=45)
        return _save(figure, directory, "liability")


def interval_chart(estimates: Sequence[Estimate], title: str, name: str, directory: Path, unit: str = "") -> list[Path]:
    """Each estimate as a point with its confidence interval as a bar, and the zero line: an interval that
    crosses it is not significant."""
    with _style():
        figure = Figure(figsize=(7, 1.2 + 0.5 * len(estimates)))
        axes = figure.add_subplot()
        rows = list(range(len(estimates)))[::-1]
        for row, estimate in zip(rows, estimates, strict=True):
            axes.plot([float(estimate.low), float(estimate.high)], [row, row], color=MEMBERS, linewidth=3)
            axes.plot([float(estimate.value)], [row], "o", color=LINE)
        axes.axvline(0, color="black", linewidth=1)
        axes.set_yticks(rows, [e.label for e in estimates])
        axes.set_xlabel(f"estimate and confidence interval{f', {unit}' if unit else ''}")
        axes.set_title(title)
        return _save(figure, directory, name)


def simulation_chart(report: dict[str, Any], directory: Path) -> list[Path]:
    """A simulation (`analytics.simulation`) beside what the ledger shows: points issued, redeemed and expired per
    month, actual and simulated side by side, and the liability at each month's end."""
    months = [m["month"] for m in report["months"]]
    x = list(range(len(months)))
    with _style():
        figure = Figure(figsize=(9, 6))
        flows, stock = figure.subplots(2, 1, sharex=True)
        width = 0.4
        for offset, column, colour in ((-width / 2, "actual", MEMBERS), (width / 2, "simulated", OTHERS)):
            issued = [m[column]["points_issued"] for m in report["months"]]
            spent = [-m[column]["points_redeemed"] - m[column]["points_expired"] for m in report["months"]]
            flows.bar([i + offset for i in x], issued, width, color=colour, label=f"{column}: issued")
            flows.bar(
                [i + offset for i in x], spent, width, color=colour, alpha=0.45, label=f"{column}: redeemed + expired"
            )
            stock.plot(
                x, [m[column]["liability_points"] for m in report["months"]], color=colour, marker="o", label=column
            )
        flows.axhline(0, color="black", linewidth=1)
        flows.set_ylabel("points per month")
        flows.set_title(f"What-if: {report.get('program', 'the simulated program')} against the ledger")
        flows.legend(fontsize=8)
        stock.set_ylabel("liability, points")
        stock.set_xticks(x, months, rotation=45)
        stock.legend(fontsize=8)
        return _save(figure, directory, "simulation")


def experiment_chart(report: dict[str, Any], directory: Path) -> list[Path]:
    """An experiment's lifts (`experiments.report`) with their Welch intervals, and CUPED's where there is one: an
    interval crossing zero is not significant."""
    estimates = []
    for name, metric in report["metrics"].items():
        welch = metric.get("welch")
        if metric.get("lift") is not None and welch is not None and None not in welch["lift"]:
            lift, (low, high) = Decimal(metric["lift"]), welch["lift"]
            estimates.append(Estimate(name.replace("_", " "), lift, Decimal(low), Decimal(high)))
        cuped = metric.get("cuped")
        if cuped is not None and None not in cuped["lift"] and metric.get("lift") is not None:
            low, high = cuped["lift"]
            estimates.append(
                Estimate(f"{name.replace('_', ' ')} (CUPED)", Decimal(metric["lift"]), Decimal(low), Decimal(high))
            )
    experiment = report["experiment"]
    title = f"{experiment['name']}: lift, treatment against control"
    return interval_chart(estimates, title, f"experiment-{experiment['experiment_id']}", directory, "relative")


def write_charts(uow: UnitOfWork, start: datetime, end: datetime, directory: Path) -> list[Path]:
    """Every chart of [start, end) into `directory`: the KPIs of each month of the period (as `loyalty kpi` gives
    them), members vs non-members, cohort retention and the liability. Returns the files written."""
    cohort_report = cohorts(uow, start, end)  # checks the period first
    months = periods.months(start, end, program_before(uow, end).timezone)
    monthly = [analytics.kpis(uow, month.start, month.end) for month in months]
    labels = [month.label for month in months]
    return [
        *engagement_chart(labels, [k["overall"]["engagement"] for k in monthly], directory),
        *members_chart(
            labels,
            {g: [k[g] for k in monthly] for g in ("members", "non_members")},
            cohort_report["currency"],
            directory,
        ),
        *cohort_heatmap(cohort_report, directory),
        *liability_chart(cohort_report["liability"], cohort_report["currency"], directory),
    ]
