"""Members' tiers: the level each holds, its history, upgrades when an order crosses a threshold and the
re-evaluation job that moves members down once their level is no longer kept.

Experiments: an order an experiment held out of the program (`orders.program_withheld_by`) counts towards no tier,
then or later; and while a holdout keeps a member out of the program, the re-evaluation leaves their tier as it is —
neither up nor down nor renewed. Once it ends, they are re-evaluated as anyone is, on the orders that count."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, Select, bindparam, case, func, select

from loyalty.core.events import Event, EventKind
from loyalty.core.money import format_money
from loyalty.experiments import service as experiments
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account
from loyalty.program import service as programs
from loyalty.program.model import Program
from loyalty.program.tiers import TierBasis, TierLevel, TierPolicy
from loyalty.storage import tables as t
from loyalty.storage.batches import in_batches
from loyalty.storage.database import UnitOfWork


def qualifying_value(uow: UnitOfWork, account_id: int, tiers: TierPolicy, at: datetime, program: Program) -> int:
    """Spend (net of returns, minor units) or the number of orders not wholly returned, within the window; an order
    an experiment held out of the program does not count."""
    spend, orders = uow.conn.execute(_qualifying(tiers, at, program).where(t.orders.c.account_id == account_id)).one()
    return int(spend) if tiers.basis is TierBasis.SPEND else int(orders)


def qualifying_values(
    uow: UnitOfWork, account_ids: Sequence[int], tiers: TierPolicy, at: datetime, program: Program
) -> dict[int, int]:
    """`qualifying_value` of each of `account_ids` in one grouped query; an account without orders counts 0."""
    o = t.orders.c
    query = _qualifying(tiers, at, program).add_columns(o.account_id).where(o.account_id.in_(account_ids))
    by_spend = tiers.basis is TierBasis.SPEND
    return {
        account_id: int(spend) if by_spend else int(orders)
        for spend, orders, account_id in uow.conn.execute(query.group_by(o.account_id))
    }


def _qualifying(tiers: TierPolicy, at: datetime, program: Program) -> Select[Any]:
    """Spend kept (net of returns) and orders not wholly returned, of the orders the caller's filter selects."""
    o, lines = t.orders, t.order_lines
    kept = lines.c.amount - (lines.c.amount * lines.c.returned_quantity) // lines.c.quantity
    query = (
        select(
            func.coalesce(func.sum(kept), 0),
            func.count(func.distinct(case((lines.c.returned_quantity < lines.c.quantity, o.c.order_key)))),
        )
        .select_from(o.join(lines, lines.c.order_key == o.c.order_key))
        .where(o.c.status.in_(["confirmed", "cancelled"]), o.c.occurred_at <= at, o.c.program_withheld_by.is_(None))
    )
    start = tiers.window_start(at, program.timezone)
    return query if start is None else query.where(o.c.occurred_at >= start)


def _held(uow: UnitOfWork, account_id: int) -> Row[Any] | None:
    return uow.conn.execute(select(t.member_tiers).where(t.member_tiers.c.account_id == account_id)).first()


def tier_of(uow: UnitOfWork, account_id: int) -> str | None:
    """The id of the tier a member holds (None: the program's base level)."""
    row = _held(uow, account_id)
    return row.tier_id if row is not None else None


def _move(
    uow: UnitOfWork,
    account_id: int,
    held: Row[Any] | None,
    level: TierLevel,
    value: int,
    at: datetime,
    kept_until: datetime | None,
    reason: str,
    now: datetime,
    direction: str = "up",
) -> None:
    number = uow.conn.execute(
        select(func.count()).select_from(t.tier_history).where(t.tier_history.c.account_id == account_id)
    ).scalar_one()
    from_tier = held.tier_id if held is not None else None
    move = Move(account_id, from_tier, level, value, at, kept_until, reason, direction)
    if held is None:
        uow.conn.execute(t.member_tiers.insert().values(account_id=account_id, **move.tier_values()))
    else:
        uow.conn.execute(
            t.member_tiers.update().where(t.member_tiers.c.account_id == account_id).values(**move.tier_values())
        )
    uow.conn.execute(t.tier_history.insert().values(**move.history_row(number + 1)))
    uow.emit(move.event(), now)


