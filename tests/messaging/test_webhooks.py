"""Webhooks end to end on a real HTTP receiver: endpoints, fan-out of the outbox, signed deliveries, retries with
back-off, dead deliveries, replay and claims taken over from a killed worker."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from random import Random
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from loyalty.core.errors import Conflict, InvalidInput
from loyalty.messaging import dispatch, webhooks
from loyalty.messaging.model import RetryPolicy
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from tests.messaging.receiver import Receiver, receiver
from tests.usecases import NOW, read, register, run

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def add_endpoint(engine: Engine, url: str, endpoint_id: str = "crm", **given: Any) -> dict[str, Any]:
    data = webhooks.EndpointInput(url=url, **given)
    return run(engine, lambda uow: webhooks.create(uow, endpoint_id, data, NOW))


def deliver(engine: Engine, client: httpx.Client, at: datetime = NOW, **options: Any) -> dict[str, int]:
    dispatch.fan_out(engine, at)
    return dispatch.deliver(engine, lambda: at, client, Random(7), **options).as_dict()


def log(engine: Engine) -> list[dict[str, Any]]:
    return read(engine, lambda uow: dispatch.deliveries(uow, dispatch.DeliveryFilter()))


def signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    """The Standard Webhooks signature computed here from the specification, not with the library the product uses."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_an_endpoint_secret_is_shown_once_and_never_again(seeded: Engine) -> None:
    created = add_endpoint(seeded, "https://crm.example.com/hooks")
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][6:])) == 32
    assert "secret" not in read(seeded, lambda uow: webhooks.get(uow, "crm"))
    assert all("secret" not in e for e in read(seeded, webhooks.list_endpoints))
    given = add_endpoint(seeded, "https://crm.example.com/hooks", "erp", secret=SECRET)
    assert "secret" not in given  # the caller knows it


