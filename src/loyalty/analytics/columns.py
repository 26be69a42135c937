"""The KPI reports as Arrow tables, for Parquet files: one row per group, part and figure, in typed columns.

A KPI report's columns: `from` and `to` (timestamps, UTC), `currency`, `by` (the dimension; null for the whole
program's rows), `group` (the group; null for the whole program, and for the orders that name no store or channel
when `by` is set), `part` (`all`; `members` or `non_members` for the order figures of members' and non-members'
orders), `kpi`, `unit` (count, points, money, ratio, flag) and the value in the one column of its unit: `count`
(int64: counts and points), `money` (decimal with the currency's places), `ratio` (decimal, four places), `flag`
(bool). A figure without a value (no denominator) has all four null.

A launch comparison's columns: `launch` (timestamp), `days`, `currency`, `part`, `kpi`, `unit`, and `before`,
`after`, `change` and `relative_change` as decimals with four places (engagement_good, a flag, is left out)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from loyalty.analytics.kpi import RATIO_PLACES, UNITS

_PRECISION = 38
_PARTS = ("members", "non_members")


def kpi_table(report: dict[str, Any]) -> pa.Table:
    """The rows of a `service.kpis` report."""
    places = Decimal(report["overall"]["revenue"]).as_tuple().exponent  # money is shown with the currency's places
    exponent = -places if isinstance(places, int) else 0
    rows: list[dict[str, Any]] = []

    def add(by: str | None, group: str | None, part: str, figures: dict[str, Any]) -> None:
        for name, value in figures.items():
            unit = UNITS[name]
            rows.append(
                {
                    "by": by,
                    "group": group,
                    "part": part,
                    "kpi": name,
                    "unit": unit,
                    "count": value if unit in ("count", "points") else None,
                    "money": None if unit != "money" or value is None else Decimal(value),
                    "ratio": None if unit != "ratio" or value is None else Decimal(value),
                    "flag": value if unit == "flag" else None,
                }
            )

    add(None, None, "all", report["overall"])
    for part in _PARTS:
        add(None, None, part, report[part])
    for group in report.get("groups", []):  # a report without a split has none
        add(report["by"], group["group"], "all", group["figures"])
        for part in _PARTS:
            if group.get(part) is not None:
                add(report["by"], group["group"], part, group[part])
    start, end = datetime.fromisoformat(report["from"]), datetime.fromisoformat(report["to"])
    instant = pa.timestamp("us", tz="UTC")
    schema = pa.schema(
        [
            ("from", instant),
            ("to", instant),
            ("currency", pa.string()),
            ("by", pa.string()),
            ("group", pa.string()),
            ("part", pa.string()),
            ("kpi", pa.string()),
            ("unit", pa.string()),
            ("count", pa.int64()),
            ("money", pa.decimal128(_PRECISION, exponent)),
            ("ratio", pa.decimal128(_PRECISION, RATIO_PLACES)),
            ("flag", pa.bool_()),
        ]
    )
    common = {"from": start, "to": end, "currency": report["currency"]}
    return pa.Table.from_pylist([{**common, **row} for row in rows], schema=schema)


def launch_table(report: dict[str, Any]) -> pa.Table:
    """The rows of a `launch.compare` report."""
    places = Decimal(1).scaleb(-RATIO_PLACES)
    rows = []
    for part in ("overall", *_PARTS):
        for name, moved in report[part].items():
            if UNITS[name] == "flag":
                continue
            values = {
                key: None if moved[key] is None else Decimal(moved[key]).quantize(places)
                for key in ("before", "after", "change", "relative_change")
            }
            rows.append({"part": "all" if part == "overall" else part, "kpi": name, "unit": UNITS[name], **values})
    decimal = pa.decimal128(_PRECISION, RATIO_PLACES)
    schema = pa.schema(
        [
            ("launch", pa.timestamp("us", tz="UTC")),
            ("days", pa.int32()),
            ("currency", pa.string()),
            ("part", pa.string()),
            ("kpi", pa.string()),
            ("unit", pa.string()),
            *((key, decimal) for key in ("before", "after", "change", "relative_change")),
        ]
    )
    common = {
        "launch": datetime.fromisoformat(report["launch"]),
        "days": report["days"],
        "currency": report["currency"],
    }
    return pa.Table.from_pylist([{**common, **row} for row in rows], schema=schema)
