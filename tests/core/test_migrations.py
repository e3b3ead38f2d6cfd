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


DEFAULT_TENANT = "00000000-0000-4000-8000-000000000001"
LEXICAL = {
    "events": ("events_lexical_bm25", "migrations"),
    "code_chunks": ("code_chunks_lexical_bm25", "ledger"),
}


async def lexical_state(url: str) -> dict[str, object]:
    """The derived lexical columns, the BM25 indexes and what a BM25 query finds in each table."""
    connection = await asyncpg.connect(url)
    try:
        state: dict[str, object] = {
            "function": await connection.fetchval(
                "SELECT to_regprocedure('event_lexical_text(jsonb)') IS NOT NULL"
            )
        }
        for table, (index, word) in LEXICAL.items():
            has_column = await connection.fetchval(
                "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = $1::regclass "
                "AND attname = 'lexical_text' AND NOT attisdropped)",
                table,
            )
            state[f"{table}.text"] = (
                [r[0] for r in await connection.fetch(f"SELECT lexical_text FROM {table}")]
                if has_column
                else None
            )
            has_index = await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", index)
            state[f"{table}.bm25"] = (
                await connection.fetchval(
                    f"SELECT count(*) FROM {table} "
                    f"WHERE lexical_text <@> to_bm25query($1, '{index}') < 0",
                    word,
                )
                if has_index
                else None
            )
    finally:
        await connection.close()
    return state


async def test_rows_written_before_0013_get_their_lexical_text(scratch_url):
    upgrade(scratch_url, "0012_plain_search_text_gin")
    connection = await asyncpg.connect(scratch_url)
    try:
        await connection.execute("SET mnemolite.tenant_id = '" + DEFAULT_TENANT + "'")
        for content, metadata in ROWS:
            await connection.execute(
                "INSERT INTO events (content, metadata) VALUES ($1::jsonb, $2::jsonb)",
                content,
                metadata,
            )
        await connection.execute(
            """INSERT INTO events (content) VALUES
               ('{"text": "nested", "parts": [{"note": "two words"}, 3, true, "last"]}')"""
        )
        file_id = await connection.fetchval(
            "INSERT INTO code_files (repository, path, language, content_hash, size_bytes) "
            "VALUES ('backend', 'ledger.py', 'python', 'h1', 10) RETURNING id"
        )
        await connection.execute(
            "INSERT INTO code_chunks (file_id, repository, file_path, language, kind, name, "
            "qualified_name, start_line, end_line, source_code, search_name, search_doc, "
            "search_body) VALUES ($1, 'backend', 'ledger.py', 'python', 'function', 'settle', "
            "'settle', 1, 2, 'def settle(): pass', 'settle', 'settle the ledger', 'ledger post')",
            file_id,
        )
    finally:
        await connection.close()
    before = await snapshot(scratch_url)

    upgrade(scratch_url)
    state = await lexical_state(scratch_url)
    assert state["function"] is True
    # The string values of the content, as jsonb_to_tsvector(..., '["string"]') reads them.
    assert sorted(state["events.text"]) == [
        "deploy failed with ERR-4312",
        "kept through downgrades",
        "nested two words last",
        "the billing migration is done",
    ]
    assert state["code_chunks.text"] == ["settle settle settle settle the ledger ledger post"]
    if state["events.bm25"] is not None:  # pg_textsearch here: the indexes hold the old rows
        assert state["events.bm25"] == 1 and state["code_chunks.bm25"] == 1

    downgrade(scratch_url, "0012_plain_search_text_gin")
    assert await snapshot(scratch_url) == before
    assert await lexical_state(scratch_url) == {
        "function": False,
        "events.text": None,
        "events.bm25": None,
        "code_chunks.text": None,
        "code_chunks.bm25": None,
    }
    upgrade(scratch_url)
    assert await lexical_state(scratch_url) == state
