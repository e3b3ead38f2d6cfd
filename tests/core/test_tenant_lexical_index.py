"""A large tenant's own BM25 index: its searches read it, rank by its own word statistics and
find only its rows; a dropped or unfinished one is never read, and no search fails for it."""

from uuid import UUID

import asyncpg
import pytest

from api.core.database import Database, create_pool, set_tenant
from api.core.lexical import service as lexical
from api.core.lexical.repository import TENANT_INDEX_TEXT, tenant_index_name
from api.core.lexical.service import TenantIndexes
from api.core.schema.service import lexical_ranking
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.core.vectors.schemas import SearchTuning
from api.memory.search import service as search
from api.memory.search.schemas import SearchRequest

pytestmark = pytest.mark.usefixtures("_bm25")


@pytest.fixture
async def _bm25(conn: asyncpg.Connection) -> None:
    if await lexical_ranking(conn) != "bm25":
        pytest.skip("pg_textsearch is not available on this server")


async def write(conn: asyncpg.Connection, tenant_id: UUID, texts: list[str]) -> None:
    await set_tenant(conn, tenant_id)
    await conn.execute(
        "INSERT INTO events (content) "
        "SELECT jsonb_build_object('text', t) FROM unnest($1::text[]) t",
        texts,
    )


async def test_a_tenant_index_is_read_for_its_tenant_alone(
    database_url, settings, metrics, embedders, conn, other
):
    mine = ["the apple orchard", "a banana split", "apple pie with banana", "plain words"]
    await write(conn, DEFAULT_TENANT_ID, mine)
    # The other tenant makes "apple" common in the shared index: a low weight there.
    await write(conn, other, [f"apple number {n}" for n in range(200)])
    # Statistics in which the shared index is the cheaper path: the planner would take it
    # over the tenant's own, were both written for the same expression.
    await conn.execute("ANALYZE events")
    index = await lexical.create_tenant_index(conn, DEFAULT_TENANT_ID)
    assert index == tenant_index_name("events", DEFAULT_TENANT_ID)
    listed = await lexical.tenant_indexes(conn)
    assert [(i.name, i.tenant, i.valid) for i in listed] == [(index, "default", True)]

    tuning = SearchTuning(lexical_ranking="bm25")
    pool = await create_pool(database_url, settings)
    try:
        database = Database(pool, metrics)

        async def scores(tenant_id: UUID, query: str) -> dict[str, float]:
            async with database.for_tenant(tenant_id).connection() as service:
                found = await search.search(
                    service,
                    embedders.text,
                    SearchRequest(query=query, mode="lexical", limit=10),
                    tuning=tuning,
                )
            assert all(hit.score is not None for hit in found.data)
            return {hit.content["text"]: hit.score or 0.0 for hit in found.data}

        own = await scores(DEFAULT_TENANT_ID, "apple")
        assert set(own) == {"the apple orchard", "apple pie with banana"}
        # The tenant's own statistics ("apple" in half its texts, the other tenant's 200
        # not counted): its scores are the operator's on its own index.
        await set_tenant(conn, DEFAULT_TENANT_ID)
        for text, score in own.items():
            expected = await conn.fetchval(
                f"SELECT -({TENANT_INDEX_TEXT.format(column='lexical_text')} "
                f"<@> to_bm25query('apple', '{index}')) "
                "FROM events WHERE content->>'text' = $1",
                text,
            )
            assert score == pytest.approx(expected)
        # A tenant without an index of its own reads the shared one, named (large) or not.
        theirs = await scores(other, "apple orchard")
        assert len(theirs) == 10 and "the apple orchard" not in theirs
        tuning.large_tenants.remember(other, "events")
        assert await scores(other, "apple orchard") == pytest.approx(theirs)

        # Dropped while the search still takes it to exist: the search runs on the shared one.
        assert await lexical.drop_tenant_index(conn, DEFAULT_TENANT_ID)
        shared = await scores(DEFAULT_TENANT_ID, "apple")
        assert set(shared) == set(own)
        for text, score in own.items():
            assert score != pytest.approx(shared[text])
        tuning.tenant_indexes.ttl_seconds = 0  # looked up again: none now
        assert await scores(DEFAULT_TENANT_ID, "apple") == pytest.approx(shared)
        assert not await lexical.drop_tenant_index(conn, DEFAULT_TENANT_ID)
    finally:
        await pool.close()


async def test_an_unfinished_index_is_not_read(conn):
    # What a failed CREATE INDEX CONCURRENTLY leaves: an index marked not valid.
    index = await lexical.create_tenant_index(conn, DEFAULT_TENANT_ID)
    await conn.execute(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass($1)", index
    )
    now = [0.0]
    known = TenantIndexes(ttl_seconds=30, clock=lambda: now[0])
    assert await known.index(conn, "events", DEFAULT_TENANT_ID, "shared") == "shared"
    assert [i.valid for i in await lexical.tenant_indexes(conn)] == [False]
    # A new build replaces the failed one, and is read once the last lookup is old enough.
    assert await lexical.create_tenant_index(conn, DEFAULT_TENANT_ID) == index
    assert await known.index(conn, "events", DEFAULT_TENANT_ID, "shared") == "shared"
    now[0] = 30.0
    assert await known.index(conn, "events", DEFAULT_TENANT_ID, "shared") == index
    assert await known.index(conn, "events", None, "shared") == "shared"
