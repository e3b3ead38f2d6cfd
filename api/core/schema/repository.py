"""SQL reading the schema's Alembic revision and vector size, for asyncpg and psycopg2 alike,
and whether its BM25 indexes are there.

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


# Migration 0013 builds them where pg_textsearch could be created (its names are also there).
BM25_INDEXES = ("events_lexical_bm25", "code_chunks_lexical_bm25")
COUNT_BM25_INDEXES = """
    SELECT count(*) FROM pg_class i JOIN pg_am am ON am.oid = i.relam
    WHERE i.oid IN (SELECT to_regclass(name) FROM unnest($1::text[]) AS name)
      AND am.amname = 'bm25'
"""
# The library defines this setting when the server loads it; shared_preload_libraries itself
# is readable by superusers only, and the service's role is none.
TEXTSEARCH_LOADED = "SELECT current_setting('pg_textsearch.library_version', true) IS NOT NULL"


async def bm25_ready(conn: asyncpg.Connection) -> bool:
    """Whether every BM25 index exists and the server loaded pg_textsearch to read them (an
    index outlives the preload: a server restarted without it fails every BM25 query)."""
    found = await conn.fetchval(COUNT_BM25_INDEXES, list(BM25_INDEXES))
    return found == len(BM25_INDEXES) and bool(await conn.fetchval(TEXTSEARCH_LOADED))
