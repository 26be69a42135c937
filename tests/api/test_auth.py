"""Authentication and authorisation over HTTP: API keys and their scopes, revocation, member tokens.

The server caches each API key's lookup for 10 seconds (`deps._KEY_CACHE_SECONDS`), so a key revoked after it
was used keeps working for up to 10 seconds. The revocation tests therefore revoke fresh keys that the server
has never seen; waiting out the cache would make the suite slower without testing anything else."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta

import httpx
import pytest

from loyalty.access import service as access
from loyalty.storage.database import UnitOfWork

from .conftest import NOW, SEED_PROGRAM, Api, Server, order_body, state_snapshot

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert str(body["type"]).endswith("/" + kind)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def _routes(member_id: int, other_id: int) -> dict[str, list[tuple[str, str, object]]]:
    """Every route by the scope it needs, each with a body that would succeed."""
    order = order_body("AUTH-1", member_id, ("1", 1, "1000.00"))
    return {
        "checkout": [
            ("POST", "/v1/members", {"card": "auth-card-1"}),
            ("GET", "/v1/members/lookup?card=auth-card-0", None),
            ("GET", f"/v1/members/{member_id}", None),
            ("PATCH", f"/v1/members/{member_id}", {"name": "Renamed"}),
            ("GET", f"/v1/members/{member_id}/balance", None),
            ("GET", f"/v1/members/{member_id}/entries", None),
            ("POST", f"/v1/members/{member_id}/token", {"ttl_seconds": 600}),
            ("POST", "/v1/orders/calculate", order),
            ("POST", "/v1/orders/reserve", {**order, "order_id": "AUTH-R"}),
            ("POST", "/v1/orders/AUTH-R/release", None),
            ("POST", "/v1/orders/confirm", order),
            ("GET", "/v1/orders/AUTH-1", None),
            (
                "POST",
                "/v1/orders/AUTH-1/returns",
                {"return_id": "AUTH-RET", "lines": [{"line_id": "1", "quantity": 1}]},
            ),
            ("POST", "/v1/orders/AUTH-1/cancel", None),
            ("POST", "/v1/events", {"type": "review", "event_id": "auth-ev", "member": {"member_id": other_id}}),
        ],
        "admin": [
            ("POST", "/v1/program/validate", {"document": SEED_PROGRAM}),
            ("GET", "/v1/program/versions", None),
            ("GET", "/v1/program/versions/current", None),
            (
                "POST",
                "/v1/program/versions",
                {"document": {**SEED_PROGRAM, "name": "Auth v2"}, "effective_from": "2026-12-01T00:00:00+03:00"},
            ),
            ("POST", "/v1/jobs/activate", {"as_of": "2026-11-01T00:00:00+03:00"}),
            ("POST", "/v1/jobs/expire", {"as_of": "2026-11-01T00:00:00+03:00"}),
            ("GET", "/v1/audit", None),
            ("POST", f"/v1/members/{member_id}/adjustments", {"points": 10, "operator": "auth", "reason": "test"}),
        ],
    }


def _send(client: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    return client.request(method, path, json=body) if body is not None else client.request(method, path)


@pytest.fixture
def two_members(api: Api) -> tuple[int, int]:
    return api.register(card="auth-card-0", name="Anna"), api.register(card="auth-card-9", name="Boris")


def test_no_key_is_401_with_a_bearer_challenge_and_changes_nothing(
    server: Server, two_members: tuple[int, int]
) -> None:
    member_id, other_id = two_members
    before = state_snapshot(server.engine)
    with server.client() as anonymous:
        for routes in _routes(member_id, other_id).values():
            for method, path, body in routes:
                response = _send(anonymous, method, path, body)
                assert_problem(response, 401, "unauthorized")
                assert response.headers["www-authenticate"] == "Bearer"
        # Other schemes and an empty bearer are no key either.
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Token lk_abc_def", "lk_no_scheme"):
            response = anonymous.get(f"/v1/members/{member_id}", headers={"Authorization": header})
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
    assert state_snapshot(server.engine) == before


UNKNOWN_KEYS = (
    "lk_0000000000000000_unknownsecretunknownsecretunknownsecret",
    "lk_",
    "lk_only-one-part",
    "lk__",
    "not-a-key-at-all",
    "x" * 5000,
)


@pytest.mark.usefixtures("shop")
def test_an_unknown_key_is_401(server: Server) -> None:
    for token in UNKNOWN_KEYS:
        with server.client(token) as client:
            for method, path, body in (
                ("GET", "/v1/program/versions", None),
                ("POST", "/v1/orders/calculate", order_body("U-1", None, ("1", 1, "10.00"))),
                ("GET", "/v1/audit", None),
            ):
                response = _send(client, method, path, body)
                assert_problem(response, 401, "unauthorized")
                assert response.headers["www-authenticate"] == "Bearer"
    # Bytes outside ASCII in a key are an unknown key too.
    with server.client() as client:
        response = client.get("/v1/audit", headers={"Authorization": b"Bearer lk_\xe9_\xe9"})
        assert_problem(response, 401, "unauthorized")


@pytest.mark.usefixtures("shop")
def test_a_key_with_a_known_id_and_a_wrong_secret_is_401(server: Server) -> None:
    key_id = server.admin.split("_")[1]
    with server.client(f"lk_{key_id}_{'A' * 43}") as forged:
        assert_problem(forged.get("/v1/audit"), 401, "unauthorized")


@pytest.mark.usefixtures("shop")
def test_a_revoked_key_is_401(server: Server) -> None:
    """Fresh keys, revoked before the server ever saw them (the server caches a key for 10 s)."""
    now = server.clock()
    with UnitOfWork(server.engine) as uow:
        revoked_admin, admin_secret = access.create_key(uow, "to revoke", "admin", now)
        revoked_checkout, checkout_secret = access.create_key(uow, "to revoke too", "checkout", now)
        _, kept_secret = access.create_key(uow, "kept", "checkout", now)
        uow.commit()
    with UnitOfWork(server.engine) as uow:
        assert access.revoke_key(uow, revoked_admin.key_id, now)
        assert access.revoke_key(uow, revoked_checkout.key_id, now)
        assert not access.revoke_key(uow, revoked_checkout.key_id, now)  # revoking twice changes nothing
        uow.commit()
    with server.client(admin_secret) as client:
        assert_problem(client.get("/v1/audit"), 401, "unauthorized")
        assert_problem(client.get("/v1/program/versions"), 401, "unauthorized")
    with server.client(checkout_secret) as client:
        response = client.post("/v1/orders/calculate", json=order_body("REV-1", None, ("1", 1, "10.00")))
        assert_problem(response, 401, "unauthorized")
    with server.client(kept_secret) as client:  # a key created with them still works
        assert client.post("/v1/orders/calculate", json=order_body("REV-2", None, ("1", 1, "10.00"))).status_code == 200


@pytest.mark.usefixtures("shop")
def test_the_key_may_come_in_x_api_key(server: Server) -> None:
    with server.client() as client:
        assert client.get("/v1/program/versions", headers={"X-API-Key": server.admin}).status_code == 200
        assert_problem(client.get("/v1/audit", headers={"X-API-Key": server.checkout}), 403, "forbidden")


def test_a_checkout_key_is_refused_on_admin_routes(
    server: Server, shop: httpx.Client, two_members: tuple[int, int]
) -> None:
    member_id, other_id = two_members
    before = state_snapshot(server.engine)
    for method, path, body in _routes(member_id, other_id)["admin"]:
        body_ = assert_problem(_send(shop, method, path, body), 403, "forbidden")
        assert "admin" in str(body_["detail"])
    assert state_snapshot(server.engine) == before
    with server.client(server.admin) as admin:
        assert len(admin.get("/v1/program/versions").json()) == 1


@pytest.mark.usefixtures("shop")
def test_an_analytics_key_is_refused_on_checkout_and_admin_routes(server: Server, two_members: tuple[int, int]) -> None:
    member_id, other_id = two_members
    before = state_snapshot(server.engine)
    with server.client(server.analytics) as analytics:
        for routes in _routes(member_id, other_id).values():
            for method, path, body in routes:
                assert_problem(_send(analytics, method, path, body), 403, "forbidden")
    assert state_snapshot(server.engine) == before


@pytest.mark.usefixtures("shop")
def test_an_admin_key_works_everywhere(admin: httpx.Client, two_members: tuple[int, int]) -> None:
    member_id, other_id = two_members
    routes = _routes(member_id, other_id)
    for method, path, body in routes["checkout"] + routes["admin"]:
        response = _send(admin, method, path, body)
        assert response.status_code in (200, 201), (method, path, response.text)
    assert admin.get("/v1/audit").json()["ok"] is True


def _token(shop: httpx.Client, member_id: int, ttl: int | None = None) -> str:
    response = shop.post(f"/v1/members/{member_id}/token", json={"ttl_seconds": ttl} if ttl else None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"].startswith("mt_")
    expires = datetime.fromisoformat(body["expires_at"])
    expected = NOW + timedelta(seconds=ttl or 3600)
    assert abs((expires - expected).total_seconds()) < 60
    return str(body["token"])


def test_a_member_token_reads_only_its_own_member(
    server: Server, shop: httpx.Client, two_members: tuple[int, int]
) -> None:
    member_id, other_id = two_members
    token = _token(shop, member_id)
    with server.client(token) as member:
        profile = member.get(f"/v1/members/{member_id}")
        assert profile.status_code == 200, profile.text
        assert profile.json() == shop.get(f"/v1/members/{member_id}").json()
        balance = member.get(f"/v1/members/{member_id}/balance")
        assert balance.status_code == 200
        assert balance.json()["available"] == 500
        entries = member.get(f"/v1/members/{member_id}/entries")
        assert entries.status_code == 200
        assert [e["kind"] for e in entries.json()["entries"]] == ["action"]
        for path in (f"/v1/members/{other_id}", f"/v1/members/{other_id}/balance", f"/v1/members/{other_id}/entries"):
            assert_problem(member.get(path), 403, "forbidden")
        # A member that does not exist is not the token's member either.
        assert_problem(member.get("/v1/members/999999"), 403, "forbidden")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL has no database-wide write lock
def test_a_member_token_read_does_not_wait_for_a_writer(
    server: Server, shop: httpx.Client, two_members: tuple[int, int], database_url: str
) -> None:
    """SQLite lets one writer at a time hold the write lock, and readers read alongside it: a token's read must
    answer while another connection holds that lock, as a key's read does."""
    member_id, _ = two_members
    token = _token(shop, member_id)
    answers: dict[str, httpx.Response | Exception] = {}
    answered = threading.Event()

    def read() -> None:
        for caller in (token, server.checkout):
            try:
                with server.client(caller) as client:
                    answers[caller[:3]] = client.get(f"/v1/members/{member_id}/balance")
            except Exception as error:  # reported by the assertions below
                answers[caller[:3]] = error
        answered.set()

    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    reader = threading.Thread(target=read, daemon=True)
    try:
        reader.start()
        # A read that waited for the lock would wait the busy timeout (60 s): far longer than this bound.
        answered_while_locked = answered.wait(timeout=20)
        assert writer.in_transaction  # still held when the answers came
    finally:
        writer.rollback()
        writer.close()
    reader.join(timeout=90)
    assert answered_while_locked, answers
    for caller in ("mt_", "lk_"):
        response = answers[caller]
        assert isinstance(response, httpx.Response), response
        assert (response.status_code, response.json()["available"]) == (200, 500), response.text


