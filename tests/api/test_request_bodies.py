"""Request bodies over real HTTP: a caller without a valid key is refused before the body is read, a body over
LOYALTY_MAX_BODY_BYTES is refused (by its Content-Length before reading, a chunked one while it streams), every
JSON body is parsed once, refusing a key given twice (naming its path) and nesting deeper than the documented
limit, and the server stays healthy throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from loyalty.core import limits
from loyalty.http.app import create_app

from .conftest import SEED_PROGRAM, Clock, Server, serve, state_snapshot
from .live import exchange

PROBLEM = "application/problem+json"
FIFTY_MB = 50 * 1024 * 1024


def head(path: str, key: str | None, **headers: str | int) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        part = data[start : start + size]
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


def endless(size: int = 256 * 1024) -> Iterator[bytes]:
    """Chunks of white space, up to 50 MB: more than any limit."""
    chunk = f"{size:x}\r\n".encode() + b" " * size + b"\r\n"
    for _ in range(FIFTY_MB // size):
        yield chunk


def problem_of(status: int, body: bytes) -> dict[str, Any]:
    problem: dict[str, Any] = json.loads(body)
    assert problem["status"] == status, problem
    return problem


def healthy(server_url: str, key: str) -> None:
    with httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {key}"}) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        valid = client.post("/v1/program/validate", json={"document": SEED_PROGRAM})
        assert valid.status_code == 200, valid.text


def test_a_caller_without_a_valid_key_is_refused_before_the_body_is_read(server: Server) -> None:
    before = state_snapshot(server.engine)
    # 50 MB announced, one kilobyte sent: the answer comes without the rest, so the body was not waited for.
    for key, reason in ((None, "send an API key"), ("lk_0000000000000000_unknown", "unknown or revoked")):
        answer = exchange(server.url, head("/v1/members", key, content_length=FIFTY_MB), [b"{" + b" " * 1023])
        assert answer.status == 401, answer
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert reason in problem_of(401, answer.body)["detail"]
        assert answer.headers.get("connection") == "close"
        # Streamed in chunks, the same: refused after the first chunk, long before 50 MB.
        streamed = exchange(server.url, head("/v1/members", key, transfer_encoding="chunked"), endless())
        assert streamed.status == 401, streamed
        assert streamed.sent < FIFTY_MB // 4
    # A member token is no key for a route that takes a body.
    answer = exchange(server.url, head("/v1/members", "mt_1.1.x", content_length=2), [b"{}"])
    assert answer.status == 401
    assert state_snapshot(server.engine) == before
    healthy(server.url, server.admin)


def test_a_body_over_the_limit_is_refused_by_its_length_before_it_is_read(server: Server) -> None:
    answer = exchange(server.url, head("/v1/program/validate", server.admin, content_length=FIFTY_MB), [b"{"])
    assert answer.status == 413, answer
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert problem_of(413, answer.body)["type"].endswith("/body-too-large")
    streamed = exchange(server.url, head("/v1/program/validate", server.admin, transfer_encoding="chunked"), endless())
    assert streamed.status == 413, streamed
    assert streamed.sent < FIFTY_MB // 4
    healthy(server.url, server.admin)


@pytest.fixture
def small_limit(engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server whose bodies may have at most 4096 bytes (LOYALTY_MAX_BODY_BYTES)."""
    monkeypatch.setenv("LOYALTY_MAX_BODY_BYTES", "4096")
    with serve(create_app(engine, clock)) as url:
        yield url


def test_the_limit_is_configurable_and_a_body_at_it_is_read(server: Server, small_limit: str) -> None:
    at_limit = json.dumps({"card": "at-the-limit", "name": "Anna"}).encode()
    at_limit += b" " * (4096 - len(at_limit))  # JSON may end in white space
    over = at_limit + b" "
    admitted = exchange(small_limit, head("/v1/members", server.checkout, content_length=4096), [at_limit])
    assert admitted.status == 201, admitted
    refused = exchange(small_limit, head("/v1/members", server.checkout, content_length=4097), [over])
    assert refused.status == 413, refused
    assert "4096 bytes" in problem_of(413, refused.body)["detail"]
    # Chunked bodies are counted as they arrive: the same two bodies, in chunks of 1000 bytes.
    card = json.dumps({"card": "chunked-at-the-limit"}).encode()
    card += b" " * (4096 - len(card))
    chunks = exchange(
        small_limit, head("/v1/members", server.checkout, transfer_encoding="chunked"), chunked(card, 1000)
    )
    assert chunks.status == 201, chunks
    too_many = exchange(
        small_limit, head("/v1/members", server.checkout, transfer_encoding="chunked"), chunked(card + b" ", 1000)
    )
    assert too_many.status == 413, too_many
    with httpx.Client(base_url=small_limit, headers={"Authorization": f"Bearer {server.checkout}"}) as client:
        cards = {
            client.get("/v1/members/lookup", params={"card": c}).status_code
            for c in ("at-the-limit", "chunked-at-the-limit")
        }
        assert cards == {200}
    healthy(small_limit, server.admin)


