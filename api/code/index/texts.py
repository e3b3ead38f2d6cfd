"""The words a chunk is found by, and the text its natural-language embedding is made from.

Identifiers are split (`fetchUserProfile`, `fetch_user_profile` -> `fetch user profile`) so that
a search for "user profile" finds the code whose names say it; the whole identifier stays too
(`fetchuserprofile`, the same word for both spellings), so an exact name still matches. Keywords
of the chunk's language that say nothing (`def`, `self`, `return`: api/code/index/keywords.py)
are left out. A search query goes through the same splitting (`query_words`), for BM25 and for
the full-text fallback alike.
"""

import re
from typing import Any, Protocol

from api.code.index.chunking import Chunk
from api.code.index.keywords import keywords_of

CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words of a query that are no identifier (`4312`, `café`): kept as they are, for docstrings.
OTHER_WORD = re.compile(r"[^\W_]+")
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


def identifier_words(identifier: str) -> list[str]:
    """`fetch_user_profile` -> ["fetchuserprofile", "fetch", "user", "profile"]: the whole
    identifier without its underscores (PostgreSQL's parser would cut it there; camelCase gives
    the same word), then its parts."""
    return [identifier.lower().replace("_", ""), *split_identifier(identifier)]


def words(text: str, *, language: str | None = None) -> str:
    """Every identifier of `text`, whole and split into words, in order, once each (at most
    MAX_BODY_WORDS of them and MAX_FIELD_CHARS in all), but the keywords of `language`.

    Once each, not as often as they occur: measured with BM25 on docstring queries (CodeSearchNet
    protocol, docs/architecture.md), repeating a body's words as the source does ranked worse."""
    skipped = keywords_of(language)
    seen: dict[str, None] = {}
    size = 0
    for identifier in IDENTIFIER.finditer(text):
        name = identifier.group()
        if name in skipped:
            continue
        for word in identifier_words(name):
            if not word or word in seen or len(word) > MAX_WORD_CHARS:
                continue
            if len(seen) >= MAX_BODY_WORDS or size + len(word) + 1 > MAX_FIELD_CHARS:
                return " ".join(seen)
            seen[word] = None
            size += len(word) + 1
    return " ".join(seen)


def search_fields(chunk: Chunk) -> tuple[str, str, str]:
    """(name, doc, body) words: weighted A, B and C by the full-text column, repeated 3, 1 and 1
    times in the BM25 one (migrations 0004 and 0013). The docstring stays as written."""
    meta = chunk.metadata
    language = chunk.language
    name = words(chunk.qualified_name.replace("/", " "), language=language)
    signature = words(meta.get("signature") or "", language=language)
    doc = " ".join(part for part in (signature, meta.get("docstring") or "") if part)
    return name, doc, words(chunk.source, language=language)


def query_words(query: str) -> str:
    """A search query's words as a chunk's are made: its identifiers as `words()` gives them
    (no keyword left out: a query has no language), then its other words (numbers, non-ASCII
    words) lower-cased, once each. "" when it holds no word at all (`++`, emoji)."""
    found = dict.fromkeys(words(query).split())
    for other in OTHER_WORD.finditer(query):
        found.setdefault(other.group().lower(), None)
    return " ".join(found)


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
