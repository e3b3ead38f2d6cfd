"""SQL of export and import: streaming reads and conflict-free inserts. Values are bind
parameters; vectors are read as pgvector's text form, which is the shortest exact decimal of each
float32 and already a JSON array.

Every query is on the connection's tenant (`TENANT`): the commands connect as the tables'
owner, whom the tenant policies do not bind, so the filter here is what keeps an export to one
tenant and an import's conflicts within it. Inserts name the tenant too."""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
import pgvector
from pydantic import TypeAdapter, ValidationError

from api.core.database import TENANT
from api.core.json_limits import JsonLimitError, load_stored
from api.embeddings.protocol import Vector
from api.memory.events.schemas import NewEvent
from api.memory.events.sql import LIVE
from api.ops.transfer.jsonl import describe
from api.ops.transfer.schemas import CodeChunkRecord, CodeFileRecord, EventRecord, SkippedRow

_VECTOR_TEXT = TypeAdapter(list[float])


@dataclass(frozen=True)
class NewChunk:
    """A chunk to insert as exported (same id and file), with the search words derived again."""

    record: CodeChunkRecord
    embedding_text: Vector | None
    embedding_code: Vector | None
    search_name: str
    search_doc: str
    search_body: str


def _floats(text: str | None) -> list[float] | None:
    return None if text is None else _VECTOR_TEXT.validate_json(text)


def _vector(value: Vector | None) -> pgvector.Vector | None:
    return None if value is None else pgvector.Vector(np.asarray(value, dtype=np.float32))


async def tenant_id_named(conn: asyncpg.Connection, name: str) -> UUID | None:
    """The id of the tenant with this name (the directory of tenants has no tenant filter)."""
    tenant_id: UUID | None = await conn.fetchval(
        "SELECT t.id FROM tenants t WHERE t.name = $1", name
    )
    return tenant_id


async def stream_events(
    conn: asyncpg.Connection, *, prefetch: int
) -> AsyncIterator[EventRecord | SkippedRow]:
    """Every event in id (creation) order, through a server-side cursor (inside a transaction);
    a row an import would refuse (see api/core/json_limits.py) comes as a SkippedRow saying why."""
    cursor = conn.cursor(
        f"""
        SELECT e.id, e.timestamp, e.content::text AS content, e.metadata::text AS metadata,
               e.embedding::text AS embedding, e.user_id, e.agent_id, e.session_id, e.expires_at,
               e.importance, e.pinned
        FROM events e
        WHERE e.tenant_id = {TENANT} AND {LIVE}
        ORDER BY e.id
        """,
        prefetch=prefetch,
    )
    async for row in cursor:
        record: EventRecord | SkippedRow
        try:
            record = EventRecord(
                id=row["id"],
                timestamp=row["timestamp"],
                content=_loaded(row, "content"),
                metadata=_loaded(row, "metadata"),
                embedding=_floats(row["embedding"]),
                user_id=row["user_id"],
                agent_id=row["agent_id"],
                session_id=row["session_id"],
                expires_at=row["expires_at"],
                importance=row["importance"],
                pinned=row["pinned"],
            )
        except (JsonLimitError, ValidationError) as exc:
            record = SkippedRow(type="event", id=row["id"], reason=_reason(exc))
        yield record


def _loaded(row: asyncpg.Record, field: str) -> Any:
    try:
        return load_stored(row[field])
    except JsonLimitError as exc:
        raise JsonLimitError(f"{field} is {exc}") from None


def _reason(exc: JsonLimitError | ValidationError) -> str:
    return describe(exc) if isinstance(exc, ValidationError) else str(exc)


async def stream_files(
    conn: asyncpg.Connection, *, repositories: Sequence[str] | None, prefetch: int
) -> AsyncIterator[CodeFileRecord]:
    cursor = conn.cursor(
        f"""
        SELECT f.id, f.repository, f.path, f.language, f.content_hash, f.size_bytes,
               f.commit_hash, f.indexed_at
        FROM code_files f
        WHERE f.tenant_id = {TENANT} AND ($1::text[] IS NULL OR f.repository = ANY($1::text[]))
        ORDER BY f.repository, f.path
        """,
        None if repositories is None else list(repositories),
        prefetch=prefetch,
    )
    async for row in cursor:
        yield CodeFileRecord(**dict(row))


async def stream_chunks(
    conn: asyncpg.Connection, *, repositories: Sequence[str] | None, prefetch: int
) -> AsyncIterator[CodeChunkRecord | SkippedRow]:
    cursor = conn.cursor(
        f"""
        SELECT c.id, c.file_id, c.repository, c.file_path, c.language, c.kind, c.name,
               c.qualified_name, c.start_line, c.end_line, c.source_code,
               c.metadata::text AS metadata, c.embedding_text::text AS embedding_text,
               c.embedding_code::text AS embedding_code
        FROM code_chunks c
        WHERE c.tenant_id = {TENANT} AND ($1::text[] IS NULL OR c.repository = ANY($1::text[]))
        ORDER BY c.id
        """,
        None if repositories is None else list(repositories),
        prefetch=prefetch,
    )
    async for row in cursor:
        values = dict(row)
        record: CodeChunkRecord | SkippedRow
        try:
            values["metadata"] = _loaded(row, "metadata")
            values["embedding_text"] = _floats(values["embedding_text"])
            values["embedding_code"] = _floats(values["embedding_code"])
            record = CodeChunkRecord(**values)
        except (JsonLimitError, ValidationError) as exc:
            record = SkippedRow(type="code_chunk", id=row["id"], reason=_reason(exc))
        yield record