@dataclass(frozen=True)
class Move:
    """A member moved from one tier to another: what `member_tiers`, `tier_history` and the outbox record of it."""

    account_id: int
    from_tier: str | None
    level: TierLevel
    value: int
    at: datetime
    kept_until: datetime | None
    reason: str
    direction: str = "up"

    def tier_values(self) -> dict[str, Any]:
        return {
            "tier_id": self.level.id,
            "since": self.at,
            "kept_until": self.kept_until,
            "qualifying_value": self.value,
            "evaluated_at": self.at,
        }

    def history_row(self, history_no: int) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "history_no": history_no,
            "from_tier": self.from_tier,
            "to_tier": self.level.id,
            "at": self.at,
            "qualifying_value": self.value,
            "reason": self.reason,
        }

    def event(self) -> Event:
        data = _change(self.from_tier, self.level, self.value, self.kept_until, self.reason, self.direction)
        return Event(EventKind.TIER_CHANGED, self.account_id, self.at, data)


def _change(
    from_tier: str | None, level: TierLevel, value: int, kept_until: datetime | None, reason: str, direction: str
) -> dict[str, Any]:
    """The data of a `tier.changed` event."""
    return {
        "from_tier": from_tier,
        "to_tier": level.id,
        "tier_name": level.name,
        "direction": direction,
        "qualifying_value": value,
        "kept_until": kept_until.isoformat() if kept_until is not None else None,
        "reason": reason,
    }


def after_order(uow: UnitOfWork, account: Account, program: Program, at: datetime, order_key: str) -> str | None:
    """Move the member up at once if this order made them reach a higher level; the new tier is returned."""
    tiers = program.tiers
    if tiers is None:
        return None
    held = _held(uow, account.account_id)
    value = qualifying_value(uow, account.account_id, tiers, at, program)
    move = upgrade(account.account_id, held.tier_id if held is not None else None, value, program, at, order_key)
    if move is None:
        return None
    _move(uow, account.account_id, held, move.level, value, at, move.kept_until, move.reason, account.now)
    return move.level.id


def upgrade(
    account_id: int, held: str | None, value: int, program: Program, at: datetime, order_key: str
) -> Move | None:
    """The move up an order makes when it brings the member's qualifying value to `value` while they hold `held`
    (None: the base level); None when it reaches no higher level."""
    tiers = program.tiers
    assert tiers is not None
    higher = tiers.upgrade(tiers.level(held), value)
    if higher is None:
        return None
    reason = f"order {order_key} reached {higher.name}"
    return Move(account_id, held, higher, value, at, tiers.kept_until(at, program.timezone), reason)


def status(uow: UnitOfWork, member_id: int, now: datetime) -> dict[str, Any]:
    """The tier, its privileges, the progress to the next level, the date it is kept until, and the history."""
    program = programs.version_at(uow, now).program
    tiers = program.tiers
    if tiers is None:
        return {"member_id": member_id, "tier": None, "history": []}
    held = _held(uow, member_id)
    level = tiers.level(held.tier_id if held is not None else None)
    value = qualifying_value(uow, member_id, tiers, now, program)
    progress = tiers.progress(value, level)

    def amount(v: int) -> str | int:
        return format_money(v, program.exponent) if tiers.basis is TierBasis.SPEND else v

    history = uow.conn.execute(
        select(t.tier_history).where(t.tier_history.c.account_id == member_id).order_by(t.tier_history.c.history_no)
    )
    return {
        "member_id": member_id,
        "tier": {
            "id": level.id,
            "name": level.name,
            "multiplier": f"{level.multiplier.normalize():f}",
            "privileges": list(level.privileges),
        },
        "qualify_by": tiers.basis.value,
        "qualifying_value": amount(value),
        "since": held.since.isoformat() if held is not None else None,
        "kept_until": held.kept_until.isoformat() if held is not None and held.kept_until else None,
        "next_tier": None
        if progress.next_level is None
        else {
            "id": progress.next_level.id,
            "name": progress.next_level.name,
            "remaining": amount(progress.remaining),
            "message": f"{amount(progress.remaining)} {program.currency if tiers.basis is TierBasis.SPEND else 'orders'}"
            f" more to {progress.next_level.name}",
        },
        "history": [
            {
                "from": h.from_tier,
                "to": h.to_tier,
                "at": h.at.isoformat(),
                "reason": h.reason,
                "qualifying_value": amount(h.qualifying_value),
            }
            for h in history
        ],
    }


