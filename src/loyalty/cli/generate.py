"""`loyalty generate`: a synthetic purchase history (stores.csv, members.csv, orders.csv) from a seed."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Protocol

import typer

from loyalty.cli.terminal import fail, now, out, with_progress
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.replay.generator import History, HistoryShape


def generate(
    members: Annotated[int, typer.Option("--members", help="How many members (at most 10,000,000).")],
    orders: Annotated[int, typer.Option("--orders", help="How many orders (at most 100,000,000).")],
    out_dir: Annotated[Path, typer.Option("--out", help="The folder to write the files into (made if missing).")],
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same files, byte for byte.")] = 0,
    start: Annotated[
        str | None,
        typer.Option("--start", help="The first day, YYYY-MM-DD (default: the 1st of the month a year ago)."),
    ] = None,
    months: Annotated[int, typer.Option("--months", help="How many months the history spans.")] = 12,
    non_member_share: Annotated[
        float, typer.Option("--non-member-share", help="The share of orders by non-members, in [0, 1).")
    ] = 0.3,
    stores: Annotated[int, typer.Option("--stores", help="How many stores.")] = 20,
    cities: Annotated[int, typer.Option("--cities", help="How many cities (each has a store).")] = 5,
    compress: Annotated[bool, typer.Option("--gzip", help="Write .csv.gz files.")] = False,
) -> None:
    """Write a made-up history with seasonality, heavy-tailed spend, churn, cities and stores, channels and
    non-members, in the files `loyalty members import` and `loyalty orders import` read (see README)."""
    shape = HistoryShape(
        members=members,
        orders=orders,
        seed=seed,
        start=_start(start),
        months=months,
        non_member_share=non_member_share,
        stores=stores,
        cities=cities,
    )
    try:
        history = History(shape)
    except InvalidInput as error:
        # The shape names its fields; the operator typed options.
        fail(InvalidInput([FieldProblem(_option(p.path), p.reason) for p in error.problems]))
    if out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} is not a folder", param_hint="--out")
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".csv.gz" if compress else ".csv"
    began = time.perf_counter()
    with _opened(out_dir / f"stores{suffix}", compress) as handle:
        handle.write(history.store_text().encode())
    with _opened(out_dir / f"members{suffix}", compress) as handle:
        for chunk in history.member_chunks():
            handle.write(chunk.encode())
    written = time.perf_counter()
    lines = 0
    progress, step = with_progress(orders, "orders")
    with progress, _opened(out_dir / f"orders{suffix}", compress) as handle:
        for day in history.order_chunks():
            handle.write(day.text.encode())
            lines += day.lines
            step(day.orders)
    ended = time.perf_counter()
    out.print(
        f"Generated {members:,} members, {orders:,} orders ({lines:,} lines), {stores:,} stores in {cities:,} cities "
        f"from {shape.start} to {shape.end} (seed {seed}) into {out_dir} in {ended - began:.1f} s: "
        f"{members / max(written - began, 1e-9):,.0f} members/s, {orders / max(ended - written, 1e-9):,.0f} orders/s",
        soft_wrap=True,
    )


def _start(value: str | None) -> date:
    if value is None:
        today = now().date()
        year, month = divmod(today.year * 12 + today.month - 1 - 12, 12)
        return date(year, month + 1, 1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint="--start") from None


_OPTIONS = {"members", "orders", "seed", "start", "months", "non_member_share", "stores", "cities"}


def _option(field: str) -> str:
    return "--" + field.replace("_", "-") if field in _OPTIONS else field


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


@contextmanager
def _opened(path: Path, compress: bool) -> Iterator[_Sink]:
    """The file to write; gzip with no name and no time in its header, so the same text gives the same bytes."""
    with path.open("wb") as raw:
        if not compress:
            yield raw
            return
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as packed:
            yield packed
