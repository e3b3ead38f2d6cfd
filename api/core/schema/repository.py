"""SQL reading the schema's Alembic revision and vector size, for asyncpg and psycopg2 alike.

The backup commands read a restored database over psycopg2 (database-level statements cannot
run in asyncpg's pool), so each query is written once and run by either driver.
"""

from typing import Any

import asyncpg

# A psycopg2 cursor; the library ships no type information.
Cursor = Any

HAS_REVISION_TABLE = "SELECT to_regclass('alembic_version') IS NOT NULL"
REVISION = "SELECT version_num FROM alembic_version LIMIT 1"
# atttypmod of a pgvector column is its declared dimension.
EMBEDDING_DIMENSION = """
    SELECT a.atttypmod FROM pg_attribute a
    WHERE a.attrelid = to_regclass('events') AND a.attname = 'embedding'
"""


async def schema_revision(conn: asyncpg.Connection) -> str | None:
    """The Alembic revision the database is at (None when it was never migrated)."""
    if not await conn.fetchval(HAS_REVISION_TABLE):
        return None
    revision: str | None = await conn.fetchval(REVISION)
    return revision


async def embedding_dimension(conn: asyncpg.Connection) -> int | None:
    """The declared dimension of events.embedding (None when the table does not exist)."""
    value: int | None = await conn.fetchval(EMBEDDING_DIMENSION)
    return value


def schema_revision_sync(cursor: Cursor) -> str | None:
    cursor.execute(HAS_REVISION_TABLE)
    if not cursor.fetchone()[0]:
        return None
    cursor.execute(REVISION)
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def embedding_dimension_sync(cursor: Cursor) -> int | None:
    cursor.execute(EMBEDDING_DIMENSION)
    row = cursor.fetchone()
    return None if row is None else int(row[0])
