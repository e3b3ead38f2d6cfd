"""SQL of the model switch: new vector columns beside the old ones, filled in batches, then
swapped for them in one short transaction.

DDL cannot take bind parameters for names or type modifiers: every identifier below is a
constant of this module and every size a validated integer. Values are bind parameters.

The switch is global: it converts every tenant's rows, as the tables' owner (whom the tenant
policies do not bind; the command sets its connection across tenants as well). A row is known
by (tenant_id, id), the primary key: two tenants may hold the same id (one export imported into
both), so the batches walk that key and each UPDATE matches on both columns.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np
import pgvector

from api.core.vectors.repository import hnsw_index_sql
from api.core.vectors.schemas import HnswStorage
from api.embeddings.protocol import Vector
from api.ops.model_switch.schemas import ChunkToEmbed, EventToEmbed, Remaining, RowKey

# The application name of the service's pool (api.core.database.create_pool).
SERVICE_APPLICATION_NAME = "mnemolite"


@dataclass(frozen=True)
class VectorColumn:
    table: str
    column: str
    index: str  # the HNSW index the migrations create on it

    @property
    def new_column(self) -> str:
        return f"{self.column}_next"

    @property
    def new_index(self) -> str:
        return f"{self.table}_{self.new_column}_hnsw"


EVENTS = VectorColumn("events", "embedding", "events_embedding_hnsw")
CHUNK_TEXT = VectorColumn("code_chunks", "embedding_text", "code_chunks_embedding_text_hnsw")
CHUNK_CODE = VectorColumn("code_chunks", "embedding_code", "code_chunks_embedding_code_hnsw")
VECTOR_COLUMNS = (EVENTS, CHUNK_TEXT, CHUNK_CODE)

_MISSING_TEXT = "embedding_text IS NOT NULL AND embedding_text_next IS NULL"
_MISSING_CODE = "embedding_code IS NOT NULL AND embedding_code_next IS NULL"


def _vector(value: Vector | None) -> pgvector.Vector | None:
    return None if value is None else pgvector.Vector(np.asarray(value, dtype=np.float32))


async def service_sessions(conn: asyncpg.Connection) -> int:
    """Connections of a running service (or worker) to this database, other than ours."""
    count: int = await conn.fetchval(
        """
        SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = $1
          AND pid <> pg_backend_pid()
        """,
        SERVICE_APPLICATION_NAME,
    )
    return count


async def column_note(conn: asyncpg.Connection, table: str, column: str) -> tuple[int, str] | None:
    """(declared dimension, comment) of a column, or None when it does not exist."""
    row = await conn.fetchrow(
        """
        SELECT a.atttypmod AS dimension, coalesce(col_description(a.attrelid, a.attnum), '') AS note
        FROM pg_attribute a
        WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped
        """,
        table,
        column,
    )
    return None if row is None else (row["dimension"], row["note"])


async def drop_new_column(conn: asyncpg.Connection, target: VectorColumn) -> None:
    """Drop the new column (its index goes with it); the old column is untouched."""
    await conn.execute(f"ALTER TABLE {target.table} DROP COLUMN IF EXISTS {target.new_column}")


async def add_new_column(
    conn: asyncpg.Connection, target: VectorColumn, *, dimension: int, note: str
) -> None:
    """Add the new, empty column, noting which models it is for (checked when resuming)."""
    size = int(dimension)
    await conn.execute(f"ALTER TABLE {target.table} ADD COLUMN {target.new_column} vector({size})")
    # Vectors in the row, as the migrations set them (see 0002).
    await conn.execute(
        f"ALTER TABLE {target.table} ALTER COLUMN {target.new_column} SET STORAGE MAIN"
    )
    # COMMENT takes no bind parameters: PostgreSQL's format() quotes the value as a literal.
    statement: str = await conn.fetchval(
        "SELECT format('COMMENT ON COLUMN %I.%I IS %L', $1::text, $2::text, $3::text)",
        target.table,
        target.new_column,
        note,
    )
    await conn.execute(statement)


async def remaining(conn: asyncpg.Connection) -> Remaining:
    row = await conn.fetchrow(
        f"""
        SELECT (SELECT count(*) FROM events WHERE embedding_next IS NULL) AS events,
               (SELECT count(*) FROM code_chunks WHERE {_MISSING_TEXT}) AS chunk_texts,
               (SELECT count(*) FROM code_chunks WHERE {_MISSING_CODE}) AS chunk_codes
        """
    )
    return Remaining(**dict(row))


async def row_counts(conn: asyncpg.Connection) -> tuple[int, int]:
    """(events, code chunks)."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM events) AS events, "
        "(SELECT count(*) FROM code_chunks) AS chunks"
    )
    return row["events"], row["chunks"]


