"""Domain errors carry their HTTP status; one set of handlers renders them as JSON.

Every response for a failure has the shape `{"error": <code>, "detail": <message or list>}`.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class AppError(Exception):
    status_code = 400
    error = "bad_request"
    # Extra response headers; a subclass or an instance may set its own (never mutate this one).
    headers: dict[str, str] = {}

    def __init__(self, detail: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail if detail is not None else self.error


class InvalidInput(AppError):
    status_code = 422
    error = "invalid_input"


class NotFound(AppError):
    status_code = 404
    error = "not_found"


class PayloadTooLarge(AppError):
    status_code = 413
    error = "payload_too_large"


# How long a client is told to wait before retrying when the database is away.
RETRY_AFTER_SECONDS = 1


class DatabaseUnavailable(AppError):
    """No connection to the database could be had in time: the caller should retry later."""

    status_code = 503
    error = "database_unavailable"
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class StartupError(RuntimeError):
    """Raised by the lifespan when the service must not start; the message says what to fix."""


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """The body of every failure: a stable `error` code and a message (or one per bad field)."""

    error: str
    detail: str | list[FieldError]


# Declared on every operation, so the OpenAPI document matches what the handlers below send
# (FastAPI's default 422 schema, `HTTPValidationError`, is not what clients receive).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "The request was refused; `error` says why."},
    "5XX": {
        "model": ErrorBody,
        "description": "The database is unreachable or too slow (503, retry), or a bug (500).",
    },
}


# Errors meaning the database cannot be reached right now: the caller should retry later.
# OSError covers a refused or reset socket; TimeoutError a connect that did not finish; the
# connection errors (class 08) a connection lost mid-query; the shutdown errors (57P0x) a server
# stopping, crashed or still starting; InterfaceError a connection the pool already closed.
DATABASE_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
)


def error_body(error: str, detail: Any) -> dict[str, Any]:
    return {"error": error, "detail": jsonable_encoder(detail)}


def internal_error_body() -> dict[str, Any]:
    """The body of a 500: nothing about the failure leaks to the client."""
    return error_body("internal_error", "Unexpected server error.")


def clean_message(message: str) -> str:
    """pydantic prefixes messages of custom validators with "Value error, "."""
    return message.removeprefix("Value error, ")


def field_errors(
    errors: Iterable[Mapping[str, Any]], *, whole: str = "body"
) -> list[dict[str, Any]]:
    """pydantic errors as `{"field": "a.b", "message": ...}`; an error about the whole object
    (a model validator comparing two fields) is reported on `whole`."""
    detail = []
    for item in errors:
        if item.get("type") == "json_invalid":
            position = item.get("loc", ("body", "?"))[-1]
            reason = item.get("ctx", {}).get("error", "invalid JSON")
            detail.append({"field": "body", "message": f"Invalid JSON at {position}: {reason}"})
            continue
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        message = clean_message(item.get("msg", ""))
        detail.append({"field": ".".join(location) or whole, "message": message})
    return detail


def invalid_fields(exc: ValidationError, *, whole: str) -> InvalidInput:
    """A model built by hand (from query parameters) failed: the same detail as FastAPI's."""
    return InvalidInput(field_errors(exc.errors(), whole=whole))


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    return field_errors(exc.errors())


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        error_body(exc.error, exc.detail), status_code=exc.status_code, headers=exc.headers or None
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(error_body("invalid_input", _validation_detail(exc)), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    names = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    return JSONResponse(
        error_body(names.get(exc.status_code, "http_error"), exc.detail),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database_unavailable", path=request.url.path, error=repr(exc))
    unavailable = DatabaseUnavailable("The database cannot be reached; retry shortly.")
    return await _app_error(request, unavailable)


async def _unstorable_text(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body(
            "invalid_input",
            "A string contains a character PostgreSQL cannot store (the NUL character \\u0000).",
        ),
        status_code=422,
    )


async def _query_canceled(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body("timeout", "The query took longer than DB_STATEMENT_TIMEOUT_MS allows."),
        status_code=503,
    )


async def _foreign_key(request: Request, exc: Exception) -> JSONResponse:
    """A write into a tenant deleted since the request resolved it (another process may have
    resolved its name a few seconds earlier: api.core.tenancy.service.TenantDirectory)."""
    constraint = getattr(exc, "constraint_name", None) or ""
    if constraint.endswith("_tenant_fkey"):
        return JSONResponse(
            error_body("not_found", "The tenant was deleted; nothing was written."),
            status_code=404,
        )
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path)
    return JSONResponse(internal_error_body(), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(asyncpg.exceptions.QueryCanceledError, _query_canceled)
    app.add_exception_handler(asyncpg.exceptions.ForeignKeyViolationError, _foreign_key)
    for exc_type in (
        asyncpg.exceptions.UntranslatableCharacterError,
        asyncpg.exceptions.CharacterNotInRepertoireError,
    ):
        app.add_exception_handler(exc_type, _unstorable_text)
    for exc_type in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_type, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
