"""Tenancy in the code domain: two tenants index a repository of the same name, and each one's
index, search, graph, deletions and jobs see only its own files.

The requests of tenant `other` carry `X-Tenant: other` (the tests run without API_KEY, so a
request acts as the operator, who may pick the tenant). The `conn` fixture is the tables'
owner, which Row-Level Security does not bind: what it reads set to a tenant is what the
queries' own tenant conditions keep, the first line of the two.
"""

import uuid
from typing import Literal

import asyncpg
import httpx
import pytest

from api.code.graph import service as graph
from api.code.index import repository as index_repository
from api.code.index import service as code_index
from api.code.index.schemas import IndexRequest
from api.code.jobs import service as jobs
from api.code.search import service as search
from api.code.search.schemas import LexicalSearchRequest
from api.core.config import Settings
from api.core.database import Database, create_pool, set_tenant
from api.core.errors import NotFound
from api.core.metrics import Metrics
from api.core.migrations import upgrade
from api.core.schema.service import lexical_ranking
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.core.vectors.schemas import SearchTuning
from api.embeddings.factory import Embedders
from tests.support.jobs import wait_for_job
from tests.support.repos import GRAPH_FILES, payload

BILLING_PY = '''\
def charge(card, amount):
    """Charge a card through the payments gateway."""
    return gateway(card, amount)


def gateway(card, amount):
    return card
'''
# Tenant `other`'s repository `acme`: one file, none of the default tenant's names.
OTHER_FILES = {"billing/charge.py": BILLING_PY}
MINE = set(GRAPH_FILES)
THEIRS = set(OTHER_FILES)


async def index_acme(client: httpx.AsyncClient, files: dict[str, str]) -> dict:
    body = {"repository": "acme", "files": payload(files)}
    response = await client.post("/v1/code/index", json=body)
    assert response.status_code == 201, response.text
    result: dict = response.json()
    assert result["indexed_nodes"] > 0
    return result


@pytest.fixture
async def both(client: httpx.AsyncClient, theirs: httpx.AsyncClient) -> None:
    """Each tenant's `acme`: the default tenant's two files, the other tenant's one."""
    await index_acme(client, GRAPH_FILES)
    await index_acme(theirs, OTHER_FILES)


