"""The stores registry: the city of each store (admin writes, analytics or admin reads)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from loyalty.core import limits
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.storage.database import UnitOfWork
from loyalty.stores import service as stores
from loyalty.stores.schemas import Store, StoreBody, StoreList

router = APIRouter(prefix="/v1", tags=["stores"], route_class=BodyRoute)
StoreId = Annotated[
    str, Path(min_length=1, max_length=limits.STORE, description="The store's id, as orders name it (`store`)")
]


@router.put(
    "/stores/{store_id}",
    response_model=Store,
    summary="Create or change a store",
    description="Records the store's city (and name). Sending the same body again changes nothing. A city is the "
    "city of the order's store: split tests by city read their stores here. Accepts an `Idempotency-Key` header.",
)
def put_store(store_id: StoreId, body: StoreBody, request: Request, key: deps.Admin) -> JSONResponse:
    data, now = body.model_dump(), deps.now(request)
    return deps.idempotent(
        request, key, data, 200, lambda uow: stores.put(uow, store_id, data["city"], data["name"], now)
    )


@router.get("/stores", response_model=StoreList, summary="List stores", description="Every store, by city then id.")
def list_stores(request: Request, _: deps.Analytics) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return {"stores": stores.list_stores(uow)}


@router.get("/stores/{store_id}", response_model=Store, summary="Get a store")
def get_store(store_id: StoreId, request: Request, _: deps.Analytics) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return stores.get(uow, store_id)
