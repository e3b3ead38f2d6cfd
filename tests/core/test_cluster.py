"""What only a Citus cluster has: a tenant's statements routed to one shard, and a worker that
stops. Runs in `make test-cluster` (pytest --cluster: a coordinator and two workers, migrated
and distributed by migration 0014); the rest of that run is the ordinary suites, unchanged."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from api.core import local_cluster, local_standby
from api.core.config import Settings
from api.core.database import TENANT, Database, create_pool
from api.core.errors import DatabaseUnavailable
from api.core.metrics import create_metrics
from api.core.vectors.schemas import SearchTuning
from api.embeddings.factory import Embedders
from api.memory.search import service as search
from api.memory.search.schemas import SearchRequest

DISTRIBUTED_TABLES = ("events", "code_files", "code_chunks", "nodes", "edges")


@pytest.fixture
def on_cluster(cluster: local_cluster.Cluster | None) -> local_cluster.Cluster:
    if cluster is None:
        pytest.skip("needs the local Citus cluster: make test-cluster (pytest --cluster)")
    return cluster


async def test_the_schema_is_distributed_by_tenant(on_cluster, conn):
    tables = {
        r["table_name"]: (r["citus_table_type"], r["distribution_column"])
        for r in await conn.fetch(
            "SELECT table_name::text, citus_table_type, distribution_column FROM citus_tables"
        )
    }
    for table in (*DISTRIBUTED_TABLES, "idempotency_keys"):
        assert tables[table] == ("distributed", "tenant_id"), table
    for table in ("tenants", "api_keys", "ui_session_epoch"):
        assert tables[table][0] == "reference", table
    assert tables["index_jobs"][0] == "local"
    colocated = await conn.fetchval(
        "SELECT count(DISTINCT colocation_id) FROM citus_tables WHERE citus_table_type = "
        "'distributed'"
    )
    assert colocated == 1
    workers = await conn.fetchval("SELECT count(*) FROM citus_get_active_worker_nodes()")
    assert workers == len(on_cluster.workers)


class Statements:
    """The statements a connection runs, with their arguments (asyncpg's query logger)."""

    def __init__(self) -> None:
        self.logged: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(self, record: Any) -> None:
        self.logged.append((record.query, tuple(record.args or ())))

    def on_tables(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [
            (query, args)
            for query, args in self.logged
            if any(f" {table} " in query for table in DISTRIBUTED_TABLES)
            and query.lstrip().upper().startswith(("SELECT", "WITH"))
        ]


@pytest.mark.parametrize("mode", ["vector", "lexical", "hybrid", "filter"])
async def test_a_tenants_search_is_a_single_shard_router_query(
    on_cluster, settings: Settings, embedders: Embedders, client: httpx.AsyncClient, other, mode
):
    """Every statement of a tenant's search runs on one shard (Citus: "Task Count: 1")."""
    for n in range(12):
        for headers in ({}, {"X-Tenant": "other"}):
            body = {"content": {"text": f"the heron waits {n}"}, "metadata": {"n": n}}
            made = await client.post("/v1/events", json=body, headers=headers)
            assert made.status_code == 201, made.text
    pool = await create_pool(settings.database_url or "", settings)
    database = Database(pool, create_metrics(), tenant_id=other)
    statements = Statements()
    request = SearchRequest(
        query=None if mode == "filter" else "heron",
        metadata={"n": 3} if mode == "filter" else None,
        mode="hybrid" if mode == "filter" else mode,  # filters alone: no query
    )
    try:
        async with database.connection() as conn:
            conn.add_query_logger(statements)
            found = await search.search(
                conn,
                embedders.text,
                request,
                tuning=SearchTuning(lexical_ranking="ts_rank"),
            )
            await asyncio.sleep(0)  # asyncpg calls the logger soon after each statement
            conn.remove_query_logger(statements)
            assert found.data, mode
            assert statements.on_tables(), statements.logged
            for query, args in statements.on_tables():
                plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {query}", *args))
                assert "Task Count: 1\n" in plan, plan
    finally:
        await pool.close()


async def shard_node(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> str:
    """The socket directory of the worker holding `tenant_id`'s shard."""
    node: str = await conn.fetchval(
        """
        SELECT nodename FROM citus_shards
        WHERE shardid = get_shard_id_for_distribution_column('events', $1::uuid)
        """,
        tenant_id,
    )
    return node


async def tenants_on_both_workers(
    conn: asyncpg.Connection, cluster: local_cluster.Cluster
) -> dict[str, tuple[str, uuid.UUID]]:
    """A tenant on each worker: {worker socket dir: (name, id)}."""
    found: dict[str, tuple[str, uuid.UUID]] = {}
    for n in range(64):
        if len(found) == len(cluster.workers):
            return found
        name = f"t{n}"
        tenant_id = await conn.fetchval("INSERT INTO tenants (name) VALUES ($1) RETURNING id", name)
        found.setdefault(await shard_node(conn, tenant_id), (name, tenant_id))
    raise AssertionError("no tenant landed on every worker")


@pytest.fixture
async def stoppable(on_cluster) -> AsyncIterator[local_cluster.Cluster]:
    """The cluster; its workers are running again after the test whatever it stopped."""
    yield on_cluster
    for worker in on_cluster.workers:
        local_standby.start(worker, settings=local_cluster.NODE_SETTINGS)


async def test_a_stopped_worker_fails_its_tenants_writes_with_503_and_loses_nothing(
    stoppable, app: FastAPI, conn
):
    """Two tenants write without pause, one on each worker; one worker is killed mid-load
    (an immediate stop: a crash) and started again."""
    cluster = stoppable
    tenants = await tenants_on_both_workers(conn, cluster)
    stopped_node = str(local_standby.socket_dir(cluster.workers[0]))
    down = tenants[stopped_node][0]
    (up,) = [name for node, (name, _) in tenants.items() if node != stopped_node]
    acknowledged: dict[str, list[str]] = {down: [], up: []}
    statuses: dict[str, list[tuple[str, int]]] = {down: [], up: []}
    phase = "before"

    async def load(http: httpx.AsyncClient, name: str) -> None:
        n = 0
        while phase != "done":
            body = {"content": {"text": f"load {name} {n}"}}
            response = await http.post("/v1/events", json=body, headers={"X-Tenant": name})
            statuses[name].append((phase, response.status_code))
            if response.status_code == 201:
                acknowledged[name].append(response.json()["id"])
            n += 1
            await asyncio.sleep(0.01)

    def seen(name: str, when: str, status: int) -> bool:
        return (when, status) in statuses[name]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        loaders = [asyncio.create_task(load(http, name)) for name in (down, up)]
        try:
            for _ in range(150):  # both tenants are writing (a cold pool's first takes a while)
                if seen(down, "before", 201) and seen(up, "before", 201):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.2)
            await asyncio.to_thread(local_standby.stop, cluster.workers[0], mode="immediate")
            phase = "down"
            await asyncio.sleep(1.5)
            await asyncio.to_thread(
                local_standby.start, cluster.workers[0], settings=local_cluster.NODE_SETTINGS
            )
            phase = "after"
            for _ in range(150):  # the stopped worker's tenant recovers
                if seen(down, "after", 201):
                    break
                await asyncio.sleep(0.1)
        finally:
            phase = "done"
            await asyncio.gather(*loaders)

        assert seen(down, "before", 201) and seen(down, "down", 503), statuses[down]
        assert seen(down, "after", 201), statuses[down][-5:]
        assert {status for _, status in statuses[down]} == {201, 503}
        # The other worker's tenant kept working throughout.
        assert seen(up, "down", 201)
        assert {status for _, status in statuses[up]} == {201}, statuses[up]
        # Nothing acknowledged is lost.
        for name, ids in acknowledged.items():
            for event_id in ids:
                got = await http.get(f"/v1/events/{event_id}", headers={"X-Tenant": name})
                assert got.status_code == 200, (name, event_id, got.text)


@pytest.mark.parametrize("ending", ["release_savepoint", "commit"])
async def test_a_worker_lost_before_the_checkout_ends_is_a_503(
    stoppable, settings: Settings, conn, ending
):
    """The write reached the worker; the worker dies before the savepoint is released (as an
    idempotent write's is) or the checkout's transaction commits: the caller gets
    DatabaseUnavailable (a 503, retry with the same key), not a 500."""
    cluster = stoppable
    tenants = await tenants_on_both_workers(conn, cluster)
    stopped_node = str(local_standby.socket_dir(cluster.workers[0]))
    _, tenant_id = tenants[stopped_node]
    pool = await create_pool(settings.database_url or "", settings)
    database = Database(pool, create_metrics(), tenant_id=tenant_id)
    insert = f'INSERT INTO events (tenant_id, content) VALUES ({TENANT}, \'{{"text": "x"}}\')'
    try:
        with pytest.raises(DatabaseUnavailable):
            async with database.connection() as checkout:
                if ending == "commit":
                    await checkout.execute(insert)
                    await asyncio.to_thread(
                        local_standby.stop, cluster.workers[0], mode="immediate"
                    )
                else:
                    async with checkout.transaction():
                        await checkout.execute(insert)
                        await asyncio.to_thread(
                            local_standby.stop, cluster.workers[0], mode="immediate"
                        )
    finally:
        await pool.close()