@pytest.mark.parametrize(
    ("given", "path", "reason"),
    [
        ({"url": "ftp://crm.example.com/hooks"}, "url", "http"),
        ({"url": "/hooks"}, "url", "absolute"),
        ({"url": "https://user:pw@crm.example.com/"}, "url", "credentials"),
        ({"url": "https://crm.example.com/" + "a" * 2000}, "url", "2000"),
        ({"url": "https://crm.example.com/", "kinds": ["points.earned", "points.stolen"]}, "kinds[1]", "unknown"),
        ({"url": "https://crm.example.com/", "secret": "hunter2"}, "secret", "whsec_"),
        ({"url": "https://crm.example.com/", "secret": "whsec_!!!"}, "secret", "base64"),
        ({"url": "https://crm.example.com/", "secret": "whsec_" + base64.b64encode(b"short").decode()}, "secret", "24"),
    ],
)
def test_a_bad_endpoint_is_refused_naming_the_field(
    seeded: Engine, given: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(seeded, lambda uow: webhooks.create(uow, "crm", webhooks.EndpointInput(**given), NOW))
    assert refused.value.problems[0].path == path
    assert reason in refused.value.problems[0].reason
    assert read(seeded, webhooks.list_endpoints) == []


def test_the_same_endpoint_id_twice_is_a_conflict(seeded: Engine) -> None:
    add_endpoint(seeded, "https://crm.example.com/hooks")
    with pytest.raises(Conflict):
        add_endpoint(seeded, "https://other.example.com/hooks")


def test_events_reach_the_endpoint_signed(seeded: Engine, hook: Receiver, client: httpx.Client) -> None:
    dispatch.fan_out(seeded, NOW)  # the publication of the program, before the endpoint existed
    add_endpoint(seeded, hook.url, secret=SECRET)
    member_id = register(seeded)
    assert deliver(seeded, client) == {
        "claimed": 2,
        "delivered": 2,
        "retrying": 0,
        "dead": 0,
        "skipped": 0,
        "deferred": 0,
    }

    welcome, points = hook.requests
    assert welcome.path == "/hooks/loyalty"
    assert welcome.headers["webhook-signature"] == signature(SECRET, welcome.headers, welcome.body)
    assert welcome.headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    body = json.loads(welcome.body)
    assert body["type"] == "member.registered"
    assert body["data"]["member_id"] == member_id
    assert json.loads(points.body)["data"]["points"] == 500
    assert welcome.headers["webhook-id"] != points.headers["webhook-id"]
    assert {d["status"] for d in log(seeded)} == {"delivered"}

    assert deliver(seeded, client, NOW + timedelta(hours=1))["claimed"] == 0  # nothing is sent twice
    assert len(hook.requests) == 2


def test_an_endpoint_gets_only_the_kinds_it_asked_for(seeded: Engine, hook: Receiver, client: httpx.Client) -> None:
    add_endpoint(seeded, hook.url, kinds=["points.earned"])
    register(seeded)
    deliver(seeded, client)
    assert [json.loads(r.body)["type"] for r in hook.requests] == ["points.earned"]


def test_each_event_is_fanned_out_once(seeded: Engine) -> None:
    add_endpoint(seeded, "https://crm.example.com/hooks")
    register(seeded)
    assert dispatch.fan_out(seeded, NOW) == 3  # the program's publication, the welcome and its points
    assert dispatch.fan_out(seeded, NOW) == 0
    assert len(log(seeded)) == 3


def test_a_failed_delivery_is_retried_after_a_back_off_with_the_same_id_and_body(
    seeded: Engine, hook: Receiver, client: httpx.Client
) -> None:
    add_endpoint(seeded, hook.url, kinds=["member.registered"])
    register(seeded)
    hook.answers = [503, 200]
    assert deliver(seeded, client)["retrying"] == 1
    (pending,) = log(seeded)
    assert pending["status"] == "pending" and pending["status_code"] == 503
    due = datetime.fromisoformat(pending["next_attempt_at"])
    assert NOW + timedelta(seconds=15) <= due <= NOW + timedelta(seconds=30)

    assert deliver(seeded, client, due - timedelta(seconds=1))["claimed"] == 0  # not due yet
    assert deliver(seeded, client, due)["delivered"] == 1
    first, second = hook.requests
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    (done,) = log(seeded)
    entry = read(seeded, lambda uow: dispatch.delivery(uow, done["delivery_id"]))
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in entry["log"]] == [
        (1, "retry", 503),
        (2, "delivered", 200),
    ]


def test_out_of_attempts_a_delivery_is_dead_until_replayed(
    seeded: Engine, hook: Receiver, client: httpx.Client
) -> None:
    add_endpoint(seeded, hook.url, kinds=["member.registered"])
    register(seeded)
    hook.answers = [500]
    policy = RetryPolicy(first_delay=timedelta(seconds=10), max_attempts=3)
    at = NOW
    for _ in range(3):
        deliver(seeded, client, at, policy=policy)
        at += timedelta(minutes=5)
    (dead,) = log(seeded)
    assert (dead["status"], dead["attempts"]) == ("dead", 3)
    assert deliver(seeded, client, at + timedelta(days=1), policy=policy)["claimed"] == 0

    hook.answers = [200]
    replayed = run(seeded, lambda uow: dispatch.replay(uow, dead["delivery_id"], at))
    assert replayed["status"] == "pending"
    assert deliver(seeded, client, at, policy=policy)["delivered"] == 1
    assert len(hook.requests) == 4


def test_410_gone_gives_up_at_once(seeded: Engine, hook: Receiver, client: httpx.Client) -> None:
    add_endpoint(seeded, hook.url, kinds=["member.registered"])
    register(seeded)
    hook.answers = [410]
    assert deliver(seeded, client)["dead"] == 1


