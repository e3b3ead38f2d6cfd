"""Which lexical ranking a database gets: decided once at start-up from the BM25 indexes that
migration 0013 could build, reported by /health, and warned about when it is the fallback."""

import logging
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from structlog.testing import capture_logs

from api.core.local_postgres import admin_cursor, with_database
from api.core.migrations import upgrade
from api.core.schema.service import lexical_ranking
from api.main import create_app

BM25_INDEXES = ("events_lexical_bm25", "code_chunks_lexical_bm25")
# Owns the database it migrates but is no superuser: pg_textsearch is not a trusted extension.
OWNER = "mnemolite_bm25_owner"


async def ranking_of(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return await lexical_ranking(connection)
    finally:
        await connection.close()


async def bm25_available(url: str) -> bool:
    connection = await asyncpg.connect(url)
    try:
        return bool(
            await connection.fetchval(
                "SELECT current_setting('pg_textsearch.library_version', true) IS NOT NULL"
            )
        )
    finally:
        await connection.close()


async def test_the_test_database_ranks_with_bm25(database_url):
    if not await bm25_available(database_url):
        pytest.skip("pg_textsearch is not loaded on the test server")
    assert await ranking_of(database_url) == "bm25"


async def test_without_a_bm25_index_start_up_falls_back_and_says_so(
    scratch_url, settings, embedders
):
    upgrade(scratch_url)
    connection = await asyncpg.connect(scratch_url)
    try:
        await connection.execute("DROP INDEX IF EXISTS events_lexical_bm25")
    finally:
        await connection.close()
    assert await ranking_of(scratch_url) == "ts_rank"

    app = create_app(settings, embedders=embedders, database_url=scratch_url)
    with capture_logs() as logs:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                health = (await client.get("/health")).json()
                created = await client.post("/v1/events", json={"content": {"text": "ERR-4312"}})
                assert created.status_code == 201
                body = {"query": "ERR-4312", "mode": "lexical"}
                result = (await client.post("/v1/search", json=body)).json()
                code = await client.post("/v1/code/search/lexical", json={"query": "retry"})
    assert health["services"]["search"] == {"lexical_ranking": "ts_rank"}
    assert result["meta"]["lexical_ranking"] == "ts_rank"
    assert [hit["id"] for hit in result["data"]] == [created.json()["id"]]
    assert code.status_code == 200 and code.json()["lexical_ranking"] == "ts_rank"
    [warning] = [entry for entry in logs if entry["event"] == "lexical_ranking_fallback"]
    assert warning["log_level"] == "warning" and warning["lexical_ranking"] == "ts_rank"
    assert "pg_textsearch" in warning["hint"] and "make install" in warning["hint"]
    assert "docs/operations.md" in warning["hint"]


async def test_search_lexical_ranking_ts_rank_is_kept_where_bm25_could_rank(database_url, app_with):
    if not await bm25_available(database_url):
        pytest.skip("pg_textsearch is not loaded on the test server")
    with capture_logs() as logs:
        async with app_with(search_lexical_ranking="ts_rank") as client:
            health = (await client.get("/health")).json()
            await client.post("/v1/events", json={"content": {"text": "support group"}})
            body = {"query": '"support group" -cancelled', "mode": "lexical"}
            result = (await client.post("/v1/search", json=body)).json()
    assert health["services"]["search"] == {"lexical_ranking": "ts_rank"}
    assert result["meta"]["lexical_ranking"] == "ts_rank" and len(result["data"]) == 1
    assert not [entry for entry in logs if entry["event"] == "lexical_ranking_fallback"]


def as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{role}@{host}").geturl()


async def test_a_role_that_cannot_create_the_extension_gets_the_columns_without_indexes(
    admin_url, database_url, scratch_url, caplog
):
    """The revision applies; the reason is logged; the service would rank with ts_rank."""
    name = urlsplit(scratch_url).path.lstrip("/")
    with admin_cursor(admin_url) as cursor:
        cursor.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER}') "
            f"THEN CREATE ROLE {OWNER} LOGIN; END IF; END $$"
        )
        # The service's roles exist (the session database made them); the owner may use them.
        cursor.execute(f"GRANT mnemolite_app, mnemolite_system TO {OWNER}")
        cursor.execute(f"ALTER DATABASE {name} OWNER TO {OWNER}")
    # What an administrator creates for such an owner: the extensions that are not trusted.
    with admin_cursor(with_database(admin_url, name)) as cursor:
        cursor.execute("CREATE EXTENSION vector")
        cursor.execute("CREATE EXTENSION pg_trgm")
        cursor.execute("CREATE EXTENSION btree_gin")
    owned = as_role(scratch_url, OWNER)
    with caplog.at_level(logging.INFO, logger="alembic"):
        upgrade(owned)
    assert await ranking_of(owned) == "ts_rank"
    connection = await asyncpg.connect(owned)
    try:
        missing = await connection.fetchval(
            "SELECT bool_and(to_regclass(name) IS NULL) FROM unnest($1::text[]) AS name",
            list(BM25_INDEXES),
        )
        columns = await connection.fetchval(
            "SELECT count(*) FROM pg_attribute WHERE attname = 'lexical_text' "
            "AND attrelid IN ('events'::regclass, 'code_chunks'::regclass)"
        )
    finally:
        await connection.close()
    assert missing and columns == 2
    [line] = [r.getMessage() for r in caplog.records if "no BM25 indexes" in r.getMessage()]
    assert "pg_textsearch" in line
    if await bm25_available(database_url):
        assert "permission denied" in line  # installed, preloaded: only the right was missing
