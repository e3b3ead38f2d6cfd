"""The words a chunk is found by, and the text its natural-language embedding is made from.

Identifiers are split (`fetchUserProfile`, `fetch_user_profile` -> `fetch user profile`) so that
a search for "user profile" finds the code whose names say it; the original identifiers stay
too, so an exact name still matches.
"""

import re
from typing import Any, Protocol

from api.code.index.chunking import Chunk

CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_BODY_WORDS = 4000
# PostgreSQL refuses a tsvector over 1 MB (the three fields make one): a chunk of long distinct
# identifiers would fail its whole request. Longer words are no search terms anyway.
MAX_WORD_CHARS = 200
MAX_FIELD_CHARS = 200_000


class StoredChunk(Protocol):
    """A chunk as stored or exported: enough to rebuild the texts it is embedded from."""

    name: str
    qualified_name: str
    kind: str
    language: str
    file_path: str
    start_line: int
    end_line: int
    source_code: str
    metadata: dict[str, Any]


def as_chunk(stored: StoredChunk) -> Chunk:
    """The chunker's `Chunk` for a stored one: embedded from the same text as at indexing."""
    return Chunk(
        name=stored.name,
        qualified_name=stored.qualified_name,
        kind=stored.kind,
        language=stored.language,
        file_path=stored.file_path,
        start_line=stored.start_line,
        end_line=stored.end_line,
        source=stored.source_code,
        metadata=stored.metadata,
    )


def split_identifier(identifier: str) -> list[str]:
    """`parseHTTPResponse_v2` -> ["parse", "http", "response", "v2"]."""
    parts: list[str] = []
    for piece in re.split(r"[_\W]+", identifier):
        parts.extend(part.lower() for part in CAMEL.split(piece) if part)
    return parts


def words(text: str) -> str:
    """Every identifier of `text`, itself and split into words, in order, once each (at most
    MAX_BODY_WORDS of them and MAX_FIELD_CHARS in all)."""
    seen: dict[str, None] = {}
    size = 0
    for identifier in IDENTIFIER.finditer(text):
        name = identifier.group()
        for word in (name.lower(), *split_identifier(name)):
            if word in seen or len(word) > MAX_WORD_CHARS:
                continue
            if len(seen) >= MAX_BODY_WORDS or size + len(word) + 1 > MAX_FIELD_CHARS:
                return " ".join(seen)
            seen[word] = None
            size += len(word) + 1
    return " ".join(seen)


def search_fields(chunk: Chunk) -> tuple[str, str, str]:
    """(name, doc, body) words, weighted A, B and C by the full-text column."""
    meta = chunk.metadata
    name = words(chunk.qualified_name.replace("/", " "))
    doc = " ".join(
        part for part in (words(meta.get("signature") or ""), meta.get("docstring") or "") if part
    )
    return name, doc, words(chunk.source)


def embedding_text(chunk: Chunk) -> str:
    """The natural-language side of a chunk, for the text model."""
    meta = chunk.metadata
    parts = [
        " ".join(split_identifier(chunk.qualified_name.replace(".", "_"))),
        f"{chunk.kind} in {chunk.language}",
        meta.get("signature") or "",
        meta.get("docstring") or "",
    ]
    return "\n".join(part for part in parts if part)
