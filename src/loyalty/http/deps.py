"""What every route needs: the engine, the clock, the caller's API key or member token (and the annotated parameters
that require them), and idempotent replays."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from loyalty.access import service as access
from loyalty.core import limits
from loyalty.core.errors import InvalidInput, LoyaltyError
from loyalty.http.errors import ApiError
from loyalty.storage import idempotency
from loyalty.storage.database import UnitOfWork

_KEY_CACHE_SECONDS = 10.0  # a revoked key stops working within this time


def engine(request: Request) -> Engine:
    value: Engine = request.app.state.engine
    return value


def now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def program_zone(request: Request) -> Callable[[], tzinfo]:
    """The program's time zone, read only if an instant needs it (a bare date). The app supplies the reader
    (`app.state.time_zone`), so that this package stays below the business areas whose routers use it."""
    reader: Callable[[Engine, datetime], Callable[[], tzinfo]] = request.app.state.time_zone
    return reader(engine(request), now(request))


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


def recent_key(request: Request) -> access.ApiKey | None:
    """The request's API key if this process found it valid within the cache time: no database read needed."""
    token = _bearer(request)
    hit = request.app.state.key_cache.get(token) if token else None
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def api_key(request: Request) -> access.ApiKey | None:
    token = _bearer(request)
    if not token or not token.startswith("lk_"):
        return None
    cache: dict[str, tuple[float, access.ApiKey | None]] = request.app.state.key_cache
    hit = cache.get(token)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    with UnitOfWork(engine(request), read_only=True) as uow:
        key = access.authenticate(uow, token)
    if len(cache) > 10_000:
        cache.clear()
    cache[token] = (time.monotonic() + _KEY_CACHE_SECONDS, key)
    return key