async def chunk_ids(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """The chunks of `acme` as `tenant_id` sees them (the owner connection set to it)."""
    await set_tenant(conn, tenant_id)
    try:
        rows = await index_repository.chunk_rows(conn, "acme")
    finally:
        await set_tenant(conn, DEFAULT_TENANT_ID)
    return {row["qualified_name"]: row["id"] for row in rows}


async def found(client: httpx.AsyncClient, mode: str, body: dict) -> list[dict]:
    response = await client.post(f"/v1/code/search/{mode}", json=body)
    assert response.status_code == 200, response.text
    results: list[dict] = response.json()["results"]
    return results


async def test_each_tenant_lists_only_its_own_repository(client, theirs, both):
    mine = (await client.get("/v1/code/index/repositories")).json()["repositories"]
    their = (await theirs.get("/v1/code/index/repositories")).json()["repositories"]
    assert [(r["repository"], r["file_count"]) for r in mine] == [("acme", 2)]
    assert [(r["repository"], r["file_count"]) for r in their] == [("acme", 1)]
    assert mine[0]["chunk_count"] != their[0]["chunk_count"]


async def test_reindexing_one_tenants_files_leaves_the_others_alone(client, theirs, both):
    again = await index_acme(theirs, OTHER_FILES)
    assert again["unchanged_files"] == 1 and again["indexed_files"] == 0
    # A full snapshot of tenant `other` removes none of the default tenant's files.
    body = {"repository": "acme", "files": payload(OTHER_FILES), "full_snapshot": True}
    snapshot = (await theirs.post("/v1/code/index", json=body)).json()
    assert snapshot["removed_files"] == 0
    mine = (await client.get("/v1/code/index/repositories")).json()["repositories"]
    assert mine[0]["file_count"] == 2


@pytest.mark.parametrize("filters", [{}, {"repository": "acme"}])
async def test_every_search_mode_finds_only_the_tenants_chunks(client, theirs, both, filters):
    query = "retry charge card client gateway fetch run"
    for mode, body in (
        ("lexical", {"query": query, "filters": filters, "limit": 50}),
        ("vector", {"query": query, "filters": filters, "limit": 50}),
        ("vector", {"query": query, "filters": filters, "embedding_domain": "CODE"}),
        ("hybrid", {"query": query, "filters": filters, "top_k": 50}),
    ):
        mine = {hit["file_path"] for hit in await found(client, mode, body)}
        their = {hit["file_path"] for hit in await found(theirs, mode, body)}
        assert mine and mine <= MINE, (mode, mine)
        assert their and their <= THEIRS, (mode, their)
    # The other tenant's names are not found by words either.
    assert await found(client, "lexical", {"query": "charge"}) == []
    assert await found(theirs, "lexical", {"query": "retry"}) == []


async def test_the_graph_of_one_tenant_is_out_of_reach_of_the_other(
    client, theirs, both, conn, other
):
    mine, their = await chunk_ids(conn, DEFAULT_TENANT_ID), await chunk_ids(conn, other)
    assert not set(mine.values()) & set(their.values())

    callers = await client.get(f"/v1/code/graph/chunks/{mine['retry']}/callers")
    assert [n["qualified_name"] for n in callers.json()["nodes"]] == ["Client.get"]
    start = callers.json()["start"]["id"]
    assert (await theirs.get(f"/v1/code/graph/chunks/{mine['retry']}/callers")).status_code == 404
    assert (await theirs.get(f"/v1/code/graph/chunks/{mine['retry']}/callees")).status_code == 404
    their_callers = await theirs.get(f"/v1/code/graph/chunks/{their['gateway']}/callers")
    assert [n["qualified_name"] for n in their_callers.json()["nodes"]] == ["charge"]
    their_start = their_callers.json()["start"]["id"]

    traverse = {"start_node_id": start, "direction": "inbound", "max_depth": 3}
    assert (await client.post("/v1/code/graph/traverse", json=traverse)).status_code == 200
    assert (await theirs.post("/v1/code/graph/traverse", json=traverse)).status_code == 404

    path = {"source_node_id": their_start, "target_node_id": start}
    assert (await client.post("/v1/code/graph/path", json=path)).status_code == 404
    assert (await theirs.post("/v1/code/graph/path", json=path)).status_code == 404

    my_stats = (await client.get("/v1/code/graph/stats/acme")).json()
    their_stats = (await theirs.get("/v1/code/graph/stats/acme")).json()
    assert my_stats["nodes_by_kind"]["module"] == 2
    assert their_stats["nodes_by_kind"]["module"] == 1
    assert their_stats["edges_by_relationship"]["calls"] == 1  # charge -> gateway


async def test_rebuilding_one_tenants_graph_keeps_the_others(client, theirs, both):
    before = (await client.get("/v1/code/graph/stats/acme")).json()
    rebuilt = await theirs.post("/v1/code/graph/build", json={"repository": "acme"})
    assert rebuilt.status_code == 200
    assert (await client.get("/v1/code/graph/stats/acme")).json() == before


async def test_deleting_a_repository_deletes_the_tenants_only(client, theirs, both, conn):
    deleted = await theirs.delete("/v1/code/index/repositories/acme")
    assert deleted.status_code == 200 and deleted.json()["deleted_files"] == 1
    assert (await theirs.get("/v1/code/index/repositories")).json()["repositories"] == []
    assert (await theirs.delete("/v1/code/index/repositories/acme")).status_code == 404
    mine = (await client.get("/v1/code/index/repositories")).json()["repositories"]
    assert [(r["repository"], r["file_count"]) for r in mine] == [("acme", 2)]
    assert {hit["file_path"] for hit in await found(client, "lexical", {"query": "retry"})} == {
        "app/http.py"
    }
    stats = (await client.get("/v1/code/graph/stats/acme")).json()
    assert stats["nodes_by_kind"]["module"] == 2
    # Nothing of tenant `other` is left: nodes, edges, files, chunks.
    for table in ("code_files", "code_chunks", "nodes", "edges"):
        left = await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE tenant_id <> $1", DEFAULT_TENANT_ID
        )
        assert left == 0, table


