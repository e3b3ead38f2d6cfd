"""All SQL on code_files and code_chunks. Values always travel as bind parameters.

Every query reads and writes the connection's tenant only (`TENANT`); the tenant_id columns
take it by default on insert, and the file upsert's conflict target carries it, so two tenants
may index repositories of the same name side by side."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import pgvector

from api.code.index.chunking import Chunk
from api.code.index.schemas import ChunkRead, RepositorySummary
from api.core.database import TENANT
from api.embeddings.protocol import Vector


@dataclass(frozen=True)
class StoredFile:
    path: str
    language: str
    content_hash: str
    size_bytes: int


@dataclass(frozen=True)
class NewChunk:
    chunk: Chunk
    embedding_text: Vector | None
    embedding_code: Vector | None
    search_name: str
    search_doc: str
    search_body: str


def _vector(value: Vector | None) -> pgvector.Vector | None:
    return None if value is None else pgvector.Vector(value)


async def lock_repository(conn: asyncpg.Connection, repository: str) -> None:
    """Wait for, then hold until the transaction ends, the write lock of a repository's index.

    Index writes, deletions and graph rebuilds of one repository take it, so they serialize;
    other repositories, and the same name in another tenant, are not blocked. Re-entrant within
    a transaction. The two-key form keeps these locks apart from any other advisory lock; a
    hashtext collision only serializes two repositories needlessly.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('mnemolite.code_index'), "
        f"hashtext(coalesce({TENANT}::text, '') || '/' || $1))",
        repository,
    )


async def stored_hashes(
    conn: asyncpg.Connection, repository: str, paths: Sequence[str]
) -> dict[str, str]:
    records = await conn.fetch(
        "SELECT f.path, f.content_hash FROM code_files f "
        f"WHERE f.tenant_id = {TENANT} AND f.repository = $1 AND f.path = ANY($2)",
        repository,
        list(paths),
    )
    return {record["path"]: record["content_hash"] for record in records}


async def replace_file(
    conn: asyncpg.Connection,
    *,
    repository: str,
    file: StoredFile,
    commit_hash: str | None,
    chunks: Sequence[NewChunk],
) -> None:
    """Store a file and swap its chunks for `chunks` (call inside a transaction)."""
    file_id = await conn.fetchval(
        """
        INSERT INTO code_files AS f (repository, path, language, content_hash, size_bytes,
                                     commit_hash, indexed_at)
        VALUES ($1, $2, $3, $4, $5, $6, now())
        ON CONFLICT (tenant_id, repository, path) DO UPDATE
        SET language = excluded.language, content_hash = excluded.content_hash,
            size_bytes = excluded.size_bytes, commit_hash = excluded.commit_hash,
            indexed_at = excluded.indexed_at
        RETURNING f.id
        """,
        repository,
        file.path,
        file.language,
        file.content_hash,
        file.size_bytes,
        commit_hash,
    )
    await conn.execute(
        f"DELETE FROM code_chunks c WHERE c.tenant_id = {TENANT} AND c.file_id = $1", file_id
    )
    if not chunks:
        return
    # RETURNING (of nothing) on every INSERT ... SELECT: without it a Citus coordinator moves
    # the rows to the shards with COPY, which row-level security refuses.
    await conn.execute(
        """
        INSERT INTO code_chunks (file_id, repository, file_path, language, kind, name,
            qualified_name, start_line, end_line, source_code, metadata, embedding_text,
            embedding_code, search_name, search_doc, search_body)
        SELECT $1, $2, $3, $4, u.kind, u.name, u.qualified_name, u.start_line, u.end_line,
               u.source_code, u.metadata, u.embedding_text, u.embedding_code, u.search_name,
               u.search_doc, u.search_body
        FROM unnest($5::text[], $6::text[], $7::text[], $8::int[], $9::int[], $10::text[],
                    $11::jsonb[], $12::vector[], $13::vector[], $14::text[], $15::text[],
                    $16::text[])
            AS u(kind, name, qualified_name, start_line, end_line, source_code, metadata,
                 embedding_text, embedding_code, search_name, search_doc, search_body)
        RETURNING NULL
        """,
        file_id,
        repository,
        file.path,
        file.language,
        [c.chunk.kind for c in chunks],
        [c.chunk.name for c in chunks],
        [c.chunk.qualified_name for c in chunks],
        [c.chunk.start_line for c in chunks],
        [c.chunk.end_line for c in chunks],
        [c.chunk.source for c in chunks],
        [c.chunk.metadata for c in chunks],
        [_vector(c.embedding_text) for c in chunks],
        [_vector(c.embedding_code) for c in chunks],
        [c.search_name for c in chunks],
        [c.search_doc for c in chunks],
        [c.search_body for c in chunks],
    )


