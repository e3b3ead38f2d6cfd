"""What the database server offers beyond core PostgreSQL: extensions it can create.

pg_textsearch (BM25) is usable only where both hold: the server has its files
(`pg_available_extensions`) and loaded its library at start (`shared_preload_libraries`).
"""

import asyncpg


async def extension_available(conn: asyncpg.Connection, name: str) -> bool:
    """Whether `CREATE EXTENSION name` can find the extension's files on this server."""
    available = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)", name
    )
    return bool(available)


async def library_preloaded(conn: asyncpg.Connection, library: str) -> bool:
    """Whether the server loaded `library` at start (listed in shared_preload_libraries)."""
    setting = await conn.fetchval("SELECT current_setting('shared_preload_libraries')")
    return library in {entry.strip().strip('"') for entry in str(setting).split(",")}
