"""What MCP tools send back: trimmed texts and snippets, readable error messages."""

import asyncpg
import pytest
from pydantic import BaseModel, Field, ValidationError

from api.core.errors import InvalidInput, NotFound
from api.web.mcp.errors import readable
from api.web.mcp.views import snippet, trimmed


def test_long_texts_are_trimmed_with_an_ellipsis():
    assert trimmed("short") == "short"
    text = trimmed("word " * 200)
    assert len(text) <= 500 and text.endswith("…")


def test_snippets_keep_forty_lines_and_say_how_many_more():
    source = "\n".join(f"line {n}" for n in range(1, 101))
    kept = snippet(source)
    assert kept.splitlines()[39] == "line 40"
    assert kept.endswith("… (60 more lines)")
    assert snippet("a\nb") == "a\nb"


class Arguments(BaseModel):
    limit: int = Field(le=50)


def test_expected_failures_read_like_the_rest_api():
    assert readable(NotFound("No event with id 1.")) == "No event with id 1."
    detail = [{"field": "metadata", "message": "too deep"}, {"field": "", "message": "bad"}]
    assert readable(InvalidInput(detail)) == "metadata: too deep; bad"
    with pytest.raises(ValidationError) as error:
        Arguments(limit=1000)
    assert readable(error.value) == (
        "Invalid arguments: limit: Input should be less than or equal to 50"
    )
    assert readable(ConnectionRefusedError()) == "The database cannot be reached; retry shortly."
    assert "DB_STATEMENT_TIMEOUT_MS" in (readable(asyncpg.exceptions.QueryCanceledError()) or "")


def test_a_bug_has_no_message_to_leak():
    assert readable(KeyError("secret internals")) is None