async def delete_files(conn: asyncpg.Connection, repository: str, paths: Sequence[str]) -> int:
    deleted = await conn.fetch(
        f"DELETE FROM code_files f WHERE f.tenant_id = {TENANT} AND f.repository = $1 "
        "AND f.path = ANY($2) RETURNING f.id",
        repository,
        list(paths),
    )
    return len(deleted)


async def delete_files_except(
    conn: asyncpg.Connection, repository: str, keep: Sequence[str]
) -> int:
    deleted = await conn.fetch(
        f"DELETE FROM code_files f WHERE f.tenant_id = {TENANT} AND f.repository = $1 "
        "AND NOT (f.path = ANY($2)) RETURNING f.id",
        repository,
        list(keep),
    )
    return len(deleted)


async def list_repositories(conn: asyncpg.Connection) -> list[RepositorySummary]:
    records = await conn.fetch(
        f"""
        WITH files AS (
            SELECT repository, count(*) AS file_count, max(indexed_at) AS last_indexed
            FROM code_files WHERE tenant_id = {TENANT} GROUP BY repository
        ), chunks AS (
            SELECT repository, count(*) AS chunk_count FROM code_chunks
            WHERE tenant_id = {TENANT} GROUP BY repository
        )
        SELECT f.repository, f.file_count, coalesce(c.chunk_count, 0) AS chunk_count,
               f.last_indexed
        FROM files f LEFT JOIN chunks c USING (repository)
        ORDER BY f.repository
        """
    )
    return [RepositorySummary(**dict(record)) for record in records]


async def get_repository(conn: asyncpg.Connection, repository: str) -> RepositorySummary | None:
    record = await conn.fetchrow(
        f"""
        SELECT $1::text AS repository, count(*) AS file_count, max(f.indexed_at) AS last_indexed,
               (SELECT count(*) FROM code_chunks c
                WHERE c.tenant_id = {TENANT} AND c.repository = $1) AS chunk_count
        FROM code_files f WHERE f.tenant_id = {TENANT} AND f.repository = $1
        """,
        repository,
    )
    if record is None or record["file_count"] == 0:
        return None
    return RepositorySummary(**dict(record))


async def chunks_by_language(conn: asyncpg.Connection, repository: str) -> dict[str, int]:
    records = await conn.fetch(
        f"""
        SELECT c.language, count(*) AS chunks FROM code_chunks c
        WHERE c.tenant_id = {TENANT} AND c.repository = $1
        GROUP BY c.language ORDER BY count(*) DESC, c.language
        """,
        repository,
    )
    return {record["language"]: record["chunks"] for record in records}


async def delete_repository(conn: asyncpg.Connection, repository: str) -> tuple[int, int]:
    """Delete a repository's files and (by cascade) chunks; return (files, chunks)."""
    chunks: int = await conn.fetchval(
        f"SELECT count(*) FROM code_chunks c WHERE c.tenant_id = {TENANT} AND c.repository = $1",
        repository,
    )
    # Module and external nodes belong to no chunk, so the cascade does not reach them.
    await conn.execute(
        f"DELETE FROM nodes n WHERE n.tenant_id = {TENANT} AND n.repository = $1", repository
    )
    files = await conn.fetch(
        f"DELETE FROM code_files f WHERE f.tenant_id = {TENANT} AND f.repository = $1 "
        "RETURNING f.id",
        repository,
    )
    return len(files), chunks


async def chunk_rows(conn: asyncpg.Connection, repository: str) -> list[dict[str, Any]]:
    """Every chunk of a repository (for tests and tools), in file and line order."""
    records = await conn.fetch(
        f"""
        SELECT id, file_path, kind, name, qualified_name, start_line, end_line, metadata,
               embedding_text IS NOT NULL AS has_text_vector,
               embedding_code IS NOT NULL AS has_code_vector
        FROM code_chunks WHERE tenant_id = {TENANT} AND repository = $1
        ORDER BY file_path, start_line, kind
        """,
        repository,
    )
    return [dict(record) for record in records]


async def get_chunk(conn: asyncpg.Connection, chunk_id: UUID) -> ChunkRead | None:
    record = await conn.fetchrow(
        f"""
        SELECT id, repository, file_path, language, kind, name, qualified_name, start_line,
               end_line, source_code, metadata
        FROM code_chunks WHERE tenant_id = {TENANT} AND id = $1
        """,
        chunk_id,
    )
    return ChunkRead(**dict(record)) if record else None
