"""`loyalty experiment`: create a holdout or a split by store or city, list them, read a report, plan a test."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loyalty.cli.terminal import DatabaseOption, err, fail, now, out, print_json
from loyalty.core.errors import LoyaltyError
from loyalty.experiments import service as experiments
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine

app = typer.Typer(help="Experiments: holdouts and split tests by store or city, their reports.", no_args_is_help=True)
METRICS = ("orders_per_customer", "spend_per_customer", "average_check")


def _names(values: list[str] | None) -> list[str] | None:
    """Repeated options, each of which may hold several names separated by commas."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


@app.command("create")
def experiment_create(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id (lower-case letters, digits, _ - .).")],
    name: Annotated[str, typer.Option(help="A name people read.")],
    kind: Annotated[str, typer.Option(help="holdout, stores or cities.")],
    start: Annotated[str, typer.Option("--from", help="The first day (YYYY-MM-DD, program's time zone) or instant.")],
    end: Annotated[str, typer.Option("--to", help="The day the period ends, not included.")],
    withholds: Annotated[str, typer.Option(help="What the control group goes without: program or campaigns.")] = (
        "program"
    ),
    share: Annotated[str | None, typer.Option(help="holdout: the share held out, above 0 and at most 0.5.")] = None,
    segment: Annotated[str | None, typer.Option(help="holdout: draw only from this segment.")] = None,
    treatment: Annotated[
        list[str] | None, typer.Option(help="stores or cities with the program (repeat, or separate by commas).")
    ] = None,
    control: Annotated[list[str] | None, typer.Option(help="stores or cities without it.")] = None,
    seed: Annotated[int | None, typer.Option(help="The holdout's draw (default: from the id).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create an experiment; the checkout applies it over [--from, --to). Every bad option is named."""
    data: dict[str, Any] = {
        "experiment_id": experiment_id,
        "name": name,
        "kind": kind,
        "withholds": withholds,
        "starts_at": start,
        "ends_at": end,
        "share": share,
        "segment": segment,
        "treatment": _names(treatment),
        "control": _names(control),
        "seed": seed,
    }
    engine = make_engine(database)
    at = now()
    try:
        with UnitOfWork(engine) as uow:
            created = experiments.create(
                uow, {k: v for k, v in data.items() if v is not None}, at, programs.lazy_time_zone(engine, at)
            )
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    out.print(
        f"Experiment {created['experiment_id']} ({created['kind']}, withholds {created['withholds']}): "
        f"{created['starts_at']} to {created['ends_at']}"
    )


@app.command("list")
def experiment_list(database: DatabaseOption = None) -> None:
    """Every experiment, the latest to start first."""
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        found = [experiments.as_json(e) for e in experiments.list_experiments(uow)]
    out.print(f"{len(found)} experiments")
    for e in found:
        groups = (
            f"{e['share']} held out" + (f" of {e['segment']}" if e["segment"] else "")
            if e["kind"] == "holdout"
            else f"{', '.join(e['treatment'])} vs {', '.join(e['control'])}"
        )
        out.print(
            f"{e['experiment_id']}: {e['kind']}, withholds {e['withholds']}, {e['starts_at']} to {e['ends_at']}, "
            f"{groups}",
            soft_wrap=True,
        )


@app.command("report")
def experiment_report(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print what the HTTP endpoint returns.")] = False,
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999, help="The intervals' confidence.")] = 0.95,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Also draw the lifts and their intervals (PNG, SVG) in this folder.")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Lift in orders per customer, spend per customer and average check, treatment against control, with Welch's
    and the bootstrap's intervals, CUPED, and whether it is significant."""
    from loyalty.experiments import report as reports  # NumPy and SciPy are loaded by the commands that use them

    try:
        with UnitOfWork(make_engine(database), read_only=True) as uow:
            report = reports.report(uow, experiment_id, confidence=confidence)
    except LoyaltyError as error:
        fail(error)
    if charts is not None:
        from loyalty.analytics.charts import experiment_chart  # matplotlib is loaded by the commands that draw

        written = experiment_chart(report, charts)
        err.print(f"Charts: {', '.join(str(p) for p in written)}", soft_wrap=True)
    if as_json:
        print_json(report)
        return
    groups = report["groups"]
    out.print(
        f"{report['experiment']['name']} ({report['experiment']['kind']}): {report['period']['from']} to "
        f"{report['period']['to']}; unit: {report['unit']}\n"
        f"treatment {groups['treatment']['customers']} customers, {groups['treatment']['orders']} orders; "
        f"control {groups['control']['customers']} customers, {groups['control']['orders']} orders"
    )
    percent = f"{float(report['confidence']):.0%}"
    rows = [(m, report["metrics"][m]) for m in METRICS]
    if report["store_weeks"] is not None:
        rows += [(m, report["store_weeks"][m]) for m in ("orders_per_store_week", "revenue_per_store_week")]
    figures = Table("metric", "treatment", "control", "lift", "verdict", title="Means (units) and lift")
    intervals = Table("metric", f"Welch {percent}", "bootstrap", "CUPED", title="Intervals of the lift")
    for name, metric in rows:
        treatment, control = metric["treatment"], metric["control"]
        figures.add_row(
            name,
            f"{treatment['mean'] or '—'} ({treatment['units']})",
            f"{control['mean'] or '—'} ({control['units']})",
            metric["lift"] or "—",
            metric["verdict"],
        )
        intervals.add_row(name, _interval(metric["welch"]), _interval(metric["bootstrap"]), _interval(metric["cuped"]))
    out.print(figures)
    out.print(intervals)


def _interval(figures: dict[str, Any] | None) -> str:
    """The lift's interval, or the difference's when there is no lift."""
    if figures is None:
        return "—"
    pair = figures.get("lift") or figures.get("difference")
    return f"[{pair[0]}, {pair[1]}]" if pair else "—"


@app.command("size")
def experiment_size(
    mean: Annotated[str, typer.Option(help="The metric's mean now (e.g. the average check).")],
    sd: Annotated[str, typer.Option(help="Its standard deviation across customers.")],
    effect: Annotated[str, typer.Option(help="The smallest relative change worth finding: 0.05 is +5%.")],
    alpha: Annotated[str, typer.Option(help="The test's level (false positives).")] = "0.05",
    power: Annotated[str, typer.Option(help="The chance of finding an effect that is there.")] = "0.8",
) -> None:
    """Customers needed in each group to detect --effect on --mean."""
    from loyalty.experiments import planning

    try:
        planned = planning.sample_size(mean, sd, effect, alpha, power)
    except LoyaltyError as error:
        fail(error)
    out.print(f"{planned['per_group']} per group, {planned['total']} in all")
