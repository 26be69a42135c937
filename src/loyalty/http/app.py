"""The HTTP application: routers, problem+json errors, request ids, JSON access logs, metrics and offline docs."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty.access import router as member_tokens
from loyalty.analytics import router as analytics
from loyalty.campaigns import router as campaigns
from loyalty.checkout import router as orders
from loyalty.engagement import router as events
from loyalty.experiments import router as experiments
from loyalty.http import bodies, errors, metrics
from loyalty.jobs import router as jobs
from loyalty.ledger import router as points
from loyalty.members import router as members
from loyalty.messaging import router as messaging
from loyalty.program import router as program
from loyalty.program import service as programs
from loyalty.referrals import router as referrals
from loyalty.segments import router as segments
from loyalty.storage.database import Failure, make_engine
from loyalty.stores import router as stores
from loyalty.tiers import router as tiers

access_log = logging.getLogger("loyalty.access")

DESCRIPTION = """A bonus-points program engine. Authenticate with `Authorization: Bearer <API key>`
(create one with `loyalty keys create --name NAME --scope checkout|admin|analytics`). Money is a decimal string
in the program's currency (`"1000.50"`), never a JSON number; points are integers. Errors are RFC 9457
`application/problem+json` with each bad field's `path` and `reason`. Confirm, cancel and returns are
idempotent by the order id (and the return id); every other POST accepts an `Idempotency-Key` header."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("loyalty.access", "loyalty.api"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _new_request_id() -> str:
    """A request id unique across processes and restarts: a random prefix drawn once per process, and a counter (a
    uuid4 per request reads the system's random source every time, a few per cent of a short request)."""
    pid = os.getpid()  # a forked process draws a prefix of its own
    prefix, counter = _id_sources.get(pid) or _id_sources.setdefault(pid, (uuid.uuid4().hex[:20], itertools.count(1)))
    return f"{prefix}{next(counter):012x}"


_id_sources: dict[int, tuple[str, Iterator[int]]] = {}


class Observe:
    """Request ids, per-route metrics and one JSON log line per request, as a plain ASGI middleware (Starlette's
    BaseHTTPMiddleware costs a task and a stream copy per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = (headers.get(b"x-request-id", b"").decode("latin-1") or _new_request_id())[:100]
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "")
            metrics.REQUESTS.labels(method, template, str(status)).inc()
            metrics.LATENCY.labels(method, template).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": method,
                        "path": scope.get("path"),
                        "route": template,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "key_id": state.get("key_id"),
                    }
                },
            )


def create_app(engine: Engine | None = None, clock: Callable[[], datetime] | None = None) -> FastAPI:
    app = FastAPI(title="Loyalty API", version="1.0.0", description=DESCRIPTION, docs_url=None, redoc_url=None)
    app.state.engine = engine or make_engine()
    app.state.clock = clock or (lambda: datetime.now(UTC))
    app.state.key_cache = {}
    app.state.time_zone = programs.lazy_time_zone
    app.state.max_body_bytes = bodies.max_body_bytes()
    app.state.outages = errors.OutageLog()
    errors.install(app)
    problem_ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    documented = {
        400: "The body could not be read (not JSON, wrong encoding)",
        401: "Missing or unknown API key or token",
        403: "The key lacks the route's scope",
        404: "No such member, order or version",
        409: "Conflicts with what is recorded (same id, other body; wrong state; a cap reached)",
        413: "The body is larger than the server takes (LOYALTY_MAX_BODY_BYTES)",
        422: "Invalid input: each field's path and reason",
        503: "The database is unavailable or busy, or a commit's outcome is unknown: retry after Retry-After seconds",
    }
    routers = (
        members,
        points,
        tiers,
        referrals,
        member_tokens,
        orders,
        events,
        program,
        jobs,
        segments,
        campaigns,
        messaging,
        analytics,
        experiments,
        stores,
    )
    for router in (module.router for module in routers):
        app.include_router(
            router, responses={code: {"description": text, "content": problem_ref} for code, text in documented.items()}
        )
    _with_problem_schema(app)
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")

    app.add_middleware(Observe)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        try:
            with request.app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as error:  # any database failure means not ready; what failed is logged, not told
            request.app.state.outages.record(error, Failure.DOWN, request.state.request_id)
            retry = {"Retry-After": str(errors.RETRY_AFTER[Failure.DOWN])}
            return errors.problem(request, 503, "not-ready", "The database is unavailable", headers=retry)
        return JSONResponse({"status": "ok", "database": "ok"})

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint(request: Request) -> Response:
        metrics.authorise(request)
        collected = metrics.registry()
        data = generate_latest(collected) if collected is not None else generate_latest()
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Loyalty API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    return app


def _with_problem_schema(app: FastAPI) -> None:
    """Every error is problem+json: drop FastAPI's default 422 schema and register ours."""
    from fastapi.openapi.utils import get_openapi

    from loyalty.http.schemas import Problem

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                # FastAPI adds its own 422 schema; ours is problem+json
                operation.get("responses", {}).get("422", {}).get("content", {}).pop("application/json", None)
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]


def openapi_document(app: FastAPI | None = None) -> dict[str, Any]:
    return (app or create_app(make_engine("sqlite://"))).openapi()
