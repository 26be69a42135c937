"""Every error answers as RFC 9457 application/problem+json: a type, a title, the status and, for bad input,
each field's path and reason."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from loyalty.core.errors import Conflict, InsufficientPoints, InvalidInput, LoyaltyError, NotFound
from loyalty.core.fields import reason
from loyalty.core.validation import dotted
from loyalty.storage.database import CommitOutcomeUnknown, Failure, failure_of

TYPE_BASE = "https://loyalty.dev/problems/"
log = logging.getLogger("loyalty.api")


class ApiError(Exception):
    def __init__(
        self, status: int, kind: str, title: str, detail: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        self.status, self.kind, self.title, self.detail, self.headers = status, kind, title, detail, headers
        super().__init__(detail or title)


def problem(
    request: Request,
    status: int,
    kind: str,
    title: str,
    detail: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body["request_id"] = getattr(request.state, "request_id", None)
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _path(loc: tuple[Any, ...]) -> str:
    """`("body", "lines", 0, "price")` → `lines[0].price`."""
    inside = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    return dotted(inside) or (str(loc[0]) if loc else "")


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API document lists for this path (GET implying HEAD). Starlette's 405 names only the
    methods of the first route matching the path, though GET and PUT of one path are two routes."""
    operations: list[tuple[re.Pattern[str], set[str]]] | None = getattr(request.app.state, "operations", None)
    if operations is None:
        operations = [
            (
                re.compile("/".join("[^/]+" if part.startswith("{") else re.escape(part) for part in path.split("/"))),
                {method.upper() for method in methods},
            )
            for path, methods in request.app.openapi()["paths"].items()
        ]
        request.app.state.operations = operations
    allowed = set().union(*(methods for pattern, methods in operations if pattern.fullmatch(request.url.path)))
    return sorted(allowed | {"HEAD"} if "GET" in allowed else allowed)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = []
        for item in error.errors():
            loc = tuple(item.get("loc", ()))
            if item.get("type") == "json_invalid":
                # The location is a character offset, not a field: name the body, give the offset in the reason.
                at = f" (at character {loc[-1]})" if len(loc) > 1 else ""
                errors.append({"path": "body", "reason": f"the body is not valid JSON{at}"})
                continue
            errors.append({"path": _path(loc), "reason": reason(item)})
        return problem(
            request,
            422,
            "invalid-input",
            "The request is invalid",
            "; ".join(f"{e['path']}: {e['reason']}" for e in errors),
            errors,
        )

    @app.exception_handler(LoyaltyError)
    async def _domain(request: Request, error: LoyaltyError) -> JSONResponse:
        if isinstance(error, InvalidInput):
            errors = [{"path": p.path, "reason": p.reason} for p in error.problems]
            title = "Not enough points" if isinstance(error, InsufficientPoints) else "The request is invalid"
            return problem(request, 422, error.kind, title, str(error), errors)
        if isinstance(error, NotFound):
            return problem(request, 404, error.kind, "Not found", str(error))
        if isinstance(error, Conflict):
            return problem(request, 409, error.kind, "Conflict", str(error))
        return problem(request, 400, error.kind, "Request refused", str(error))

    @app.exception_handler(ApiError)
    async def _api(request: Request, error: ApiError) -> JSONResponse:
        return problem(request, error.status, error.kind, error.title, error.detail, headers=error.headers)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        kind = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        headers = getattr(error, "headers", None)
        allowed = _allowed_methods(request) if error.status_code == 405 else []
        if allowed:
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return problem(request, error.status_code, kind, str(error.detail), headers=headers)

    # Database failures are handled here rather than by the catch-all below, which Starlette re-raises to the
    # server after answering, so the server would log a traceback for every request of an outage.
    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, error: SQLAlchemyError) -> JSONResponse:
        failure = failure_of(error)
        if failure is None:
            return _internal_error(request, error)
        return unavailable(request, error, failure)

    @app.exception_handler(CommitOutcomeUnknown)
    async def _commit_lost(request: Request, error: CommitOutcomeUnknown) -> JSONResponse:
        return unavailable(request, error, None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        return _internal_error(request, error)


def _internal_error(request: Request, error: BaseException) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    log.error("unhandled error", exc_info=error, extra={"fields": {"request_id": request_id}})
    return problem(request, 500, "internal-error", "Internal error", "the error was logged; nothing was changed")


RETRY_AFTER = {Failure.DOWN: 5, Failure.BUSY: 1, None: 5}  # seconds; None: the outcome of a COMMIT is unknown
_UNAVAILABLE = {
    Failure.DOWN: (
        "database-unavailable",
        "The database is unavailable",
        "the database cannot be reached, so the request was not completed; retry later. A retry with the same "
        "Idempotency-Key (confirm, cancel and returns: the same order and return id) is recorded at most once.",
    ),
    Failure.BUSY: (
        "busy",
        "Busy, retry",
        "the member's account (or other data this request needs) is busy: another request holds it for longer than "
        "the database waits; nothing was changed. Retry in a moment.",
    ),
    None: (
        "outcome-unknown",
        "The outcome is unknown",
        "the connection to the database was lost while the change was being committed, so whether it was recorded "
        "is not known. Retrying with the same Idempotency-Key (confirm, cancel and returns: the same order and "
        "return id) is safe: the change is recorded at most once, and the retry answers with its result.",
    ),
}


def unavailable(request: Request, error: BaseException, failure: Failure | None) -> JSONResponse:
    """503 with Retry-After for a database that is out of reach (DOWN), busy (BUSY) or lost a COMMIT (None)."""
    outages: OutageLog = request.app.state.outages
    outages.record(error, failure, getattr(request.state, "request_id", None))
    kind, title, detail = _UNAVAILABLE[failure]
    return problem(request, 503, kind, title, detail, headers={"Retry-After": str(RETRY_AFTER[failure])})


class OutageLog:
    """Logs a database failure, with its traceback, at most once per `interval` seconds for each kind of failure;
    the next line says how many were left out meanwhile. An outage fails every request, and a traceback for each
    would bury the log (and the disk) while telling nothing more."""

    def __init__(self, interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = interval, clock
        self._lock = threading.Lock()
        self._last: dict[Failure | None, float] = {}
        self._suppressed: dict[Failure | None, int] = {}

    def record(self, error: BaseException, failure: Failure | None, request_id: str | None) -> None:
        with self._lock:
            now = self.clock()
            last = self._last.get(failure)
            if last is not None and now - last < self.interval:
                self._suppressed[failure] = self._suppressed.get(failure, 0) + 1
                return
            self._last[failure] = now
            suppressed = self._suppressed.pop(failure, 0)
        what = failure.value if failure is not None else "commit outcome unknown"
        log.error(
            f"database {what}: {error}",
            exc_info=error,
            extra={"fields": {"failure": what, "suppressed": suppressed, "request_id": request_id}},
        )