async def events_to_embed(
    conn: asyncpg.Connection, *, after: RowKey, limit: int
) -> list[EventToEmbed]:
    """The next events (in key order, after `after`) that have no new vector yet."""
    rows = await conn.fetch(
        """
        SELECT e.tenant_id, e.id, e.content FROM events e
        WHERE (e.tenant_id, e.id) > ($1, $2) AND e.embedding_next IS NULL
        ORDER BY e.tenant_id, e.id LIMIT $3
        """,
        *after,
        limit,
    )
    return [EventToEmbed(**dict(row)) for row in rows]


async def set_event_vectors(
    conn: asyncpg.Connection, keys: Sequence[RowKey], vectors: Sequence[Vector]
) -> None:
    await conn.execute(
        """
        UPDATE events AS e SET embedding_next = u.vector
        FROM unnest($1::uuid[], $2::uuid[], $3::vector[]) AS u(tenant_id, id, vector)
        WHERE e.tenant_id = u.tenant_id AND e.id = u.id
        """,
        [tenant_id for tenant_id, _ in keys],
        [row_id for _, row_id in keys],
        [_vector(vector) for vector in vectors],
    )


async def chunks_to_embed(
    conn: asyncpg.Connection, *, after: RowKey, limit: int
) -> list[ChunkToEmbed]:
    """The next chunks with an old vector that has no new counterpart yet.

    A chunk indexed without embeddings has none to convert and is never returned.
    """
    rows = await conn.fetch(
        f"""
        SELECT tenant_id, id, name, qualified_name, kind, language, file_path, start_line,
               end_line, source_code, metadata,
               ({_MISSING_TEXT}) AS needs_text, ({_MISSING_CODE}) AS needs_code
        FROM code_chunks
        WHERE (tenant_id, id) > ($1, $2) AND (({_MISSING_TEXT}) OR ({_MISSING_CODE}))
        ORDER BY tenant_id, id LIMIT $3
        """,
        *after,
        limit,
    )
    return [ChunkToEmbed(**dict(row)) for row in rows]


async def set_chunk_vectors(
    conn: asyncpg.Connection,
    keys: Sequence[RowKey],
    text_vectors: Sequence[Vector | None],
    code_vectors: Sequence[Vector | None],
) -> None:
    """Store new vectors; a None leaves that chunk's column as it is."""
    await conn.execute(
        """
        UPDATE code_chunks AS c
        SET embedding_text_next = coalesce(u.text_vector, c.embedding_text_next),
            embedding_code_next = coalesce(u.code_vector, c.embedding_code_next)
        FROM unnest($1::uuid[], $2::uuid[], $3::vector[], $4::vector[])
            AS u(tenant_id, id, text_vector, code_vector)
        WHERE c.tenant_id = u.tenant_id AND c.id = u.id
        """,
        [tenant_id for tenant_id, _ in keys],
        [row_id for _, row_id in keys],
        [_vector(vector) for vector in text_vectors],
        [_vector(vector) for vector in code_vectors],
    )


async def create_new_index(
    conn: asyncpg.Connection,
    target: VectorColumn,
    *,
    storage: HnswStorage,
    dimension: int,
    m: int,
    ef_construction: int,
) -> None:
    """The HNSW index of the new column, as the migrations build one."""
    await conn.execute(
        hnsw_index_sql(
            target.table,
            target.new_column,
            target.new_index,
            storage=storage,
            dimension=dimension,
            m=m,
            ef_construction=ef_construction,
        )
    )


async def set_lock_timeout(conn: asyncpg.Connection, *, timeout_ms: int) -> None:
    """Fail instead of waiting longer than `timeout_ms` for a lock (inside a transaction)."""
    await conn.execute(f"SET LOCAL lock_timeout = {int(timeout_ms)}")


async def lock_tables(conn: asyncpg.Connection) -> None:
    """Both tables to this transaction alone, for the swap."""
    await conn.execute("LOCK TABLE events, code_chunks IN ACCESS EXCLUSIVE MODE")


async def replace_column(conn: asyncpg.Connection, target: VectorColumn) -> None:
    """Drop the old column and its index, give the new ones their names (in the swap)."""
    await conn.execute(f"DROP INDEX IF EXISTS {target.index}")
    await conn.execute(f"ALTER TABLE {target.table} DROP COLUMN {target.column}")
    await conn.execute(
        f"ALTER TABLE {target.table} RENAME COLUMN {target.new_column} TO {target.column}"
    )
    await conn.execute(f"ALTER INDEX {target.new_index} RENAME TO {target.index}")
    await conn.execute(f"COMMENT ON COLUMN {target.table}.{target.column} IS NULL")


async def vacuum_analyze(conn: asyncpg.Connection) -> None:
    """Reclaim the row versions the fill left behind and refresh statistics (no transaction)."""
    await conn.execute("VACUUM (ANALYZE) events, code_chunks")
