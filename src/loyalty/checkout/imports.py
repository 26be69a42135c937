"""Bulk imports of members and purchase history from CSV files.

A file is checked whole before anything is kept: every bad line is reported with its number and reason, and
a file with any bad line imports nothing. A good file is imported in one transaction through the same use
cases as the live checkout, so importing it twice changes nothing (orders replay by their id)."""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine

from loyalty.checkout import orders, replay
from loyalty.checkout import service as checkout
from loyalty.checkout.requests import OrderRequest, parse_order
from loyalty.core.errors import Conflict, FieldProblem, InvalidInput, LoyaltyError
from loyalty.core.file_formats import MEMBER_COLUMNS, ORDER_COLUMNS
from loyalty.core.instants import Zone
from loyalty.core.money import parse_decimal
from loyalty.members import service as members
from loyalty.program import service as programs
from loyalty.storage import bulk
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

Progress = Callable[[int], None]


@dataclass
class LineError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportRejected(LoyaltyError):
    """The file has bad lines; nothing was imported."""

    kind = "import-rejected"

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} bad line(s); nothing was imported")


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    details: dict[str, int] = field(default_factory=dict)
    reason: str | None = None  # why the orders were confirmed one by one rather than replayed in bulk


def open_text(path: Path) -> TextIO:
    """A text file to read, gzip-compressed or not (told by its first bytes, not its name)."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    if compressed:
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return path.open(newline="", encoding="utf-8-sig")


def _rows(path: Path, columns: tuple[str, ...], required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        header = set(reader.fieldnames or [])
        unknown = header - set(columns)
        missing = required - header
        if unknown or missing:
            problems = [f"unknown column {c!r}" for c in sorted(unknown)] + [
                f"missing column {c!r}" for c in sorted(missing)
            ]
            raise ImportRejected([LineError(1, "; ".join(problems) + f"; expected columns {list(columns)}")])
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _bool(value: str, column: str) -> bool | None:
    if value == "":
        return None
    if value.lower() in ("1", "true", "yes", "y"):
        return True
    if value.lower() in ("0", "false", "no", "n"):
        return False
    raise InvalidInput.at(column, f"{value!r} is not true or false")


def read_members(path: Path, now: datetime, zone: Zone) -> list[tuple[int, members.MemberInput]]:
    """Members of the CSV; `registered_at` is read like the API's (a bare date in `zone`, the program's)."""
    parsed: list[tuple[int, members.MemberInput]] = []
    errors: list[LineError] = []
    for line, row in _rows(path, MEMBER_COLUMNS, {"external_id"}):
        problems = []
        data: dict[str, Any] = {
            k: row.get(k)
            for k in ("external_id", "name", "phone", "email", "card", "gender", "birth_date", "registered_at")
        }
        consents = {}
        for kind in members.CONSENT_KINDS:
            try:
                value = _bool(row.get(f"consent_{kind}", ""), f"consent_{kind}")
            except InvalidInput as error:
                problems.extend(error.problems)
                continue
            if value is not None:
                consents[kind] = value
        data["consents"], data["source"] = consents, "import"
        if not row.get("external_id"):
            problems.append(FieldProblem("external_id", "is required"))
        try:
            member = members.parse_member(data, now, zone=zone)
        except InvalidInput as error:
            problems.extend(error.problems)
        if problems:
            errors.extend(LineError(line, str(p)) for p in problems)
        else:
            parsed.append((line, member))
    if errors:
        raise ImportRejected(errors)
    return parsed


def import_members(engine: Engine, path: Path, now: datetime, progress: Progress | None = None) -> ImportSummary:
    """Register the file's members in one transaction, written in bulk (`checkout.replay.register_members`), or one
    by one when a member comes with a referral code; the same members either way."""
    rows = read_members(path, now, programs.lazy_time_zone(engine, now))
    try:
        with UnitOfWork(engine) as uow:
            created, unchanged, errors = replay.register_members(uow, rows, now)
            if errors:
                raise ImportRejected([LineError(line, reason) for line, reason in errors])
            uow.commit()
    except replay.NotReplayable as reason:
        summary = members_one_by_one(engine, rows, now, progress)
        summary.reason = str(reason)
        return summary
    if created >= ANALYZED_FROM:
        bulk.refresh_statistics(engine, IMPORTED_TABLES)
    if progress:
        progress(len(rows))
    return ImportSummary(rows=len(rows), created=created, unchanged=unchanged)


def members_one_by_one(
    engine: Engine, rows: list[tuple[int, members.MemberInput]], now: datetime, progress: Progress | None = None
) -> ImportSummary:
    """`import_members` through `members.register`, member after member."""
    summary, errors = ImportSummary(rows=len(rows)), []
    with UnitOfWork(engine) as uow:
        for line, member in rows:
            existing = members.find(uow, "external_id", member.identifiers["external_id"])
            if existing is not None:
                summary.unchanged += 1
            else:
                try:
                    members.register(uow, member, now)
                    summary.created += 1
                except (InvalidInput, Conflict) as error:
                    errors.append(LineError(line, str(error)))
            if progress:
                progress(1)
        if errors:
            raise ImportRejected(errors)
        uow.commit()
    return summary


@dataclass
class _PendingOrder:
    line: int
    data: dict[str, Any]
    external_id: str | None
    create_member_at: datetime | None = None


def _external_id(value: str, line: int, errors: list[LineError]) -> str | None:
    """A member's external id in its canonical form, as registration stores it; None, noting why, when bad."""
    if not value:
        return None
    try:
        return members.normalise_identifier("external_id", value, "member_external_id")
    except InvalidInput as error:
        errors.extend(LineError(line, str(p)) for p in error.problems)
        return None


