"""What callers name things by, over HTTP on both databases: an order id can always be sent back in a URL, and a
member's email, card or external id names one member however it is typed — NFC or NFD, fullwidth or not — while
invisible characters and look-alike letters of another script are refused rather than make a second member."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from .conftest import Api, Server, order_body, state_snapshot

PROBLEM = "application/problem+json"


def refused(response: httpx.Response, path: str, *words: str) -> str:
    """The reason a 422 gives for `path`, checked to contain each of `words`."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    reasons = [e["reason"] for e in response.json()["errors"] if e["path"] == path]
    assert reasons, response.text
    for word in words:
        assert word in reasons[0], reasons[0]
    return str(reasons[0])


def lookup(shop: httpx.Client, **query: str) -> httpx.Response:
    return shop.get("/v1/members/lookup", params=query)


def test_an_order_id_of_every_allowed_character_is_read_returned_and_cancelled(api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79120000101")
    order_id = "Ord-2026_11.a:b#7"
    confirmed = api.confirm(order_body(order_id, member_id, ("1", 2, "1000.00")))
    path = f"/v1/orders/{quote(order_id, safe='')}"
    read = shop.get(path)
    assert (read.status_code, read.json()["order_id"]) == (200, order_id), read.text
    assert read.json()["result"]["points_to_earn"] == confirmed["points_to_earn"] == 100
    returned = shop.post(f"{path}/returns", json={"return_id": "R:1#a", "lines": [{"line_id": "1", "quantity": 1}]})
    assert (returned.status_code, returned.json()["points_taken_back"]) == (201, 50), returned.text
    cancelled = shop.post(f"{path}/cancel")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled"), cancelled.text


def test_an_order_id_with_a_slash_is_refused_at_confirm(server: Server, api: Api, shop: httpx.Client) -> None:
    """A '/' splits the URL path, so such an order could never be read, returned or cancelled: it is refused
    when it comes in, saying why, and nothing is written."""
    member_id = api.register(phone="+79120000102")
    before = state_snapshot(server.engine)
    for route in ("calculate", "reserve", "confirm"):
        body = order_body("ORD-2026/11", member_id, ("1", 1, "1000.00"))
        refused(shop.post(f"/v1/orders/{route}", json=body), "order_id", "must not contain '/'", "URL")
    assert state_snapshot(server.engine) == before


NFC = unicodedata.normalize("NFC", "zoë.müller@example.com")
NFD = unicodedata.normalize("NFD", NFC)


def test_an_email_in_nfc_and_in_nfd_is_one_member(server: Server, api: Api, shop: httpx.Client) -> None:
    assert NFC != NFD
    member_id = api.register(email=NFC)
    before = state_snapshot(server.engine)
    again = shop.post("/v1/members", json={"email": NFD})
    assert again.status_code == 409, again.text
    assert state_snapshot(server.engine) == before
    assert lookup(shop, email=NFD).json()["member_id"] == member_id
    assert api.confirm(order_body("NFD-1", None, ("1", 1, "1000.00"), member={"email": NFD}))["member_id"] == member_id
    # Registered the other way round, the stored form is the same.
    other = api.register(email=unicodedata.normalize("NFD", "anaïs@example.com"))
    assert shop.get(f"/v1/members/{other}").json()["identifiers"]["email"] == "anaïs@example.com"


@pytest.mark.parametrize(
    ("kind", "plain", "fullwidth"),
    [
        ("email", "anna@example.com", "ＡＮＮＡ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
        ("card", "CARD-0042", "ＣＡＲＤ－００４２"),
        ("external_id", "crm-77", "ｃｒｍ－７７"),
    ],
)
def test_a_fullwidth_identifier_names_the_same_member(
    server: Server, api: Api, shop: httpx.Client, kind: str, plain: str, fullwidth: str
) -> None:
    member_id = api.register(**{kind: plain})
    before = state_snapshot(server.engine)
    again = shop.post("/v1/members", json={kind: fullwidth})
    assert again.status_code == 409, again.text
    assert state_snapshot(server.engine) == before
    found = lookup(shop, **{kind: fullwidth})
    assert (found.status_code, found.json()["member_id"]) == (200, member_id), found.text


INVISIBLE = [
    ("email", "an\u200bna@example.com"),  # zero-width space
    ("email", "anna@exam\u00adple.com"),  # soft hyphen
    ("card", "CARD\u200d0042"),  # zero-width joiner
    ("card", "CARD-00\u202842"),  # line separator
    ("external_id", "\ufeffcrm-77"),  # byte-order mark
    ("external_id", "crm\x07-77"),  # a control character
]


def test_identifiers_with_invisible_characters_are_refused(server: Server, api: Api, shop: httpx.Client) -> None:
    api.register(email="anna@example.com", card="CARD-0042", external_id="crm-77")
    before = state_snapshot(server.engine)
    for kind, value in INVISIBLE:
        refused(shop.post("/v1/members", json={kind: value}), kind, "invisible")
        refused(lookup(shop, **{kind: value}), kind, "invisible")
        order = order_body("INV-1", None, ("1", 1, "1000.00"), member={kind: value})
        refused(shop.post("/v1/orders/confirm", json=order), f"member.{kind}", "invisible")
    assert state_snapshot(server.engine) == before


LOOK_ALIKES = [
    ("email", "аnna@example.com", "Cyrillic and Latin"),  # Cyrillic а
    ("email", "anna@exаmple.com", "Cyrillic and Latin"),  # in the domain
    ("email", "anna@examρle.com", "Greek and Latin"),  # Greek rho
    ("card", "СARD-0042", "Cyrillic and Latin"),  # Cyrillic С
    ("external_id", "crm-77-ο", "Greek and Latin"),  # Greek omicron
]


def test_look_alike_letters_of_another_script_are_refused(server: Server, api: Api, shop: httpx.Client) -> None:
    api.register(email="anna@example.com", card="CARD-0042", external_id="crm-77-o")
    before = state_snapshot(server.engine)
    for kind, value, scripts in LOOK_ALIKES:
        reason = refused(shop.post("/v1/members", json={kind: value}), kind, scripts, "one script")
        assert "U+" in reason  # names the odd letter
        refused(lookup(shop, **{kind: value}), kind, scripts)
    assert state_snapshot(server.engine) == before
    # One script throughout is fine, whichever it is, and so is a Latin address at a Cyrillic domain.
    for fields in ({"email": "анна@пример.рф"}, {"email": "anna@почта.рф"}, {"card": "КАРТА-0042"}):
        created = shop.post("/v1/members", json=fields)
        assert created.status_code == 201, created.text


def _email_of_length(total: int, local: str) -> str:
    domain = "@" + "d" * (total - len(local) - 5) + ".com"
    return local + domain


def test_an_email_is_measured_in_its_canonical_form(server: Server, api: Api, shop: httpx.Client) -> None:
    """'İ' lower-cases to two characters: an address that fits as sent but not once case-folded is refused, not
    a database error (PostgreSQL's column would overflow), and one that fits exactly is stored and found."""
    longest = _email_of_length(200, "anna")
    member_id = api.register(email=longest.upper())
    assert shop.get(f"/v1/members/{member_id}").json()["identifiers"]["email"] == longest
    assert lookup(shop, email=longest).json()["member_id"] == member_id

    growing = _email_of_length(190, "İ" * 20)
    assert len(growing) <= 200 < len(growing.casefold())
    before = state_snapshot(server.engine)
    refused(shop.post("/v1/members", json={"email": growing}), "email", "at most 200")
    refused(lookup(shop, email=growing), "email", "at most 200")
    assert state_snapshot(server.engine) == before
    fits = _email_of_length(195, "İ" * 5 + "a")  # 200 characters once folded
    assert len(fits.casefold()) == 200
    created = shop.post("/v1/members", json={"email": fits})
    assert created.status_code == 201, created.text


def test_events_name_members_by_the_same_rules(api: Api, shop: httpx.Client) -> None:
    member_id = api.register(card="CARD-0077")
    event: dict[str, Any] = {"type": "review", "event_id": "ev-fw-1", "member": {"card": "ＣＡＲＤ－００７７"}}
    granted = shop.post("/v1/events", json=event)
    assert (granted.status_code, granted.json()["member_id"]) == (201, member_id), granted.text
    bad = shop.post("/v1/events", json={**event, "event_id": "ev-fw-2", "member": {"card": "CARD\u200b0077"}})
    refused(bad, "member.card", "invisible")
