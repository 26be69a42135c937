"""Request bodies at the door. Every route that takes a body needs an API key, so the caller is authenticated
before a byte of the body is read: a stranger's upload is refused unread. The body is then read up to
LOYALTY_MAX_BODY_BYTES (a Content-Length above it is refused before reading, a chunked body as soon as it passes
it) and parsed once, here, refusing what FastAPI's parser would let through: a key given twice in an object (the
last one would silently win) and nesting deeper than `limits.MAX_DEPTH` levels (no body the API takes needs it,
and every reader after this one may recurse)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.http import deps
from loyalty.http.errors import ApiError

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024  # a static segment or campaign list of 100,000 members fits
_PARSE_INLINE_BYTES = 64 * 1024  # a larger body is parsed in a worker thread, not on the event loop
_CLOSE = {"Connection": "close"}  # the body was not read: the connection cannot carry another request


def max_body_bytes() -> int:
    """The configured limit on a request body, in bytes."""
    configured = os.environ.get("LOYALTY_MAX_BODY_BYTES", "")
    if not configured:
        return DEFAULT_MAX_BODY_BYTES
    if not configured.isdigit() or int(configured) < 1024:
        raise ValueError(f"LOYALTY_MAX_BODY_BYTES must be a number of bytes, at least 1024; got {configured!r}")
    return int(configured)


class BodyRoute(APIRoute):
    """A route whose body, if it has one, is let in by `admit` before FastAPI reads and validates it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle  # FastAPI never reads the body of a route that takes none

        async def admitted(request: Request) -> Response:
            if _has_body(request):
                request = await admit(request)
            return await handle(request)

        return admitted


def _has_body(request: Request) -> bool:
    return request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers


async def admit(request: Request) -> Request:
    """The request with its body read and parsed, once the caller is known; ApiError (401, 413) or InvalidInput
    otherwise."""
    try:
        if deps.recent_key(request) is None:  # else known good: no need to leave the event loop
            await run_in_threadpool(deps.caller, request)
    except ApiError as error:
        error.headers = {**(error.headers or {}), **_CLOSE}
        raise
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body or not _is_json(request.headers.get("content-type")):
        return ReceivedRequest(request, body, None)
    value = parse_json(body) if size <= _PARSE_INLINE_BYTES else await run_in_threadpool(parse_json, body)
    return ReceivedRequest(request, body, value)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "body-too-large", "The body is too large", f"a request body may have at most {limit} bytes", _CLOSE
    )


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI would read the body as JSON: no content type, or application/json or */*+json."""
    if not content_type:
        return True
    subtype = content_type.split(";", 1)[0].strip().lower().rpartition("/")[2]
    return subtype == "json" or subtype.endswith("+json")


class ReceivedRequest(Request):
    """A request whose body has been read and parsed: FastAPI gets them from here instead of reading again."""

    def __init__(self, request: Request, body: bytes, value: Any) -> None:
        super().__init__(request.scope, request.receive)
        self._received, self._value = body, value

    async def body(self) -> bytes:
        return self._received

    async def json(self) -> Any:
        return self._value


def parse_json(body: bytes) -> Any:
    """The JSON value of a body; InvalidInput for bad JSON, a repeated key (named by its path) or nesting deeper than
    `limits.MAX_DEPTH`, ApiError 400 for bytes that are not text."""
    # By the object's id; the object is kept too, so that no other object can take its id while this one lives.
    repeated: dict[int, tuple[dict[str, Any], list[str]]] = {}

    def object_of(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) != len(pairs):
            keys = [key for key, _ in pairs]
            repeated[id(value)] = (value, sorted({key for key in keys if keys.count(key) > 1}))
        return value

    try:
        value = json.loads(body, object_pairs_hook=object_of)
    except json.JSONDecodeError as error:
        raise InvalidInput.at("body", f"the body is not valid JSON (at character {error.pos})") from None
    except UnicodeDecodeError:
        raise ApiError(400, "http-error", "There was an error parsing the body", "the body is not UTF-8 text") from None
    except RecursionError:  # nested far deeper than the limit: the parser itself gave up
        raise _too_deep() from None
    problems = _shape_problems(value, repeated)
    if problems:
        raise InvalidInput(problems)
    return value


def _too_deep() -> InvalidInput:
    return InvalidInput.at("body", f"nests more than {limits.MAX_DEPTH} levels of objects and lists")


def _shape_problems(value: Any, repeated: dict[int, tuple[dict[str, Any], list[str]]]) -> list[FieldProblem]:
    """Each repeated key by its path; the depth is checked on the way, with a stack rather than recursion."""
    problems: list[FieldProblem] = []
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > limits.MAX_DEPTH:
            raise _too_deep()
        if isinstance(node, dict):
            for key in repeated.get(id(node), (node, []))[1]:
                problems.append(FieldProblem(f"{path}.{key}" if path else key, "is given more than once"))
            for key, child in node.items():
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1, f"{path}.{key}" if path else key))
        elif isinstance(node, list):
            for i, child in enumerate(node):
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1, f"{path}[{i}]"))
    return sorted(problems, key=lambda p: p.path)
