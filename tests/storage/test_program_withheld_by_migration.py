"""Migration 0020 marks the orders a program holdout's control group placed before the column existed — told by the
one reason their stored result gives, the experiment's — and no other order, on both databases."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select

from loyalty.storage import tables as t
from loyalty.storage.database import make_engine
from loyalty.storage.migrate import alembic_config, upgrade
from tests.experiments.test_holdouts_outside_checkout import create, join, split
from tests.usecases import confirm, order, publish, read


def test_orders_held_out_of_the_program_before_0020_are_marked(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        publish(engine)
        held, kept = split(join(engine, 8))
        create(engine)  # withholds the program
        create(engine, "no-campaigns", withholds="campaigns", seed=11)
        for member in held + kept:
            confirm(engine, order(f"o-{member}", ("tv", "2000", 1), member={"member_id": member}))
        confirm(engine, order("small", ("pen", "10", 1), member={"member_id": kept[0]}))  # earns 0, not held out
        confirm(engine, order("guest", ("tv", "2000", 1)))

        def marks() -> dict[str, str | None]:
            o = t.orders.c
            return read(engine, lambda uow: dict(uow.conn.execute(select(o.order_key, o.program_withheld_by)).all()))

        expected = marks()
        assert {k for k, v in expected.items() if v} == {f"o-{m}" for m in held}
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0019")
        upgrade(database_url)
        assert marks() == expected
    finally:
        engine.dispose()
