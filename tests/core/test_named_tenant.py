"""A large tenant's search statements name it: the same rows, planned for it, and the policy
still holds (naming any other tenant finds nothing)."""

import asyncpg
import numpy as np
import pytest

from api.core.database import TENANT, init_service_connection, set_tenant, tenant_is
from api.core.schema.service import lexical_ranking
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.core.vectors import repository
from api.core.vectors.schemas import LexicalRanking, VectorTarget
from api.memory.search.repository import lexical_matches

EVENTS = VectorTarget("events", "e", "embedding")


def test_a_tenant_is_named_only_by_its_uuid():
    assert tenant_is("e") == f"e.tenant_id = {TENANT}"
    assert tenant_is("e", DEFAULT_TENANT_ID) == f"e.tenant_id = '{DEFAULT_TENANT_ID}'::uuid"
    with pytest.raises(TypeError):
        tenant_is("e", "x'::uuid OR true OR '")  # type: ignore[arg-type]


async def test_a_named_tenant_gets_its_own_rows_and_no_other_tenants(
    database_url: str, conn: asyncpg.Connection
):
    other = await conn.fetchval("INSERT INTO tenants (name) VALUES ('acme') RETURNING id")
    rng = np.random.default_rng(8)
    vectors = rng.normal(size=(60, 384)).astype(np.float32)
    for tenant_id, rows in ((DEFAULT_TENANT_ID, vectors[:40]), (other, vectors[40:])):
        await set_tenant(conn, tenant_id)
        await conn.execute(
            """
            INSERT INTO events (content, metadata, embedding)
            SELECT jsonb_build_object('n', i), jsonb_build_object('even', i % 2 = 0), v::vector
            FROM unnest($1::text[]) WITH ORDINALITY AS t(v, i)
            """,
            [str(v.tolist()) for v in rows],
        )

    def even(params: list) -> str:
        params.append({"even": True})
        return f"e.metadata @> ${len(params)}::jsonb"

    service = await asyncpg.connect(database_url)
    try:
        await init_service_connection(service)
        await set_tenant(service, DEFAULT_TENANT_ID)
        query = vectors[45]  # one of acme's rows: default's answer must not contain it

        async def exact(named):
            found, matching = await repository.nearest_exact(
                service, EVENTS, query, even, k=50, cap=100, named=named
            )
            assert matching == len(found)
            return [c.id for c in found]

        unnamed = await exact(None)
        assert len(unnamed) == 20
        assert await exact(DEFAULT_TENANT_ID) == unnamed
        assert await exact(other) == []  # the connection's tenant is still the policy's
        # Past the cap it counts one row further and no more, and the caller goes to HNSW.
        _, matching = await repository.nearest_exact(
            service, EVENTS, query, even, k=5, cap=7, named=None
        )
        assert matching == 8

        # Planned for its tenant: rows are compared with the constant; the setting is read
        # once per statement (a one-time filter), never on every row.
        await service.execute("SET enable_seqscan = off")
        sql = f"SELECT count(*) FROM events e WHERE {tenant_is('e', DEFAULT_TENANT_ID)}"
        params: list = []
        explained = await service.fetch(f"EXPLAIN {sql} AND {even(params)}", *params)
        plan = [row[0] for row in explained]
        assert any("One-Time Filter" in line and "current_setting" in line for line in plan), plan
        per_row = [line for line in plan if "current_setting" in line and "One-Time" not in line]
        assert per_row == [], plan
    finally:
        await service.close()


@pytest.mark.parametrize("ranking", ["bm25", "ts_rank"])
async def test_a_named_tenants_lexical_search_finds_the_same_rows_and_no_other_tenants(
    database_url: str, conn: asyncpg.Connection, ranking: LexicalRanking
):
    if ranking == "bm25" and await lexical_ranking(conn) != "bm25":
        pytest.skip("the test database has no BM25 indexes (pg_textsearch not available)")
    other = await conn.fetchval("INSERT INTO tenants (name) VALUES ('acme') RETURNING id")
    for tenant_id, owner in ((DEFAULT_TENANT_ID, "default"), (other, "acme")):
        await set_tenant(conn, tenant_id)
        await conn.execute(
            "INSERT INTO events (content) SELECT jsonb_build_object('text', "
            "format('support ticket %s of %s, priority %s', i, $1::text, i % 3)) "
            "FROM generate_series(1, 30) AS i",
            owner,
        )
    service = await asyncpg.connect(database_url)
    try:
        await init_service_connection(service)
        await set_tenant(service, DEFAULT_TENANT_ID)

        async def found(named):
            matches = await lexical_matches(
                service, "support ticket priority", None, k=40, ranking=ranking, named=named
            )
            return [(c.id, round(c.score, 5)) for c in matches]

        unnamed = await found(None)
        assert len(unnamed) == 30
        assert await found(DEFAULT_TENANT_ID) == unnamed
        assert await found(other) == []  # the policy still holds the connection's tenant
    finally:
        await service.close()
