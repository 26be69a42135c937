"""What the checkout keeps between orders, and what it reads per order, on both databases.

Each process keeps the program's versions and the campaigns while their stamps stay the same, and reads the stamps
along with the member's account: a version or a campaign published by another process is in force from that
process's next order on, and an order reads nothing but the account and the points it may spend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from loyalty.campaigns import service as campaigns
from loyalty.checkout import service as checkout
from loyalty.checkout.requests import parse_order
from loyalty.storage.database import make_engine
from tests.usecases import MEMBER, NOW, confirm, order, publish, reserve, run, seed_program, violations


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):
            sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def elsewhere(seeded: Engine) -> Iterator[Engine]:
    """Another engine on the same database: what another worker process would write with."""
    other = make_engine(seeded.url.render_as_string(hide_password=False))
    yield other
    other.dispose()


def ten_percent() -> dict[str, Any]:
    document = seed_program()
    document["earning"] = {**document["earning"], "rules": [{"id": "double", "name": "Double", "percent": 10}]}
    return document


@pytest.mark.usefixtures("member")
def test_a_version_published_elsewhere_is_in_force_for_the_next_order(seeded: Engine, elsewhere: Engine) -> None:
    first = confirm(seeded, order("before", ("tv", "2000.00", 1), member=MEMBER), NOW)  # this process keeps v1
    assert (first["program_version"], first["points_to_earn"]) == (1, 100)
    publish(elsewhere, ten_percent(), effective_from=NOW + timedelta(hours=1))

    later = confirm(seeded, order("after", ("tv", "2000.00", 1), member=MEMBER), NOW + timedelta(hours=2))
    assert (later["program_version"], later["points_to_earn"]) == (2, 200)
    # An order that happened before the new version took effect is still priced by the old one.
    back = order("back", ("tv", "2000.00", 1), member=MEMBER, occurred_at=NOW + timedelta(minutes=30))
    earlier = confirm(seeded, back, NOW + timedelta(hours=2))
    assert (earlier["program_version"], earlier["points_to_earn"]) == (1, 100)
    assert violations(seeded) == []


@pytest.mark.usefixtures("member")
def test_a_campaign_created_elsewhere_applies_to_the_next_order(seeded: Engine, elsewhere: Engine) -> None:
    confirm(seeded, order("before", ("tv", "2000.00", 1), member=MEMBER), NOW)  # no campaign yet, and kept so
    campaign = {"id": "double-days", "name": "Double days", "starts_at": (NOW - timedelta(days=1)).isoformat()}
    campaign["earning"] = {"categories": ["goods"], "multiplier": 2}
    run(elsewhere, lambda uow: campaigns.create(uow, campaign, NOW))

    result = confirm(seeded, order("after", ("tv", "2000.00", 1), member=MEMBER), NOW + timedelta(minutes=1))
    assert result["points_to_earn"] == 200
    assert "campaign:double-days" in {e["source"] for e in result["explanation"]}


@pytest.mark.usefixtures("member")
def test_a_new_order_reads_only_the_account_and_its_spendable_points(seeded: Engine) -> None:
    confirm(seeded, order("warm-up", ("tv", "2000.00", 1), member=MEMBER))  # the caches are filled
    with statements(seeded) as sent:
        confirm(seeded, order("steady", ("tv", "2000.00", 1), ("cable", "100.00", 3), member=MEMBER))
    reads = [s for s in sent if s.startswith("SELECT")]
    assert len(reads) == 2, reads
    assert " FROM accounts " in reads[0]
    if seeded.dialect.name == "postgresql":  # SQLite's writer holds the database's lock from BEGIN IMMEDIATE
        assert "FOR UPDATE OF accounts" in reads[0]
    assert "FROM lots" in reads[1]
    writes = [s.split(" (")[0].split(" SET")[0] for s in sent if not s.startswith("SELECT")]
    assert writes == [
        "INSERT INTO orders",
        "INSERT INTO order_lines",
        "INSERT INTO ledger_entries",
        "INSERT INTO lots",
        "UPDATE accounts",
        "INSERT INTO events",  # the outbox, written at commit
    ]


@pytest.mark.usefixtures("member")
def test_only_the_call_that_records_an_order_reports_it_confirmed(seeded: Engine) -> None:
    """What the metrics count: a new order once, a retry never, a reservation when it is confirmed."""
    body = order("counted", ("tv", "2000.00", 1), member=MEMBER)
    reported: list[dict[str, Any]] = []

    def confirm_reporting(uow: Any, payload: dict[str, Any] | None, order_id: str | None = None) -> dict[str, Any]:
        request = parse_order(payload, NOW) if payload is not None else None
        return checkout.confirm(uow, request, NOW, order_key=order_id, confirmed=reported)

    first = run(seeded, lambda uow: confirm_reporting(uow, body))
    assert reported == [first]
    assert run(seeded, lambda uow: confirm_reporting(uow, body)) == first
    assert reported == [first]

    reserved = order("held", ("tv", "2000.00", 1), member=MEMBER, points=100)
    reserve(seeded, reserved)
    by_body = run(seeded, lambda uow: confirm_reporting(uow, reserved))  # the id is taken: by the reservation
    assert by_body["status"] == "confirmed" and by_body["points_applied"] == 100
    assert reported == [first, by_body]
    assert run(seeded, lambda uow: confirm_reporting(uow, None, "held")) == by_body
    assert reported == [first, by_body]
    assert violations(seeded) == []