def _unauthorised(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", "Authentication required", detail, {"WWW-Authenticate": "Bearer"})


bearer = HTTPBearer(auto_error=False, description="An API key (lk_...) or, on member routes, a member token (mt_...)")


def caller(request: Request) -> access.ApiKey:
    """The API key the request is sent with; 401 without a known one."""
    if not _bearer(request):
        raise _unauthorised("send an API key as 'Authorization: Bearer lk_...'")
    key = api_key(request)
    if key is None:
        raise _unauthorised("the API key is unknown or revoked")
    return key


def authorise(request: Request, scope: str) -> access.ApiKey:
    """The request's API key, which must have `scope` (401 or 403 otherwise)."""
    return _allowed(request, caller(request), scope)


def _allowed(request: Request, key: access.ApiKey, scope: str) -> access.ApiKey:
    if not key.allows(scope):
        raise ApiError(
            403, "forbidden", "Missing scope", f"this route needs the {scope} scope; the key has {key.scope}"
        )
    request.state.key_id = key.key_id
    return key


def require(scope: str) -> Callable[..., Awaitable[access.ApiKey]]:
    async def dependency(request: Request, _: HTTPAuthorizationCredentials | None = Depends(bearer)) -> access.ApiKey:
        # A key this process found valid a moment ago needs no database read, so the request is not sent to the
        # thread pool (and back) just to look it up; a new key is read there.
        key = recent_key(request)
        if key is None:
            key = await run_in_threadpool(caller, request)
        return _allowed(request, key, scope)

    dependency.__name__ = f"require_{scope}"
    return dependency


def bearer_documented(_: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    """Declares the bearer scheme in OpenAPI on routes that check the caller themselves."""


def member_or_scope(request: Request, member_id: int, scope: str = "checkout") -> None:
    """A checkout key may read any member; a member token only its own member."""
    token = _bearer(request)
    if not token:
        raise _unauthorised("send an API key or a member token as 'Authorization: Bearer ...'")
    if token.startswith("mt_"):
        with UnitOfWork(engine(request), read_only=True) as uow:
            secret = access.verifying_secret(uow)
        owner = access.verify_member_token(secret, token, now(request)) if secret is not None else None
        if owner is None:
            raise _unauthorised("the member token is invalid or expired")
        if owner != member_id:
            raise ApiError(403, "forbidden", "Not your member", "a member token reads only its own member")
        return
    authorise(request, scope)


# The callers routes take, by scope, and a member's id in a path: one definition for every router.
Checkout = Annotated[access.ApiKey, Depends(require("checkout"))]
Admin = Annotated[access.ApiKey, Depends(require("admin"))]
Analytics = Annotated[access.ApiKey, Depends(require("analytics"))]
MemberId = Annotated[int, Path(ge=1, le=10**18, description="The member's id")]


def body_hash(method: str, path: str, body: Any) -> str:
    return hashlib.sha256(json.dumps([method, path, body], sort_keys=True, default=str).encode()).hexdigest()


def _idempotency_key(request: Request) -> str | None:
    idem = request.headers.get("idempotency-key")
    if idem is not None and not 1 <= len(idem) <= limits.IDEMPOTENCY_KEY:
        raise InvalidInput.at("Idempotency-Key", f"must be 1 to {limits.IDEMPOTENCY_KEY} characters")
    return idem


def _replay(uow: UnitOfWork, key: access.ApiKey, idem: str | None, digest: str) -> JSONResponse | None:
    """The stored response when this key was used for this request; 409 when for another; else None."""
    if idem is None:
        return None
    stored = idempotency.stored_response(uow, key.key_id, idem)
    if stored is None:
        return None
    if stored.request_hash != digest:
        raise ApiError(
            409,
            "idempotency-key-reused",
            "Conflict",
            f"Idempotency-Key {idem!r} was used for a different request; nothing was changed",
        )
    return JSONResponse(stored.response, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})


def _store(
    uow: UnitOfWork, request: Request, key: access.ApiKey, idem: str, digest: str, status: int, result: Any
) -> None:
    idempotency.store_response(
        uow,
        key.key_id,
        idem,
        method=request.method,
        path=request.url.path,
        request_hash=digest,
        status_code=status,
        response=result,
        now=now(request),
    )


def idempotent(
    request: Request, key: access.ApiKey, body: Any, status: int, run: Callable[[UnitOfWork], Any]
) -> JSONResponse:
    """Run `run` in one transaction. With an Idempotency-Key header the response is stored in that same
    transaction; a replay returns it, the same key with another body is 409. Refused requests store nothing."""
    idem = _idempotency_key(request)
    # The fingerprint only matters to a request that names a key: without one, nothing is stored or replayed.
    digest = body_hash(request.method, request.url.path, body) if idem is not None else ""
    for _attempt in range(2):
        try:
            with UnitOfWork(engine(request)) as uow:
                replayed = _replay(uow, key, idem, digest)
                if replayed is not None:
                    return replayed
                result = run(uow)
                if idem is not None:
                    _store(uow, request, key, idem, digest, status, result)
                uow.commit()
                return JSONResponse(result, status_code=status)
        except IntegrityError:
            continue  # a concurrent request wrote the same key or order first: the retry replays or refuses it
        except LoyaltyError:
            # A concurrent request with the same key may be why this one was refused (it took the phone number,
            # spent the points) before its key could be seen; once it has committed, this request is its replay.
            if idem is not None:
                with UnitOfWork(engine(request), read_only=True) as uow:
                    replayed = _replay(uow, key, idem, digest)
                if replayed is not None:
                    return replayed
            raise
    raise ApiError(409, "conflict", "Conflict", "a concurrent request changed the same data; retry")


def idempotent_batch(request: Request, key: access.ApiKey, body: Any, run: Callable[[], Any]) -> JSONResponse:
    """`idempotent` for a job that commits batch by batch, in transactions of its own: a replay returns the stored
    response without running again, the same key with another body is 409. The response is stored after the job;
    if that store fails the retry runs the job again, which a job as of the same instant makes harmless."""
    idem = _idempotency_key(request)
    digest = body_hash(request.method, request.url.path, body)
    if idem is not None:
        with UnitOfWork(engine(request), read_only=True) as uow:
            replayed = _replay(uow, key, idem, digest)
        if replayed is not None:
            return replayed
    result = run()
    if idem is None:
        return JSONResponse(result)
    try:
        with UnitOfWork(engine(request)) as uow:
            replayed = _replay(uow, key, idem, digest)
            if replayed is not None:
                return replayed  # the same request, run at the same time, stored its response first
            _store(uow, request, key, idem, digest, 200, result)
            uow.commit()
    except IntegrityError:
        with UnitOfWork(engine(request), read_only=True) as uow:
            replayed = _replay(uow, key, idem, digest)
        if replayed is not None:
            return replayed
        raise
    return JSONResponse(result)