def read_orders(path: Path, now: datetime, zone: Zone) -> list[tuple[int, OrderRequest, str | None]]:
    """Orders of the generic CSV (`iter_orders`), every one; ImportRejected with every bad line."""
    errors: list[LineError] = []
    requests = list(iter_orders(path, now, zone, errors))
    if errors:
        raise ImportRejected(sorted(errors, key=lambda e: e.line))
    return requests


def iter_orders(
    path: Path, now: datetime, zone: Zone, errors: list[LineError], *, in_time_order: bool = False
) -> Iterator[tuple[int, OrderRequest, str | None]]:
    """Orders of the generic CSV as they are read: one row per order line, the rows of one order consecutive and
    sharing its order_id. `occurred_at` is read like the API's (a bare date in `zone`, the program's). A bad line is
    added to `errors` and its order left out; the caller rejects the file when any is.

    An order whose lines are split by another order is a bad line. To tell, the ids of the orders read so far are
    kept; with `in_time_order` (a stream the replay checks is in time order) only those of the last `occurred_at`,
    so memory does not grow with the file: a split order's second part with an earlier `occurred_at` than the
    orders before it breaks the time order, and the caller reads the file whole instead."""
    seen: set[str] = set()
    seen_at: str | None = None
    order: _PendingOrder | None = None
    for line, row in _rows(path, ORDER_COLUMNS, {"order_id", "occurred_at", "sku", "quantity", "price"}):
        key = row["order_id"]
        if not key:
            errors.append(LineError(line, "order_id: is required"))
            continue
        if order is not None and key != order.data["order_id"]:
            if (parsed := _parsed(order, now, zone, errors)) is not None:
                yield parsed
            order = None
        item: dict[str, str | int | None] = {
            "line_id": row.get("line_id") or None,
            "sku": row["sku"],
            "category": row.get("category") or None,
            "price": row["price"],
            "discount": row.get("discount") or "0",
        }
        try:
            item["quantity"] = int(row["quantity"])
        except ValueError:
            errors.append(LineError(line, f"quantity: {row['quantity']!r} is not a whole number"))
            continue
        header = (
            row.get("member_external_id", ""),
            row["occurred_at"],
            row.get("points", ""),
            row.get("channel", ""),
            row.get("store", ""),
        )
        if order is None:
            if key in seen:
                errors.append(
                    LineError(line, f"order {key}: its lines must be consecutive, and an order came between them")
                )
                continue
            if in_time_order and row["occurred_at"] != seen_at:
                seen, seen_at = set(), row["occurred_at"]
            seen.add(key)
            points = row.get("points") or "0"
            data: dict[str, Any] = {
                "order_id": key,
                "occurred_at": row["occurred_at"],
                "lines": [],
                "channel": row.get("channel") or None,
                "store": row.get("store") or None,
                "points": int(points) if points.isdigit() else points,
                "_header": header,
            }
            external = _external_id(row.get("member_external_id", ""), line, errors)
            if external:
                data["member"] = {"external_id": external}
            order = _PendingOrder(line, data, external)
        elif order.data["_header"] != header:
            errors.append(
                LineError(
                    line,
                    f"order {key}: member, occurred_at, points, channel and store must be the "
                    "same on every line of the order",
                )
            )
            continue
        if not item["line_id"]:
            item["line_id"] = str(len(order.data["lines"]) + 1)
        order.data["lines"].append(item)
    if order is not None and (parsed := _parsed(order, now, zone, errors)) is not None:
        yield parsed


