"""Tool failures as the messages the JSON API gives: what was wrong, never a stack trace."""

from typing import Any

import asyncpg
from pydantic import ValidationError

from api.core.errors import DATABASE_UNAVAILABLE, AppError, field_errors
from api.web.mcp.backend import BackendUnavailable


def _fields(detail: list[Any]) -> str:
    parts = []
    for item in detail:
        if isinstance(item, dict) and "message" in item:
            field = item.get("field")
            parts.append(f"{field}: {item['message']}" if field else str(item["message"]))
        else:
            parts.append(str(item))
    return "; ".join(parts)


def readable(exc: BaseException) -> str | None:
    """The message for an expected failure; None for a bug (the caller says only that it failed)."""
    if isinstance(exc, AppError):
        detail = exc.detail
        return _fields(detail) if isinstance(detail, list) else str(detail)
    if isinstance(exc, ValidationError):
        return "Invalid arguments: " + _fields(field_errors(exc.errors(), whole="arguments"))
    if isinstance(exc, asyncpg.exceptions.QueryCanceledError):
        return "The query took longer than DB_STATEMENT_TIMEOUT_MS allows."
    if isinstance(
        exc,
        asyncpg.exceptions.UntranslatableCharacterError
        | asyncpg.exceptions.CharacterNotInRepertoireError,
    ):
        return "A string contains a character PostgreSQL cannot store (the NUL character \\u0000)."
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return "The database cannot be reached; retry shortly."
    if isinstance(exc, BackendUnavailable):
        return str(exc)
    return None
