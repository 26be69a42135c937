"""Members' tiers: the level each holds, its history, upgrades when an order crosses a threshold and the
re-evaluation job that moves members down once their level is no longer kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, case, func, select

from loyalty.core.events import Event, EventKind
from loyalty.core.money import format_money
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account
from loyalty.program import service as programs
from loyalty.program.model import Program
from loyalty.program.tiers import TierBasis, TierLevel, TierPolicy
from loyalty.storage import tables as t
from loyalty.storage.batches import in_batches
from loyalty.storage.database import UnitOfWork


def qualifying_value(uow: UnitOfWork, account_id: int, tiers: TierPolicy, at: datetime, program: Program) -> int:
    """Spend (net of returns, minor units) or the number of orders not wholly returned, within the window."""
    o, lines = t.orders, t.order_lines
    kept = lines.c.amount - (lines.c.amount * lines.c.returned_quantity) / lines.c.quantity
    query = (
        select(
            func.coalesce(func.sum(kept), 0),
            func.count(func.distinct(case((lines.c.returned_quantity < lines.c.quantity, o.c.order_key)))),
        )
        .select_from(o.join(lines, lines.c.order_key == o.c.order_key))
        .where(o.c.account_id == account_id, o.c.status.in_(["confirmed", "cancelled"]), o.c.occurred_at <= at)
    )
    start = tiers.window_start(at, program.timezone)
    if start is not None:
        query = query.where(o.c.occurred_at >= start)
    spend, orders = uow.conn.execute(query).one()
    return int(spend) if tiers.basis is TierBasis.SPEND else int(orders)


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
    values = {"tier_id": level.id, "since": at, "kept_until": kept_until, "qualifying_value": value, "evaluated_at": at}
    if held is None:
        uow.conn.execute(t.member_tiers.insert().values(account_id=account_id, **values))
    else:
        uow.conn.execute(t.member_tiers.update().where(t.member_tiers.c.account_id == account_id).values(**values))
    number = uow.conn.execute(
        select(func.count()).select_from(t.tier_history).where(t.tier_history.c.account_id == account_id)
    ).scalar_one()
    uow.conn.execute(
        t.tier_history.insert().values(
            account_id=account_id,
            history_no=number + 1,
            from_tier=held.tier_id if held is not None else None,
            to_tier=level.id,
            at=at,
            qualifying_value=value,
            reason=reason,
        )
    )
    data = {
        "from_tier": held.tier_id if held is not None else None,
        "to_tier": level.id,
        "tier_name": level.name,
        "direction": direction,
        "qualifying_value": value,
        "kept_until": kept_until.isoformat() if kept_until is not None else None,
        "reason": reason,
    }
    uow.emit(Event(EventKind.TIER_CHANGED, account_id, at, data), now)


def after_order(uow: UnitOfWork, account: Account, program: Program, at: datetime, order_key: str) -> str | None:
    """Move the member up at once if this order made them reach a higher level; the new tier is returned."""
    tiers = program.tiers
    if tiers is None:
        return None
    held = _held(uow, account.account_id)
    current = tiers.level(held.tier_id if held is not None else None)
    value = qualifying_value(uow, account.account_id, tiers, at, program)
    higher = tiers.upgrade(current, value)
    if higher is None:
        return None
    _move(
        uow,
        account.account_id,
        held,
        higher,
        value,
        at,
        tiers.kept_until(at, program.timezone),
        f"order {order_key} reached {higher.name}",
        account.now,
    )
    return higher.id


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
    longer kept (keep-until plus grace passed). Batches of accounts, each one transaction, accounts locked in
    ascending order."""
    counts = {"members": 0, "upgraded": 0, "downgraded": 0}
    with UnitOfWork(engine, read_only=True) as uow:
        if programs.version_at(uow, as_of).program.tiers is None:
            return counts

    def evaluate(uow: UnitOfWork, batch: Sequence[int]) -> None:
        program = programs.version_at(uow, as_of).program
        if program.tiers is None:  # a version without tiers took effect since the run began: nothing to move
            return
        for account_id in batch:
            accounts.lock(uow, account_id, now)
            moved = _reevaluate_one(uow, account_id, program, program.tiers, as_of, now)
            if moved is not None:
                counts[moved] += 1
        counts["members"] += len(batch)

    in_batches(engine, select(t.accounts.c.account_id), evaluate, progress=progress)
    return counts


def _reevaluate_one(
    uow: UnitOfWork, account_id: int, program: Program, tiers: TierPolicy, as_of: datetime, now: datetime
) -> str | None:
    """Re-evaluate one locked account; "upgraded" or "downgraded" if its tier changed."""
    held = _held(uow, account_id)
    current = tiers.level(held.tier_id if held is not None else None)
    value = qualifying_value(uow, account_id, tiers, as_of, program)
    kept = held.kept_until if held is not None else None
    new = tiers.reevaluate(current, value, kept, as_of)
    if new.id != current.id:
        up = tiers.rank(new) > tiers.rank(current)
        _move(
            uow,
            account_id,
            held,
            new,
            value,
            as_of,
            tiers.kept_until(as_of, program.timezone) if up or tiers.rank(new) > 0 else None,
            f"re-evaluation as of {as_of.date().isoformat()}",
            now,
            "up" if up else "down",
        )
        return "upgraded" if up else "downgraded"
    if held is not None:
        values: dict[str, Any] = {"qualifying_value": value, "evaluated_at": as_of}
        renewed = tiers.kept_until(as_of, program.timezone)
        if renewed is None or held.kept_until is None or tiers.rank(tiers.level_for(value)) >= tiers.rank(current):
            # Still qualifying, or kept for ever by a lifetime period, or held without a date since a lifetime
            # version (a version with a period now dates it): kept for a whole period from now.
            values["kept_until"] = renewed
        uow.conn.execute(t.member_tiers.update().where(t.member_tiers.c.account_id == account_id).values(**values))
    return None


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