def _parsed(
    order: _PendingOrder, now: datetime, zone: Zone, errors: list[LineError]
) -> tuple[int, OrderRequest, str | None] | None:
    order.data.pop("_header")
    try:
        return order.line, parse_order(order.data, now, zone=zone), order.external_id
    except InvalidInput as error:
        errors.extend(LineError(order.line, str(p)) for p in error.problems)
        return None


def read_cdnow(path: Path, now: datetime, rate: Decimal = Decimal(1)) -> list[tuple[int, OrderRequest, str | None]]:
    """The CDNOW purchase history: customer id, [sample id,] date YYYYMMDD, number of items, dollar amount. A
    first line naming the columns (`customer_id date quantity amount`, as some published copies have) is skipped.

    Each row is one order of one line; its id is derived from the customer, the date and the row's place among
    that customer's rows of that day, so the same file always yields the same ids. Amounts are multiplied by
    `rate` (e.g. 100 to read dollars as roubles at 100 ₽ per $) and kept exact with a line discount."""
    errors: list[LineError] = []
    requests: list[tuple[int, OrderRequest, str | None]] = []
    seen: dict[tuple[str, str], int] = {}
    first = True
    with open_text(path) as handle:
        for line, text in enumerate(handle, start=1):
            fields = text.split()
            if not fields:
                continue
            if _names_columns(fields):
                if not first:
                    errors.append(LineError(line, "column names are allowed only on the first line"))
                first = False
                continue
            first = False
            if len(fields) not in (4, 5):
                errors.append(
                    LineError(
                        line, f"expected 4 or 5 columns (customer, [sample id,] date, items, amount), got {len(fields)}"
                    )
                )
                continue
            customer, day, items, amount = fields[0], fields[-3], fields[-2], fields[-1]
            try:
                if len(day) != 8 or not day.isdigit():
                    raise ValueError(day)
                occurred = datetime.combine(date(int(day[:4]), int(day[4:6]), int(day[6:])), time(12), UTC)
            except ValueError:
                errors.append(LineError(line, f"date: {day!r} is not a date YYYYMMDD"))
                continue
            if not items.isdigit() or int(items) == 0:
                errors.append(LineError(line, f"items: {items!r} is not a positive whole number"))
                continue
            try:
                total = parse_decimal(amount, "amount") * rate
                if total < 0:
                    raise InvalidInput.at("amount", "must not be negative")
            except InvalidInput as error:
                errors.append(LineError(line, f"amount: {error.problems[0].reason}"))
                continue
            total = total.quantize(Decimal("0.01"))
            quantity = int(items)
            unit = (total / quantity).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
            external = _external_id(customer, line, errors)
            if external is None:
                continue
            n = seen[(customer, day)] = seen.get((customer, day), 0) + 1
            data = {
                "order_id": f"cdnow-{customer}-{day}-{n}",
                "member": {"external_id": external},
                "occurred_at": occurred.isoformat(),
                "channel": "cdnow",
                "lines": [
                    {
                        "line_id": "1",
                        "sku": "cd",
                        "category": "music",
                        "quantity": quantity,
                        "price": str(unit),
                        "discount": str(unit * quantity - total),
                    }
                ],
            }
            try:
                requests.append((line, parse_order(data, now), external))
            except InvalidInput as error:
                errors.extend(LineError(line, str(p)) for p in error.problems)
    if errors:
        raise ImportRejected(errors)
    return requests


# A line of 4 or 5 names, not values: no field starts with a digit (ids, dates and amounts all do) or a sign.
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _names_columns(fields: list[str]) -> bool:
    return len(fields) in (4, 5) and all(_COLUMN_NAME.fullmatch(field) for field in fields)


