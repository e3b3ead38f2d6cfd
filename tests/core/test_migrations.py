"""Alembic owns the schema: reversible revisions that keep data, and adoption by `stamp`."""

import io
from contextlib import redirect_stdout

import asyncpg

from alembic import command
from api.core.migrations import alembic_config, downgrade, head_revision, upgrade

ROWS = [
    ('{"text": "the billing migration is done"}', '{"project": "alpha"}'),
    ('{"text": "deploy failed with ERR-4312"}', '{"project": "beta", "n": 2}'),
    ('{"title": "kept through downgrades"}', "{}"),
]


async def snapshot(url: str) -> list[tuple]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT id, timestamp, content::text, metadata::text, embedding::text "
            "FROM events ORDER BY id"
        )
    finally:
        await connection.close()
    return [tuple(row) for row in rows]


async def fetchval(url: str, sql: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def test_upgrade_downgrade_upgrade_keeps_rows(scratch_url):
    # Rows written before tenancy (0011 moves them into the default tenant, and back).
    upgrade(scratch_url, "0010_ui_session_epoch")
    vector = "[" + ",".join(["0.5"] * 384) + "]"
    connection = await asyncpg.connect(scratch_url)
    try:
        for content, metadata in ROWS:
            await connection.execute(
                "INSERT INTO events (content, metadata, embedding) "
                "VALUES ($1::jsonb, $2::jsonb, $3::vector)",
                content,
                metadata,
                vector,
            )
    finally:
        await connection.close()
    before = await snapshot(scratch_url)
    assert len(before) == 3

    downgrade(scratch_url, "0002_events")
    assert await fetchval(scratch_url, "SELECT version_num FROM alembic_version") == "0002_events"
    assert await snapshot(scratch_url) == before

    upgrade(scratch_url)
    assert await snapshot(scratch_url) == before
    # The derived full-text column is rebuilt for rows that existed before it.
    matches = await fetchval(
        scratch_url,
        "SELECT count(*) FROM events "
        "WHERE search_text @@ websearch_to_tsquery('english', 'migrations')",
    )
    assert matches == 1


async def test_every_revision_is_reversible_on_an_empty_database(scratch_url):
    upgrade(scratch_url)
    downgrade(scratch_url, "base")
    assert await fetchval(scratch_url, "SELECT to_regclass('events') IS NULL")
    upgrade(scratch_url)
    assert await fetchval(scratch_url, "SELECT version_num FROM alembic_version") == head_revision()


async def test_schema_follows_settings(scratch_url):
    upgrade(scratch_url)
    dimension = await fetchval(
        scratch_url,
        "SELECT atttypmod FROM pg_attribute "
        "WHERE attrelid = 'events'::regclass AND attname = 'embedding'",
    )
    assert dimension == 384
    index = await fetchval(
        scratch_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'events_embedding_hnsw'"
    )
    assert "hnsw" in index and "vector_cosine_ops" in index
    assert "m='16'" in index and "ef_construction='64'" in index
    storage = await fetchval(
        scratch_url,
        "SELECT attstorage FROM pg_attribute "
        "WHERE attrelid = 'events'::regclass AND attname = 'embedding'",
    )
    assert storage == b"m"  # vectors stay in the row (see migration 0002)


async def test_plain_sql_database_is_adopted_with_stamp(scratch_url):
    """A database built from SQL scripts (here: the offline SQL of every revision) is adopted."""
    config = alembic_config(scratch_url)
    buffer = io.StringIO()
    config.output_buffer = buffer
    with redirect_stdout(buffer):
        command.upgrade(config, "head", sql=True)
    statements = buffer.getvalue().split(";\n")
    script = ";\n".join(sql for sql in statements if "alembic_version" not in sql)
    connection = await asyncpg.connect(scratch_url)
    try:
        await connection.execute(script)
        assert await connection.fetchval("SELECT to_regclass('alembic_version') IS NULL")
    finally:
        await connection.close()

    command.stamp(alembic_config(scratch_url), "head")
    assert await fetchval(scratch_url, "SELECT version_num FROM alembic_version") == head_revision()
    upgrade(scratch_url)  # nothing left to do, and nothing breaks
