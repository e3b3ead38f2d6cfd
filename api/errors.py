"""Domain errors carry their HTTP status; one set of handlers renders them as JSON.

Every response for a failure has the shape `{"error": <code>, "detail": <message or list>}`.
"""

from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class AppError(Exception):
    status_code = 400
    error = "bad_request"

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


class StartupError(RuntimeError):
    """Raised by the lifespan when the service must not start; the message says what to fix."""


# Errors meaning the database cannot be reached right now: the caller should retry later.
DATABASE_UNAVAILABLE = (
    OSError,
    ConnectionError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def error_body(error: str, detail: Any) -> dict[str, Any]:
    return {"error": error, "detail": jsonable_encoder(detail)}


def internal_error_body() -> dict[str, Any]:
    """The body of a 500: nothing about the failure leaks to the client."""
    return error_body("internal_error", "Unexpected server error.")


def clean_message(message: str) -> str:
    """pydantic prefixes messages of custom validators with "Value error, "."""
    return message.removeprefix("Value error, ")


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    detail = []
    for item in exc.errors():
        if item.get("type") == "json_invalid":
            position = item.get("loc", ("body", "?"))[-1]
            reason = item.get("ctx", {}).get("error", "invalid JSON")
            detail.append({"field": "body", "message": f"Invalid JSON at {position}: {reason}"})
            continue
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        message = clean_message(item.get("msg", ""))
        detail.append({"field": ".".join(location) or "body", "message": message})
    return detail


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(error_body(exc.error, exc.detail), status_code=exc.status_code)


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
    return JSONResponse(
        error_body("database_unavailable", "The database cannot be reached; retry shortly."),
        status_code=503,
        headers={"Retry-After": "1"},
    )


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


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path)
    return JSONResponse(internal_error_body(), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(asyncpg.exceptions.QueryCanceledError, _query_canceled)
    for exc_type in (
        asyncpg.exceptions.UntranslatableCharacterError,
        asyncpg.exceptions.CharacterNotInRepertoireError,
    ):
        app.add_exception_handler(exc_type, _unstorable_text)
    for exc_type in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_type, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
