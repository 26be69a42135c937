"""The checkout: calculate, reserve, confirm, release, cancel, returns, and reading an order."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from loyalty.access import service as access
from loyalty.checkout import orders, returns
from loyalty.checkout import service as checkout
from loyalty.checkout.schemas import (
    Cart,
    Order,
    OrderDetail,
    OrderResult,
    Released,
    Reservation,
    ReturnRequest,
    ReturnResult,
)
from loyalty.core import limits
from loyalty.core.identifiers import ID_PATTERN
from loyalty.http import deps, metrics
from loyalty.http.bodies import BodyRoute
from loyalty.http.schemas import url_safe
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1/orders", tags=["orders"], route_class=BodyRoute)
OrderId = Annotated[str, Path(min_length=1, max_length=limits.KEY, pattern=ID_PATTERN), url_safe("order id")]


@router.post(
    "/calculate",
    response_model=OrderResult,
    summary="Calculate a cart",
    description="What the cart can pay with points and will earn, per line, with the rule behind each "
    "point. No side effects, so `order_id` is optional (with it, points the order holds count as available).",
)
def calculate(body: Cart, request: Request, _: deps.Checkout) -> dict[str, Any]:
    now = deps.now(request)
    order = body.request(now, deps.program_zone(request))
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return checkout.calculate(uow, order, now)


@router.post(
    "/reserve",
    response_model=OrderResult,
    summary="Reserve points for a checkout",
    description="Holds the points for `hold_seconds`; then confirm or release. A hold that times out "
    "releases itself. Idempotent by `order_id`.",
)
def reserve(body: Reservation, request: Request, key: deps.Checkout) -> JSONResponse:
    now = deps.now(request)
    order = body.request(now, deps.program_zone(request))
    hold = timedelta(seconds=body.hold_seconds)
    return deps.idempotent(request, key, body.model_dump(), 200, lambda uow: checkout.reserve(uow, order, now, hold))


def _confirm(request: Request, key: access.ApiKey, body: Order | None, order_id: str) -> JSONResponse:
    now = deps.now(request)
    order = body.request(now, deps.program_zone(request)) if body is not None else None
    confirmed: list[dict[str, Any]] = []

    def run(uow: UnitOfWork) -> dict[str, Any]:
        confirmed.clear()  # a retried transaction starts again
        return checkout.confirm(uow, order, now, order_key=order_id, confirmed=confirmed)

    response = deps.idempotent(request, key, body.as_dict() if body is not None else None, 200, run)
    for result in confirmed:
        metrics.order_confirmed(result)
    return response


@router.post(
    "/confirm",
    response_model=OrderResult,
    summary="Confirm an order",
    description="Records the order and its points exactly once: a retry with the same body returns the "
    "first result; the same `order_id` with another body is 409 and changes nothing.",
)
def confirm(body: Order, request: Request, key: deps.Checkout) -> JSONResponse:
    return _confirm(request, key, body, body.order_id)


@router.post(
    "/{order_id}/confirm",
    response_model=OrderResult,
    summary="Confirm a reservation",
    description="Confirms a reserved order as it was reserved. Idempotent.",
)
def confirm_reserved(order_id: OrderId, request: Request, key: deps.Checkout) -> JSONResponse:
    return _confirm(request, key, None, order_id)


@router.post(
    "/{order_id}/release",
    response_model=Released,
    summary="Release a reservation",
    description="Frees the held points. Releasing twice is harmless; a confirmed order cannot be released.",
)
def release(order_id: OrderId, request: Request, key: deps.Checkout) -> JSONResponse:
    now = deps.now(request)
    return deps.idempotent(request, key, None, 200, lambda uow: checkout.release(uow, order_id, now))


@router.post(
    "/{order_id}/cancel",
    response_model=ReturnResult,
    summary="Cancel an order",
    description="Releases a reservation, or returns every line not yet returned. Idempotent by order id.",
)
def cancel(order_id: OrderId, request: Request, key: deps.Checkout) -> JSONResponse:
    now = deps.now(request)
    return deps.idempotent(request, key, None, 200, lambda uow: returns.cancel(uow, order_id, now))


@router.post(
    "/{order_id}/returns",
    status_code=201,
    response_model=ReturnResult,
    summary="Return some lines of an order",
    description="Takes back the points the returned units earned and gives back the points spent on them, "
    "by the order's own program version. Idempotent by `return_id`.",
)
def return_lines(order_id: OrderId, body: ReturnRequest, request: Request, key: deps.Checkout) -> JSONResponse:
    now = deps.now(request)
    lines = [(line.line_id, line.quantity) for line in body.lines]
    return deps.idempotent(
        request,
        key,
        body.model_dump(),
        201,
        lambda uow: returns.return_lines(uow, order_id, body.return_id, lines, now),
    )


@router.get(
    "/{order_id}",
    response_model=OrderDetail,
    summary="Get an order with its entries",
    description="The confirmed result, what was returned of each line, and the ledger entries it made.",
)
def get_order(order_id: OrderId, request: Request, _: deps.Checkout) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return orders.get_order(uow, order_id)
