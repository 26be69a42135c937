"""Reading an order: one model for every door (HTTP bodies, the Python API, imports), every problem at once with
its dotted path, the instant's rule, the program's limits on money, and the request an order keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

import pytest

from loyalty.checkout.requests import Cart, LineInput, Order, OrderRequest, parse_order
from loyalty.core.errors import InvalidInput
from loyalty.program.document import parse_program
from loyalty.program.model import Program

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
MOSCOW = timezone(timedelta(hours=3))


def program(currency: str = "RUB") -> Program:
    return parse_program({"name": "p", "currency": currency, "earning": {"rules": [{"id": "base", "percent": 5}]}})


def line(**changes: Any) -> dict[str, Any]:
    return {"line_id": "1", "sku": "coat", "category": "clothes", "quantity": 1, "price": "1500.00", **changes}


def body(**changes: Any) -> dict[str, Any]:
    return {"order_id": "A-1", "member": {"phone": "+79123456789"}, "lines": [line()], **changes}


def problems(data: object, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as error:
        parse_order(data, NOW, **kwargs)
    return [(p.path, p.reason) for p in error.value.problems]


def test_every_problem_of_an_order_is_reported_at_once_with_its_path_and_reason() -> None:
    bad = {
        "order_id": "A/1",
        "member": {"phone": "+79123456789", "card": "C-1"},
        "occurred_at": "2026-11-19T12:00:00",
        "points": -1,
        "lines": [line(), line(line_id="2", sku="", quantity=0, price=1500, discount="-1"), line(price="1e5")],
        "channel": "c" * 51,
        "coupon": "SALE",
    }
    assert problems(bad) == [
        ("order_id", "must not contain '/': the order id is part of a URL path; must start with a letter or digit "
         "and hold only the ASCII letters, digits and _ . : # -"),
        ("member", "must name the member by one of member_id, phone, email, card, external_id"),
        ("occurred_at", "a date-time must carry its time zone offset, such as +03:00 or Z (or give a bare date)"),
        ("points", "Input should be greater than or equal to 0"),
        ("lines[1].sku", "String should have at least 1 character"),
        ("lines[1].quantity", "Input should be greater than or equal to 1"),
        ("lines[1].price", 'must be a decimal string such as "1000.50", not a JSON number'),
        ("lines[1].discount", "must not be negative"),
        ("lines[2].price", "'1e5' is not a decimal string such as \"1000.50\""),
        ("channel", "String should have at most 50 characters"),
        ("coupon", "is not a known field"),
    ]  # fmt: skip


def test_the_python_api_and_the_http_body_are_one_model() -> None:
    """parse_order is the model FastAPI validates bodies with, and the same conversion."""
    data = body(occurred_at="2026-11-19T10:00:00Z", discount="10", channel=" web ")
    assert parse_order(data, NOW) == Order.model_validate(data).request(NOW)
    cart = {k: v for k, v in data.items() if k != "order_id"}
    assert parse_order(cart, NOW, quote_only=True) == Cart.model_validate(cart).request(NOW)
    assert problems(cart) == [("order_id", "is required")]


def test_a_request_holds_domain_values() -> None:
    data = body(
        occurred_at="2026-11-19T10:00:00Z",
        lines=[line(line_id=None, sku=" coat ", category="", discount="5.5"), line(line_id=None, price="20")],
        points=100,
        discount="1.25",
        store="",
    )
    request = parse_order(data, NOW)
    assert request == OrderRequest(
        "A-1",
        {"phone": "+79123456789"},
        datetime(2026, 11, 19, 10, tzinfo=UTC),
        (
            LineInput("1", "coat", None, 1, Decimal("1500.00"), Decimal("5.5")),
            LineInput("2", "coat", "clothes", 1, Decimal("20"), Decimal(0)),
        ),
        100,
        None,
        None,
        Decimal("1.25"),
        True,
    )


def test_a_bare_date_is_the_start_of_that_day_in_the_program_time_zone_asked_only_then() -> None:
    asked: list[int] = []

    def zone() -> tzinfo:
        asked.append(1)
        return MOSCOW

    assert parse_order(body(occurred_at="2026-11-19T10:00:00+05:00"), NOW, zone=zone).occurred_at == datetime(
        2026, 11, 19, 5, tzinfo=UTC
    )
    assert parse_order(body(), NOW, zone=zone).occurred_at == NOW
    assert asked == []
    request = parse_order(body(occurred_at="2026-11-19"), NOW, zone=zone)
    assert (request.occurred_at, request.occurred_at_given) == (datetime(2026, 11, 19, tzinfo=MOSCOW), True)
    assert asked == [1]


@pytest.mark.parametrize(
    ("occurred_at", "reason"),
    [
        ("2026-11-21", "is in the future (now is 2026-11-20T12:00:00+00:00)"),
        ("2026-11-20T12:06:00Z", "is in the future (now is 2026-11-20T12:00:00+00:00)"),
        ("1900-01-01", "must be between 1900 and 2999"),  # its start in Moscow is still in 1899 in UTC
        ("0001-01-01T00:00:00+14:00", "must be between 1900 and 2999"),
        ("2026-02-30", "'2026-02-30' is not an ISO 8601 date-time with an offset, such as 2026-11-23T12:00:00+03:00, "
         "or a date such as 2026-11-23"),
        (1795000000, "must be an ISO 8601 date-time with an offset, such as 2026-11-23T12:00:00+03:00, or a date such "
         "as 2026-11-23"),
    ],
)  # fmt: skip
def test_an_instant_is_read_by_the_rule_of_every_door(occurred_at: object, reason: str) -> None:
    assert problems(body(occurred_at=occurred_at), zone=MOSCOW) == [("occurred_at", reason)]


def test_the_body_as_sent_is_what_an_idempotency_key_fingerprints() -> None:
    """The model reads the instant once but dumps the text as sent, so a body's fingerprint does not change."""
    data = body(occurred_at="2026-11-19T10:00Z")
    assert Order.model_validate(data).as_dict() == {**data, "points": 0, "lines": [line()]}
    assert Order.model_validate(data).model_dump()["occurred_at"] == "2026-11-19T10:00Z"