async def test_the_queries_keep_to_the_tenant_without_row_level_security(conn, both, other):
    """The owner connection bypasses the policies: the repositories' conditions alone hold."""
    mine = await chunk_ids(conn, DEFAULT_TENANT_ID)
    await set_tenant(conn, other)
    listed = await code_index.list_repositories(conn)
    assert [r.repository for r in listed.repositories] == ["acme"]
    assert (await code_index.get_repository(conn, "acme")).file_count == 1
    with pytest.raises(NotFound):
        await code_index.get_chunk(conn, mine["retry"])
    with pytest.raises(NotFound):
        await graph.node_of_chunk(conn, mine["retry"])
    rankings: tuple[Literal["bm25", "ts_rank"], ...] = ("ts_rank",)
    if await lexical_ranking(conn) == "bm25":
        rankings = ("bm25", "ts_rank")
    for ranking in rankings:
        hits = await search.lexical(
            conn,
            LexicalSearchRequest(query="retry client charge"),
            tuning=SearchTuning(lexical_ranking=ranking),
        )
        assert {hit.file_path for hit in hits.results} == THEIRS, ranking
    assert await search.languages(conn) == ["python"]
    assert {m.qualified_name for m in await graph.suggest(conn, "e", repository_name=None)} <= {
        "charge",
        "gateway",
    }
    assert await graph.resolve(conn, str(mine["retry"]), repository_name="acme") == []
    assert await graph.resolve(conn, "retry", repository_name="acme") == []
    assert (await graph.stats(conn, "acme")).nodes_by_kind["module"] == 1


async def test_a_job_belongs_to_the_tenant_that_queued_it(client, theirs, conn, other):
    body = {"repository": "jobbed", "files": payload(OTHER_FILES)}
    queued = await theirs.post("/v1/code/index/jobs", json=body)
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["id"]
    assert (await client.get(f"/v1/code/index/jobs/{job_id}")).status_code == 404
    done = await wait_for_job(theirs, job_id)  # the app's in-process worker runs it
    assert done["status"] == "succeeded" and done["result"]["indexed_files"] == 1
    assert (await client.get(f"/v1/code/index/jobs/{job_id}")).status_code == 404
    their = (await theirs.get("/v1/code/index/repositories")).json()["repositories"]
    assert [r["repository"] for r in their] == ["jobbed"]
    assert (await client.get("/v1/code/index/repositories")).json()["repositories"] == []
    owners = await conn.fetch(
        "SELECT DISTINCT tenant_id FROM code_chunks WHERE repository = 'jobbed' "
        "UNION SELECT tenant_id FROM index_jobs WHERE id = $1",
        uuid.UUID(job_id),
    )
    assert [row["tenant_id"] for row in owners] == [other]


async def test_the_worker_takes_jobs_of_every_tenant_and_runs_each_as_its_own(
    scratch_url: str, settings: Settings, metrics: Metrics, embedders: Embedders
):
    """On a database of its own, so that no other worker takes the jobs first."""
    upgrade(scratch_url)
    pool = await create_pool(scratch_url, settings)
    try:
        worker = Database(pool, metrics)  # no tenant: the worker's own does not matter
        async with worker.across_tenants().connection() as conn:
            other = await conn.fetchval("INSERT INTO tenants (name) VALUES ('b') RETURNING id")
        tenants = {"a": worker.for_tenant(DEFAULT_TENANT_ID), "b": worker.for_tenant(other)}
        queued = {}
        for name, database in tenants.items():
            files = GRAPH_FILES if name == "a" else OTHER_FILES
            async with database.connection() as conn:
                request = IndexRequest(repository="acme", files=payload(files))
                queued[name] = (await jobs.enqueue(conn, request)).id
        assert await jobs.run_next(worker, embedders, worker="w")
        assert await jobs.run_next(worker, embedders, worker="w")
        assert not await jobs.run_next(worker, embedders, worker="w")
        for name, database in tenants.items():
            async with database.connection() as conn:
                job = await jobs.get(conn, queued[name])
                assert job.status == "succeeded"
                other_job = queued["b" if name == "a" else "a"]
                with pytest.raises(NotFound):
                    await jobs.get(conn, other_job)
                assert [j.id for j in await jobs.recent(conn)] == [queued[name]]
                rows = await index_repository.chunk_rows(conn, "acme")
                assert {row["file_path"] for row in rows} == (MINE if name == "a" else THEIRS)
                assert (await graph.stats(conn, "acme")).nodes > 0
        async with worker.across_tenants().connection() as conn:
            stats = await jobs.queue_stats(conn)
        assert (stats.queued, stats.running) == (0, 0)
    finally:
        await pool.close()
