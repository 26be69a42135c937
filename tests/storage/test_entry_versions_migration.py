"""Migration 0010 names the program version on the adjust and expire entries written before it: the version
in force at each entry's instant, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import select, text

from loyalty.ledger import jobs
from loyalty.ledger import service as ledger
from loyalty.members import service as members
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork, make_engine
from loyalty.storage.migrate import alembic_config, upgrade

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PROGRAM = {
    "name": "P",
    "currency": "RUB",
    "earning": {"rules": [{"id": "base", "percent": 5}]},
    "expiry": {"after_days": 30},
}


def test_entries_written_without_a_version_get_the_one_in_force_at_their_instant(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with UnitOfWork(engine) as uow:
            programs.publish(uow, PROGRAM, NOW - timedelta(days=100), NOW)
            programs.publish(uow, {**PROGRAM, "name": "Q"}, NOW - timedelta(days=30), NOW)
            member_id = members.register(uow, members.parse_member({"phone": "+79990003344"}), NOW - timedelta(days=90))
            ledger.adjust(uow, member_id, 100, "olga", "goodwill", NOW - timedelta(days=50))
            ledger.adjust(uow, member_id, 40, "olga", "goodwill", NOW)
            uow.commit()
        jobs.expire(engine, NOW, NOW)  # the first adjustment burned 20 days ago, under Q
        with engine.begin() as conn:
            conn.execute(text("UPDATE ledger_entries SET program_version = NULL WHERE kind IN ('adjust', 'expire')"))
            conn.execute(text("UPDATE lots SET program_version = NULL WHERE rule_id = 'adjustment'"))
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0009")
        upgrade(database_url)
        with engine.connect() as conn:
            entries = conn.execute(
                select(t.ledger_entries.c.kind, t.ledger_entries.c.points, t.ledger_entries.c.program_version)
                .where(t.ledger_entries.c.kind.in_(["adjust", "expire"]))
                .order_by(t.ledger_entries.c.entry_no)
            ).all()
            lots = conn.execute(
                select(t.lots.c.points, t.lots.c.program_version).where(t.lots.c.rule_id == "adjustment")
            ).all()
        assert [tuple(e) for e in entries] == [("adjust", 100, 1), ("adjust", 40, 2), ("expire", -100, 2)]
        assert sorted(tuple(lot) for lot in lots) == [(40, 2), (100, 1)]
    finally:
        engine.dispose()
