"""SQL for health checks and start-up checks."""

import asyncpg


async def ping(conn: asyncpg.Connection) -> None:
    await conn.fetchval("SELECT 1")


async def schema_revision(conn: asyncpg.Connection) -> str | None:
    """The Alembic revision the database is at (None when it was never migrated)."""
    exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
    if not exists:
        return None
    revision: str | None = await conn.fetchval("SELECT version_num FROM alembic_version LIMIT 1")
    return revision


async def server_versions(conn: asyncpg.Connection) -> dict[str, str | None]:
    record = await conn.fetchrow(
        """
        SELECT current_setting('server_version') AS postgres,
               (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector
        """
    )
    return {"postgres": record["postgres"], "pgvector": record["pgvector"]}