def test_a_member_token_is_refused_on_every_other_route(
    server: Server, shop: httpx.Client, two_members: tuple[int, int]
) -> None:
    member_id, other_id = two_members
    token = _token(shop, member_id, ttl=600)
    before = state_snapshot(server.engine)
    with server.client(token) as member:
        for routes in _routes(member_id, other_id).values():
            for method, path, body in routes:
                if method == "GET" and path.startswith(f"/v1/members/{member_id}"):
                    continue  # the three routes a token may read
                response = _send(member, method, path, body)
                assert response.status_code in (401, 403), (method, path, response.text)
                assert response.headers["content-type"].startswith(PROBLEM)
    assert state_snapshot(server.engine) == before


def _secret(server: Server) -> bytes:
    with UnitOfWork(server.engine) as uow:
        secret = access.signing_secret(uow)
        uow.commit()
    return secret


def test_an_expired_or_tampered_token_is_401(server: Server, shop: httpx.Client, two_members: tuple[int, int]) -> None:
    member_id, other_id = two_members
    good = _token(shop, member_id)
    secret = _secret(server)
    member_part, expiry, signature = good[3:].split(".")
    expired, _ = access.member_token(secret, member_id, server.clock() - timedelta(hours=2), timedelta(hours=1))
    just_expired, _ = access.member_token(
        secret, member_id, server.clock() - timedelta(seconds=61), timedelta(seconds=60)
    )
    foreign, _ = access.member_token(b"another installation", member_id, server.clock(), timedelta(hours=1))
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    bad_tokens = [
        expired,
        just_expired,
        foreign,
        f"mt_{other_id}.{expiry}.{signature}",  # another member, the same signature
        f"mt_{member_part}.{int(expiry) + 86400}.{signature}",  # a later expiry
        f"mt_{member_part}.{expiry}.{flipped}",
        f"mt_{member_part}.{expiry}.",
        f"mt_{member_part}.{expiry}",
        f"mt_{member_part}.{expiry}.{signature}.extra",
        f"mt_-{member_part}.{expiry}.{signature}",
        "mt_",
        "mt_..",
        "mt_abc.def.ghi",
        "mt_" + "9" * 400 + "." + "9" * 400 + ".x",
    ]
    with server.client() as client:
        for token in bad_tokens:
            for path in (f"/v1/members/{member_id}", f"/v1/members/{member_id}/balance"):
                response = client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert_problem(response, 401, "unauthorized")
                assert response.headers["www-authenticate"] == "Bearer"
        # Bytes outside ASCII in a header (latin-1 on the wire) are a bad token, not a server error.
        for raw in (good[:-1].encode() + b"\xe9", b"mt_\xb2.\xb2." + signature.encode(), b"mt_1.2.\xff\xfe"):
            response = client.get(f"/v1/members/{member_id}", headers={"Authorization": b"Bearer " + raw})
            assert_problem(response, 401, "unauthorized")
        # The good token still works: none of the above changed anything.
        assert client.get(f"/v1/members/{member_id}", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_token_requests_are_checked(shop: httpx.Client, two_members: tuple[int, int]) -> None:
    member_id, _ = two_members
    for body in ({"ttl_seconds": 59}, {"ttl_seconds": 31 * 24 * 3600}, {"ttl_seconds": "long"}, {"ttl": 60}):
        response = shop.post(f"/v1/members/{member_id}/token", json=body)
        body_ = assert_problem(response, 422, "invalid-input")
        assert body_["errors"]
    assert_problem(shop.post("/v1/members/999999/token"), 404, "not-found")


def test_metrics_answer_an_analytics_key_or_the_scrapers_token_only(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metrics carry business totals (orders confirmed, points issued and spent): not for anyone who asks."""
    scraper_token = "prometheus-" + "s" * 40
    monkeypatch.setenv("LOYALTY_METRICS_TOKEN", scraper_token)
    for credential in (None, "not-the-token", "lk_0000000000000000_unknown"):
        with server.client(credential) as stranger:
            body = assert_problem(stranger.get("/metrics"), 401, "unauthorized")
            assert "loyalty_points_issued_total" not in str(body)
    with server.client(server.checkout) as till:
        assert_problem(till.get("/metrics"), 403, "forbidden")
    for credential in (server.analytics, server.admin, scraper_token):
        with server.client(credential) as reader:
            response = reader.get("/metrics")
            assert response.status_code == 200, response.text
            assert "loyalty_points_issued_total" in response.text
    monkeypatch.delenv("LOYALTY_METRICS_TOKEN")
    with server.client(scraper_token) as former_scraper:  # a token the operator withdrew no longer works
        assert_problem(former_scraper.get("/metrics"), 401, "unauthorized")