def reevaluate(
    engine: Engine, as_of: datetime, now: datetime, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Re-evaluate every member as of `as_of`: up where the value reaches higher, down where the level is no
    longer kept (keep-until plus grace passed); a member an experiment holds out of the program at `as_of` is left
    as they are and counted as `held`. Batches of BATCH accounts, each one transaction that locks its accounts in
    ascending order, reads their values, tiers and history counts in one query each and writes the moves and
    renewals in a few multi-row statements."""
    counts = {"members": 0, "upgraded": 0, "downgraded": 0, "held": 0}
    with UnitOfWork(engine, read_only=True) as uow:
        if programs.version_at(uow, as_of).program.tiers is None:
            return counts

    def evaluate(uow: UnitOfWork, batch: Sequence[int]) -> None:
        program = programs.version_at(uow, as_of).program
        if program.tiers is None:  # a version without tiers took effect since the run began: nothing to move
            return
        accounts.lock_many(uow, batch)
        held = experiments.program_holdouts(uow, batch, as_of)
        evaluated = [account_id for account_id in batch if account_id not in held] if held else batch
        for moved in _reevaluate_batch(uow, evaluated, program, program.tiers, as_of, now):
            counts[moved] += 1
        counts["members"] += len(batch)
        counts["held"] += len(held)

    in_batches(engine, select(t.accounts.c.account_id), evaluate, size=BATCH, progress=progress)
    return counts


# Accounts per re-evaluation batch: thousands, so that each of a batch's few statements reads or writes many rows.
BATCH = 5000


@dataclass(frozen=True, slots=True)
class _Move:
    """A re-evaluation's move of one member to `level`, kept until `kept_until`."""

    level: TierLevel
    kept_until: datetime | None
    up: bool


def _decide(
    tiers: TierPolicy, program: Program, held: Row[Any] | None, value: int, as_of: datetime
) -> _Move | dict[str, Any] | None:
    """What a re-evaluation does to one member: a move, the new figures of the tier it keeps (a renewal), or
    nothing (a member at the base level who stays there holds no row)."""
    current = tiers.level(held.tier_id if held is not None else None)
    kept = held.kept_until if held is not None else None
    new = tiers.reevaluate(current, value, kept, as_of)
    if new.id != current.id:
        up = tiers.rank(new) > tiers.rank(current)
        renewed = tiers.kept_until(as_of, program.timezone) if up or tiers.rank(new) > 0 else None
        return _Move(new, renewed, up)
    if held is None:
        return None
    values: dict[str, Any] = {"v": value, "k": held.kept_until}
    renewed = tiers.kept_until(as_of, program.timezone)
    if renewed is None or held.kept_until is None or tiers.rank(tiers.level_for(value)) >= tiers.rank(current):
        # Still qualifying, or kept for ever by a lifetime period, or held without a date since a lifetime
        # version (a version with a period now dates it): kept for a whole period from now.
        values["k"] = renewed
    return values


def _reevaluate_batch(
    uow: UnitOfWork, batch: Sequence[int], program: Program, tiers: TierPolicy, as_of: datetime, now: datetime
) -> list[str]:
    """Re-evaluate the locked accounts of `batch`; "upgraded" or "downgraded" for each whose tier changed."""
    mt = t.member_tiers.c
    values = qualifying_values(uow, batch, tiers, as_of, program)
    held = {row.account_id: row for row in uow.conn.execute(select(t.member_tiers).where(mt.account_id.in_(batch)))}
    moves: dict[int, _Move] = {}
    renewals: list[dict[str, Any]] = []
    for account_id in batch:
        decided = _decide(tiers, program, held.get(account_id), values.get(account_id, 0), as_of)
        if isinstance(decided, _Move):
            moves[account_id] = decided
        elif decided is not None:
            renewals.append({"a": account_id, "at": as_of, **decided})
    if renewals:
        uow.conn.execute(_RENEW, renewals)
    if moves:
        _write_moves(uow, moves, held, values, as_of, now)
    return ["upgraded" if move.up else "downgraded" for move in moves.values()]


def _write_moves(
    uow: UnitOfWork,
    moves: dict[int, _Move],
    held: dict[int, Row[Any]],
    values: dict[int, int],
    as_of: datetime,
    now: datetime,
) -> None:
    """What `_move` writes for one member, for all of `moves` at once: their tiers, history lines and events."""
    h = t.tier_history.c
    numbers: dict[int, int] = dict(
        uow.conn.execute(
            select(h.account_id, func.count()).where(h.account_id.in_(list(moves))).group_by(h.account_id)
        ).all()
    )
    reason = f"re-evaluation as of {as_of.date().isoformat()}"
    tiers: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for account_id, move in moves.items():
        before = held.get(account_id)
        from_tier = before.tier_id if before is not None else None
        value = values.get(account_id, 0)
        tiers.append({"a": account_id, "tier": move.level.id, "at": as_of, "k": move.kept_until, "v": value})
        history.append(
            {
                "account_id": account_id,
                "history_no": numbers.get(account_id, 0) + 1,
                "from_tier": from_tier,
                "to_tier": move.level.id,
                "at": as_of,
                "qualifying_value": value,
                "reason": reason,
            }
        )
        data = _change(from_tier, move.level, value, move.kept_until, reason, "up" if move.up else "down")
        uow.emit(Event(EventKind.TIER_CHANGED, account_id, as_of, data), now)
    inserted = [row for row in tiers if row["a"] not in held]
    if inserted:
        uow.conn.execute(t.member_tiers.insert(), [_member_tier(row) for row in inserted])
    if len(inserted) < len(tiers):
        uow.conn.execute(_MOVE, [row for row in tiers if row["a"] in held])
    uow.conn.execute(t.tier_history.insert(), history)


def _member_tier(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": row["a"],
        "tier_id": row["tier"],
        "since": row["at"],
        "kept_until": row["k"],
        "qualifying_value": row["v"],
        "evaluated_at": row["at"],
    }


_RENEW = (
    t.member_tiers.update()
    .where(t.member_tiers.c.account_id == bindparam("a"))
    .values(qualifying_value=bindparam("v"), evaluated_at=bindparam("at"), kept_until=bindparam("k"))
)
_MOVE = (
    t.member_tiers.update()
    .where(t.member_tiers.c.account_id == bindparam("a"))
    .values(
        tier_id=bindparam("tier"),
        since=bindparam("at"),
        kept_until=bindparam("k"),
        qualifying_value=bindparam("v"),
        evaluated_at=bindparam("at"),
    )
)


def progress_of(uow: UnitOfWork, member_id: int, now: datetime) -> dict[str, Any] | None:
    """The member's tier and progress as messages speak of them (None: the program has no tiers): the tier's name,
    the next one's, the qualifying value so far and what is left (minor units, or orders), and the percentage."""
    program = programs.version_at(uow, now).program
    tiers = program.tiers
    if tiers is None:
        return None
    held = _held(uow, member_id)
    level = tiers.level(held.tier_id if held is not None else None)
    value = qualifying_value(uow, member_id, tiers, now, program)
    progress = tiers.progress(value, level)
    following = progress.next_level
    percent = 100 if following is None else min(100, value * 100 // following.threshold) if following.threshold else 100
    return {
        "tier": level.name,
        "next_tier": following.name if following is not None else None,
        "spent": value,
        "remaining": progress.remaining,
        "percent": percent,
    }