def test_an_unreachable_endpoint_is_retried_with_the_reason_logged(seeded: Engine, client: httpx.Client) -> None:
    add_endpoint(seeded, "http://127.0.0.1:9/nobody-listens", kinds=["member.registered"])
    register(seeded)
    assert deliver(seeded, client)["retrying"] == 1
    (pending,) = log(seeded)
    assert pending["status_code"] is None
    assert "Connect" in pending["error"]


def test_a_killed_workers_claim_is_taken_over_after_its_lease(
    seeded: Engine, hook: Receiver, client: httpx.Client
) -> None:
    add_endpoint(seeded, hook.url, kinds=["member.registered"])
    register(seeded)
    dispatch.fan_out(seeded, NOW)
    (lost,) = dispatch.claim(seeded, NOW, 10, timedelta(minutes=1))  # the worker dies before sending
    assert deliver(seeded, client, NOW + timedelta(seconds=59))["claimed"] == 0
    assert deliver(seeded, client, NOW + timedelta(seconds=61))["delivered"] == 1
    (done,) = log(seeded)
    assert done["attempts"] == 2 and done["delivery_id"] == lost.delivery_id
    # The lost worker comes back and records its attempt: the log keeps it, the delivery stays delivered.
    dispatch.record(
        seeded, lost, dispatch.Attempt(False, 5, 500), NOW + timedelta(seconds=62), RetryPolicy(), Random(1)
    )
    assert log(seeded)[0]["status"] == "delivered"


# SQLite has one writer at a time: its workers take turns, and SKIP LOCKED is for PostgreSQL.
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_two_workers_claim_different_deliveries(seeded: Engine) -> None:
    add_endpoint(seeded, "https://crm.example.com/hooks", kinds=["member.registered", "points.earned"])
    for n in range(3):
        register(seeded, phone=f"+7912345670{n}")
    dispatch.fan_out(seeded, NOW)
    with UnitOfWork(seeded) as holding:  # a worker in the middle of its claim holds the first row
        first = holding.conn.execute(
            select(t.deliveries.c.delivery_id).order_by(t.deliveries.c.delivery_id).limit(1).with_for_update()
        ).scalar_one()
        others = dispatch.claim(seeded, NOW, 100, timedelta(minutes=1))
    assert len(others) == 5
    assert first not in {c.delivery_id for c in others}


def test_removing_an_endpoint_gives_up_its_pending_deliveries(seeded: Engine) -> None:
    add_endpoint(seeded, "https://crm.example.com/hooks", kinds=["member.registered", "points.earned"])
    register(seeded)
    dispatch.fan_out(seeded, NOW)
    removed = run(seeded, lambda uow: webhooks.remove(uow, "crm", NOW))
    assert removed["deliveries_given_up"] == 2
    assert {(d["status"], d["error"]) for d in log(seeded)} == {("dead", "endpoint removed")}


def test_a_range_replay_sends_again_what_it_selects(seeded: Engine, hook: Receiver, client: httpx.Client) -> None:
    add_endpoint(seeded, hook.url, kinds=["member.registered", "points.earned"])
    register(seeded)
    deliver(seeded, client)
    where = dispatch.DeliveryFilter(
        target="crm", created_from=NOW - timedelta(hours=1), created_to=NOW + timedelta(hours=1)
    )
    assert run(seeded, lambda uow: dispatch.replay_range(uow, where, NOW + timedelta(hours=2))) == 2
    assert deliver(seeded, client, NOW + timedelta(hours=2))["delivered"] == 2
    assert len(hook.requests) == 4
    with pytest.raises(InvalidInput) as refused:
        run(seeded, lambda uow: dispatch.replay_range(uow, dispatch.DeliveryFilter(target="crm"), NOW))
    assert refused.value.problems[0].path == "from"


def test_the_signature_timestamp_is_the_instant_whatever_its_offset() -> None:
    moscow = datetime.fromisoformat("2026-11-01T15:00:00+03:00")
    headers = webhooks.signed_headers(SECRET, 7, "{}", moscow)
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert headers["webhook-signature"] == signature(SECRET, headers, b"{}")
