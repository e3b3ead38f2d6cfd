"""SQL for the health report (the schema revision is read by api.core.schema)."""

import asyncpg


async def ping(conn: asyncpg.Connection) -> None:
    await conn.fetchval("SELECT 1")


async def server_versions(conn: asyncpg.Connection) -> dict[str, str | None]:
    record = await conn.fetchrow(
        """
        SELECT current_setting('server_version') AS postgres,
               (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector
        """
    )
    return {"postgres": record["postgres"], "pgvector": record["pgvector"]}