def import_orders(
    engine: Engine,
    requests: list[tuple[int, OrderRequest, str | None]],
    now: datetime,
    *,
    create_members: bool = False,
    redeem: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Confirm the orders in the order they happened, in one transaction. With `create_members`, an unknown
    external id becomes a member registered at its first order; with `redeem`, each member pays with as many
    points as the program allows (the demo's stand-in for members spending their points).

    The orders are replayed in memory and written in bulk (`checkout.replay`) unless the history needs what only
    the one-by-one confirmation models; `reason` then says so. Both leave the same ledger."""
    ordered = sorted(requests, key=lambda r: (r[1].occurred_at, r[0]))
    try:
        return _replayed(engine, ordered, now, [], create_members=create_members, redeem=redeem, progress=progress)
    except replay.NotReplayable as reason:  # refused before anything was written
        summary = one_by_one(engine, requests, now, create_members=create_members, redeem=redeem, progress=progress)
        summary.reason = str(reason)
        return summary


def import_order_file(
    engine: Engine,
    path: Path,
    now: datetime,
    zone: Zone,
    *,
    create_members: bool = False,
    redeem: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """`import_orders` of a generic CSV, streamed: a file in time order (as exports and `loyalty generate` write
    them) is replayed as it is read, so memory does not grow with the file; any other is read whole and sorted."""
    errors: list[LineError] = []
    orders = iter_orders(path, now, zone, errors, in_time_order=True)
    try:
        return _replayed(engine, orders, now, errors, create_members=create_members, redeem=redeem, progress=progress)
    except replay.NotReplayable:  # rolled back: read it whole, sort it, and replay it or confirm it order by order
        requests = read_orders(path, now, zone)
        return import_orders(engine, requests, now, create_members=create_members, redeem=redeem, progress=progress)


def _replayed(
    engine: Engine,
    orders: Iterable[tuple[int, OrderRequest, str | None]],
    now: datetime,
    errors: list[LineError],
    *,
    create_members: bool,
    redeem: bool,
    progress: Progress | None,
) -> ImportSummary:
    """`orders`, in time order, replayed and written in one transaction; ImportRejected with every bad line (those
    `errors` holds already, of the reading, and the replay's); NotReplayable, nothing kept, from the replay."""
    with UnitOfWork(engine) as uow:
        outcome = replay.replay_orders(
            uow, orders, now, create_members=create_members, redeem=redeem, progress=progress
        )
        errors.extend(LineError(line, reason) for line, reason in outcome.errors)
        if errors:
            raise ImportRejected(sorted(errors, key=lambda e: e.line))
        uow.commit()
    if outcome.created >= ANALYZED_FROM:
        bulk.refresh_statistics(engine, IMPORTED_TABLES)
    summary = ImportSummary(
        rows=outcome.created + outcome.unchanged, created=outcome.created, unchanged=outcome.unchanged
    )
    if outcome.members_created:
        summary.details["members_created"] = outcome.members_created
    return summary


ANALYZED_FROM = 10_000  # orders (or members) imported from which the statistics of what was filled are refreshed
IMPORTED_TABLES = (
    t.members,
    t.member_identifiers,
    t.accounts,
    t.ledger_entries,
    t.lots,
    t.lot_draws,
    t.orders,
    t.order_lines,
    t.member_tiers,
    t.tier_history,
    t.action_events,
    t.events,
    t.consents,
)


def one_by_one(
    engine: Engine,
    requests: list[tuple[int, OrderRequest, str | None]],
    now: datetime,
    *,
    create_members: bool = False,
    redeem: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """`import_orders` through `checkout.confirm`, order after order."""
    summary, errors = ImportSummary(rows=len(requests)), []
    ordered = sorted(requests, key=lambda r: (r[1].occurred_at, r[0]))
    with UnitOfWork(engine) as uow:
        for line, request, external_id in ordered:
            try:
                if orders.order_exists(uow, request.order_key):
                    # Already imported: replay it (a changed body is a Conflict), unless the points it spent were
                    # chosen at import time, which a second reading of the file cannot repeat.
                    if not redeem:
                        checkout.confirm(uow, request, now)
                    summary.unchanged += 1
                    if progress:
                        progress(1)
                    continue
                if create_members and external_id and members.find(uow, "external_id", external_id) is None:
                    member = members.MemberInput({"external_id": external_id}, registered_at=request.occurred_at)
                    members.register(uow, member, now)
                    summary.details["members_created"] = summary.details.get("members_created", 0) + 1
                if redeem and request.member is not None:
                    quote = checkout.calculate(uow, request, now)
                    request = replace(request, points=quote["max_points"])
                checkout.confirm(uow, request, now)
                summary.created += 1
            except (InvalidInput, Conflict) as error:
                errors.append(LineError(line, f"order {request.order_key}: {error}"))
            if progress:
                progress(1)
        if errors:
            raise ImportRejected(sorted(errors, key=lambda e: e.line))
        uow.commit()
    return summary
