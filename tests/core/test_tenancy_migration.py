"""Migration 0011 moves every existing row into the default tenant, loses nothing, and reverses."""

import asyncpg
import pytest

from api.core.migrations import downgrade, upgrade
from api.core.tenancy.schemas import DEFAULT_TENANT_ID

BEFORE = "0010_ui_session_epoch"
TABLES = ("events", "code_files", "code_chunks", "nodes", "edges", "index_jobs", "idempotency_keys")


def vector(first: float) -> str:
    return "[" + ",".join([str(first)] + ["0.1"] * 383) + "]"


async def fill(connection: asyncpg.Connection) -> None:
    """A row or more in every table, written as the schema before tenancy allowed."""
    for n, text in enumerate(["billing migration done", "deploy failed", "cache warmed"]):
        await connection.execute(
            "INSERT INTO events (content, metadata, embedding) VALUES ($1, $2, $3::vector)",
            f'{{"text": "{text}"}}',
            f'{{"n": {n}}}',
            vector(n / 3),
        )
    file_id = await connection.fetchval(
        "INSERT INTO code_files (repository, path, language, content_hash, size_bytes) "
        "VALUES ('backend', 'app.py', 'python', 'h1', 10) RETURNING id"
    )
    chunk_ids = []
    for name in ("main", "helper"):
        chunk_ids.append(
            await connection.fetchval(
                "INSERT INTO code_chunks (file_id, repository, file_path, language, kind, name, "
                "qualified_name, start_line, end_line, source_code, embedding_text, "
                "embedding_code, search_name) VALUES ($1, 'backend', 'app.py', 'python', "
                "'function', $2, $2, 1, 2, 'def x(): pass', $3::vector, $3::vector, $2) "
                "RETURNING id",
                file_id,
                name,
                vector(0.5),
            )
        )
    node_ids = [
        await connection.fetchval(
            "INSERT INTO nodes (repository, chunk_id, kind, name, qualified_name) "
            "VALUES ('backend', $1, 'function', $2, $2) RETURNING id",
            chunk_id,
            name,
        )
        for chunk_id, name in zip(chunk_ids, ("main", "helper"), strict=True)
    ]
    await connection.execute(
        "INSERT INTO edges (repository, source_id, target_id, relationship) "
        "VALUES ('backend', $1, $2, 'calls')",
        *node_ids,
    )
    await connection.execute(
        "INSERT INTO index_jobs (repository, total_files) VALUES ('backend', 1)"
    )
    await connection.execute(
        "INSERT INTO idempotency_keys (key, request_hash) VALUES ('retry-1', 'abc')"
    )


async def state(url: str) -> dict[str, object]:
    """Row counts of every table and what three searches return."""
    connection = await asyncpg.connect(url)
    try:
        result: dict[str, object] = {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES
        }
        result["vector"] = [
            r["id"]
            for r in await connection.fetch(
                "SELECT id FROM events ORDER BY embedding <=> $1::vector LIMIT 3", vector(1.0)
            )
        ]
        result["lexical"] = [
            r["id"]
            for r in await connection.fetch(
                "SELECT id FROM events WHERE search_text @@ websearch_to_tsquery('english', "
                "'deploy')"
            )
        ]
        result["graph"] = await connection.fetchval(
            "SELECT count(*) FROM edges e JOIN nodes s ON s.id = e.source_id "
            "JOIN nodes t ON t.id = e.target_id"
        )
        return result
    finally:
        await connection.close()


async def test_existing_rows_move_into_the_default_tenant_and_back(scratch_url):
    upgrade(scratch_url, BEFORE)
    connection = await asyncpg.connect(scratch_url)
    try:
        await fill(connection)
    finally:
        await connection.close()
    before = await state(scratch_url)
    assert all(before[table] for table in TABLES)

    upgrade(scratch_url)
    assert await state(scratch_url) == before
    connection = await asyncpg.connect(scratch_url)
    try:
        for table in TABLES:
            tenants = await connection.fetch(f"SELECT DISTINCT tenant_id FROM {table}")
            assert [r["tenant_id"] for r in tenants] == [DEFAULT_TENANT_ID], table
    finally:
        await connection.close()

    downgrade(scratch_url, BEFORE)
    assert await state(scratch_url) == before
    upgrade(scratch_url)
    assert await state(scratch_url) == before


async def test_downgrade_refuses_while_another_tenant_has_rows(scratch_url):
    upgrade(scratch_url)
    connection = await asyncpg.connect(scratch_url)
    try:
        other = await connection.fetchval("INSERT INTO tenants (name) VALUES ('acme') RETURNING id")
        await connection.execute(
            "INSERT INTO events (tenant_id, content, embedding) VALUES ($1, $2, $3::vector)",
            other,
            '{"text": "acme only"}',
            vector(0.2),
        )
    finally:
        await connection.close()
    with pytest.raises(Exception, match="tenant other than default"):
        downgrade(scratch_url, BEFORE)
    connection = await asyncpg.connect(scratch_url)
    try:  # still at head, nothing dropped
        assert (
            await connection.fetchval("SELECT version_num FROM alembic_version") == "0011_tenancy"
        )
        assert (
            await connection.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", other)
            == 1
        )
    finally:
        await connection.close()


async def test_a_write_without_a_tenant_fails_instead_of_landing_somewhere(scratch_url):
    upgrade(scratch_url)
    connection = await asyncpg.connect(scratch_url)
    try:
        with pytest.raises(asyncpg.NotNullViolationError):
            await connection.execute(
                "INSERT INTO events (content, embedding) VALUES ($1, $2::vector)",
                '{"text": "whose?"}',
                vector(0.3),
            )
    finally:
        await connection.close()