@pytest.mark.parametrize(
    ("currency", "lines", "path", "reason"),
    [
        ("RUB", [line(price="10.005")], "lines[0].price", "10.005 has more than 2 decimal places"),
        ("JPY", [line(price="10.5")], "lines[0].price", "10.5 has more than 0 decimal places"),
        ("RUB", [line(discount="0.001")], "lines[0].discount", "0.001 has more than 2 decimal places"),
        (
            "RUB",
            [line(quantity=1_000_000, price="9999999999999.99")],
            "lines[0]",
            "the line amount (quantity × price) must be less than 10000000000000.00 RUB",
        ),
        ("KWD", [line(price="1000000000000")], "lines[0].price", "1000000000000 is too large"),
    ],
)
def test_money_is_checked_against_the_program_currency(
    currency: str, lines: list[dict[str, Any]], path: str, reason: str
) -> None:
    request = parse_order(body(lines=lines), NOW)
    with pytest.raises(InvalidInput) as error:
        request.cart(program(currency))
    assert [(p.path, p.reason) for p in error.value.problems] == [(path, reason)]


def test_a_kept_request_reads_back_as_it_was() -> None:
    request = parse_order(
        body(occurred_at="2026-11-19", lines=[line(discount="5"), line(line_id="2", category=None)], discount="1"),
        NOW,
        zone=MOSCOW,
    )
    assert OrderRequest.from_json("A-1", request.as_json()) == request
    unsent = parse_order(body(), NOW)
    assert OrderRequest.from_json("A-1", unsent.as_json()).occurred_at_given is False


def test_a_request_kept_before_the_model_read_every_order_still_reads() -> None:
    """The Python API once kept amounts as it was given them, spaces included, and no occurred_at_given flag."""
    kept = {
        "member": {"card": "C-1"},
        "occurred_at": "2026-11-19T10:00:00+00:00",
        "points": 0,
        "channel": None,
        "store": None,
        "discount": "0",
        "lines": [{"line_id": "1", "sku": "tv", "category": None, "quantity": 1, "price": "1 000.00", "discount": "0"}],
    }
    request = OrderRequest.from_json("OLD-1", kept)
    assert (request.lines[0].price, request.occurred_at_given) == (Decimal("1000.00"), True)
    assert request.cart(program()).lines[0].unit_price == 100000