async def existing_event_ids(conn: asyncpg.Connection, ids: Sequence[UUID]) -> set[UUID]:
    rows = await conn.fetch(
        f"SELECT e.id FROM events e WHERE e.tenant_id = {TENANT} AND e.id = ANY($1::uuid[])",
        list(ids),
    )
    return {row["id"] for row in rows}


async def insert_events(conn: asyncpg.Connection, events: Sequence[NewEvent]) -> int:
    """Insert the events whose id is new in the tenant; return how many were inserted."""
    rows = await conn.fetch(
        f"""
        INSERT INTO events AS e (tenant_id, id, timestamp, content, metadata, embedding,
                                 user_id, agent_id, session_id, expires_at, importance, pinned)
        SELECT {TENANT}, i.id, coalesce(i.timestamp, now()), i.content, i.metadata, i.embedding,
               i.user_id, i.agent_id, i.session_id, i.expires_at, i.importance, i.pinned
        FROM unnest($1::uuid[], $2::timestamptz[], $3::jsonb[], $4::jsonb[], $5::vector[],
                    $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::real[],
                    $11::boolean[])
            AS i(id, timestamp, content, metadata, embedding, user_id, agent_id, session_id,
                 expires_at, importance, pinned)
        ON CONFLICT (tenant_id, id) DO NOTHING
        RETURNING e.id
        """,
        [event.id for event in events],
        [event.timestamp for event in events],
        [event.content for event in events],
        [event.metadata for event in events],
        [_vector(event.embedding) for event in events],
        [event.user_id for event in events],
        [event.agent_id for event in events],
        [event.session_id for event in events],
        [event.expires_at for event in events],
        [event.importance for event in events],
        [event.pinned for event in events],
    )
    return len(rows)


async def insert_files(conn: asyncpg.Connection, files: Sequence[CodeFileRecord]) -> int:
    """Insert the files whose id and (repository, path) are both new; return how many."""
    rows = await conn.fetch(
        f"""
        INSERT INTO code_files AS f (tenant_id, id, repository, path, language, content_hash,
                                     size_bytes, commit_hash, indexed_at)
        SELECT {TENANT}, u.id, u.repository, u.path, u.language, u.content_hash, u.size_bytes,
               u.commit_hash, u.indexed_at
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
                    $7::text[], $8::timestamptz[])
            AS u(id, repository, path, language, content_hash, size_bytes, commit_hash,
                 indexed_at)
        -- No target: a file is skipped when its id or its (repository, path) exists in the
        -- tenant (both constraints lead with tenant_id).
        ON CONFLICT DO NOTHING
        RETURNING f.id
        """,
        [file.id for file in files],
        [file.repository for file in files],
        [file.path for file in files],
        [file.language for file in files],
        [file.content_hash for file in files],
        [file.size_bytes for file in files],
        [file.commit_hash for file in files],
        [file.indexed_at for file in files],
    )
    return len(rows)


async def existing_chunk_ids(conn: asyncpg.Connection, ids: Sequence[UUID]) -> set[UUID]:
    rows = await conn.fetch(
        f"SELECT c.id FROM code_chunks c WHERE c.tenant_id = {TENANT} AND c.id = ANY($1::uuid[])",
        list(ids),
    )
    return {row["id"] for row in rows}


async def file_locations(
    conn: asyncpg.Connection, ids: Sequence[UUID]
) -> dict[UUID, tuple[str, str]]:
    """(repository, path) of the files with these ids."""
    rows = await conn.fetch(
        f"""
        SELECT f.id, f.repository, f.path FROM code_files f
        WHERE f.tenant_id = {TENANT} AND f.id = ANY($1::uuid[])
        """,
        list(ids),
    )
    return {row["id"]: (row["repository"], row["path"]) for row in rows}


async def insert_chunks(conn: asyncpg.Connection, chunks: Sequence[NewChunk]) -> int:
    """Insert the chunks whose id is new; return how many were inserted."""
    records = [chunk.record for chunk in chunks]
    rows = await conn.fetch(
        f"""
        INSERT INTO code_chunks AS c (tenant_id, id, file_id, repository, file_path, language,
            kind, name, qualified_name, start_line, end_line, source_code, metadata,
            embedding_text, embedding_code, search_name, search_doc, search_body)
        SELECT {TENANT}, u.id, u.file_id, u.repository, u.file_path, u.language, u.kind, u.name,
               u.qualified_name, u.start_line, u.end_line, u.source_code, u.metadata,
               u.embedding_text, u.embedding_code, u.search_name, u.search_doc, u.search_body
        FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::text[], $9::int[], $10::int[], $11::text[], $12::jsonb[],
                    $13::vector[], $14::vector[], $15::text[], $16::text[], $17::text[])
            AS u(id, file_id, repository, file_path, language, kind, name, qualified_name,
                 start_line, end_line, source_code, metadata, embedding_text, embedding_code,
                 search_name, search_doc, search_body)
        ON CONFLICT (tenant_id, id) DO NOTHING
        RETURNING c.id
        """,
        [r.id for r in records],
        [r.file_id for r in records],
        [r.repository for r in records],
        [r.file_path for r in records],
        [r.language for r in records],
        [r.kind for r in records],
        [r.name for r in records],
        [r.qualified_name for r in records],
        [r.start_line for r in records],
        [r.end_line for r in records],
        [r.source_code for r in records],
        [r.metadata for r in records],
        [_vector(chunk.embedding_text) for chunk in chunks],
        [_vector(chunk.embedding_code) for chunk in chunks],
        [chunk.search_name for chunk in chunks],
        [chunk.search_doc for chunk in chunks],
        [chunk.search_body for chunk in chunks],
    )
    return len(rows)