def send(client: httpx.Client, path: str, raw: str) -> httpx.Response:
    return client.post(path, content=raw.encode(), headers={"Content-Type": "application/json"})


def test_a_key_given_twice_is_refused_naming_its_path(server: Server, admin: httpx.Client) -> None:
    assert (
        admin.post(
            "/v1/program/versions", json={"document": SEED_PROGRAM, "effective_from": "2020-01-01T00:00:00Z"}
        ).status_code
        == 201
    )
    checkout = server.client(server.checkout)
    member = checkout.post("/v1/members", json={"card": "C-1"}).json()["member_id"]
    before = state_snapshot(server.engine)
    line = '{"sku": "coat", "price": "100.00", "price": "1.00"}'
    cases = [
        (
            checkout,
            "/v1/orders/confirm",
            '{"order_id": "A", "order_id": "B", "lines": [{"sku": "coat", "price": "1.00"}]}',
            {"order_id"},
        ),
        (
            checkout,
            "/v1/orders/confirm",
            f'{{"order_id": "A", "member": {{"card": "C-1"}}, "lines": [{line}]}}',
            {"lines[0].price"},
        ),
        (
            checkout,
            "/v1/orders/confirm",
            '{"order_id": "A", "member": {"card": "C-1", "card": "C-2"}, "lines": []}',
            {"member.card"},
        ),
        (checkout, "/v1/members", '{"card": "C-9", "name": "A", "name": "B", "card": "C-8"}', {"card", "name"}),
        (
            checkout,
            "/v1/events",
            '{"type": "review", "type": "registration", "event_id": "e", "member": {"card": "C-1"}}',
            {"type"},
        ),
        (
            admin,
            f"/v1/members/{member}/adjustments",
            '{"points": 1, "points": 1000000, "operator": "o", "reason": "r"}',
            {"points"},
        ),
        (
            admin,
            "/v1/program/versions",
            '{"document": {"name": "P", "earning": {"rules": [{"id": "b", "percent": 1, "percent": 99}]}}}',
            {"document.earning.rules[0].percent"},
        ),
        (
            admin,
            "/v1/segments",
            '{"segment_id": "s", "name": "S", "conditions": [{"gender": "male", "gender": "female"}]}',
            {"conditions[0].gender"},
        ),
    ]
    failures = []
    for client, path, raw, paths in cases:
        response = send(client, path, raw)
        named = {e["path"] for e in response.json().get("errors", [])} if response.status_code == 422 else set()
        if response.status_code != 422 or named != paths or not response.headers["content-type"].startswith(PROBLEM):
            failures.append(f"{path} {raw}: {response.status_code} {response.text[:300]}")
        elif not all(e["reason"] == "is given more than once" for e in response.json()["errors"]):
            failures.append(f"{path}: {response.json()['errors']}")
    checkout.close()
    assert not failures, "\n".join(failures)
    assert state_snapshot(server.engine) == before


def nested(depth: int) -> str:
    """A program document whose `earning` holds lists nested `depth` levels deep."""
    return json.dumps({"document": {**SEED_PROGRAM, "earning": "X"}}).replace('"X"', "[" * depth + "]" * depth)


def test_nesting_is_bounded_and_a_program_document_is_parsed_once(server: Server, admin: httpx.Client) -> None:
    # The body is {"document": {"earning": [[...]]}}: two levels of objects, then the lists. At the bound, the
    # program's own validation answers; one level more, the door does.
    at_bound = send(admin, "/v1/program/validate", nested(limits.MAX_DEPTH - 2))
    assert at_bound.status_code == 422, at_bound.text
    assert [e["path"] for e in at_bound.json()["errors"]] == ["earning"]
    too_deep = send(admin, "/v1/program/validate", nested(limits.MAX_DEPTH - 1))
    assert too_deep.status_code == 422, too_deep.text
    assert too_deep.json()["errors"] == [
        {"path": "body", "reason": f"nests more than {limits.MAX_DEPTH} levels of objects and lists"}
    ]
    for depth in (600, 100_000):
        response = send(admin, "/v1/program/versions", nested(depth))
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["path"] == "body"
    # A name of three megabytes is refused at once, not worked through.
    huge = admin.post("/v1/program/validate", json={"document": {**SEED_PROGRAM, "name": "N" * 3_000_000}})
    assert huge.status_code == 422, huge.text[:300]
    assert [e["path"] for e in huge.json()["errors"]] == ["name"]
    healthy(server.url, server.admin)
