"""Pure ASGI middleware: trailing slashes, request size limit, request metrics and ids."""

import json
import time
import uuid
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.errors import internal_error_body
from api.core.metrics import Metrics

log = structlog.get_logger(__name__)
# Any other method is labelled OTHER: a client must not be able to create series at will.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes arrive every few seconds: logged at debug, not to bury the traffic.
QUIET_ROUTES = frozenset({"/metrics", "/health", "/readiness"})


class TrailingSlashMiddleware:
    """Serve `/v1/events/` and `/v1/events` alike, without a 307 round trip.

    Routes are declared without the trailing slash; the path is normalised before routing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                raw_path = scope.get("raw_path")
                if raw_path:
                    scope["raw_path"] = raw_path.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuse bodies above MAX_REQUEST_BYTES with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_too_large(send, self.max_bytes)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # HTTPException, not an AppError: FastAPI turns any other error raised
                    # while it reads the body into a 400 "error parsing the body".
                    raise HTTPException(413, _too_large_message(self.max_bytes))
            return message

        await self.app(scope, limited_receive, send)


class RequestMetricsMiddleware:
    """Time every request by route template, log it, and carry a request id through its logs.

    The id (the client's X-Request-ID, or a new one) is bound into structlog's context for the
    whole request, so every line logged while serving it carries `request_id`, and it is echoed
    in the X-Request-ID response header. This middleware writes the access log; uvicorn's own is
    switched off in `log_setup` (it would be a second, unstructured line without the id).
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = (_header(scope, b"x-request-id") or uuid.uuid4().hex)[:64]
        status = 500
        started = time.perf_counter()
        response_started = False
        root_path = scope.get("root_path", "")

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1", "replace")))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                # Left alone, Starlette's ServerErrorMiddleware (outside this one) would answer:
                # its log line would lack the request id, its 500 the X-Request-ID header, and
                # uvicorn would print the traceback a second time.
                log.exception("unhandled_error", path=scope["path"])
                if response_started:
                    raise
                await send_json(send_with_id, 500, internal_error_body())
            finally:
                template = _route_template(scope, root_path)
                self._observe(scope, template, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, template: str, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        self.metrics.http_request_seconds.labels(method, template, str(status)).observe(seconds)
        emit = log.debug if template in QUIET_ROUTES else log.info
        emit(
            "http_request",
            method=method,
            path=scope["path"],
            route=template,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )


def _route_template(scope: Scope, root_path: str) -> str:
    """The matched route's template (`/v1/events/{event_id}`), never the concrete path."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        return str(path)
    # FastAPI does not record a mount (the static files) as the route; a mount extends
    # root_path by its prefix instead.
    mounted: str = scope.get("root_path", "")
    if mounted != root_path:
        return mounted[len(root_path) :] + "/{path}"
    return "unmatched"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _too_large_message(max_bytes: int) -> str:
    return f"Request body exceeds {max_bytes} bytes (MAX_REQUEST_BYTES)."


async def _send_too_large(send: Send, max_bytes: int) -> None:
    body: dict[str, Any] = {"error": "payload_too_large", "detail": _too_large_message(max_bytes)}
    await send_json(send, 413, body)


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
