"""One server against a local Citus cluster (a coordinator and two workers), the same workload
side by side in one run: tenant-scoped vector search, one client and eight.

Both databases are migrated by the service's migrations (on the cluster, migration 0014
distributes them by tenant) and loaded with the same rows: the first N vectors of the benchmark
corpus (real all-MiniLM-L6-v2 embeddings, `scripts/bench/corpus.py`), spread over T tenants in
turn. The query is the service's own tenant-scoped vector search (`api.memory.search.service.
nearest`: an exact scan over a tenant with at most SEARCH_EXACT_MAX_ROWS (5,000) rows, else
HNSW with `hnsw.ef_search` 64 and iterative scans) on the service's own pool and checkout
(`Database.connection()`: the tenant policies' role, a session setting on one server, a
transaction of `SET LOCAL`s that reach the shards on the cluster), without HTTP. Query
vectors are 200 corpus fragments embedded by the model, each sent for a tenant chosen in turn;
recall@10 is against the exact top 10 of that tenant's rows (`EXACT`, a sequential scan).

The single server is the benchmarks' embedded server (`.data/bench/postgres`, 1 GB of shared
buffers); the cluster's nodes (`.data/bench/cluster`, 256 MB each) run on the same two cores.
Usage (Citus built: `make citus`):

    python -m scripts.bench.cluster [--rows 50000] [--tenants 50] [--json PATH]
"""

import argparse
import asyncio
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from api.core import local_cluster
from api.core.config import Settings
from api.core.database import Database, asyncpg_dsn, create_pool
from api.core.local_postgres import drop_database, ensure_database, start_embedded_server
from api.core.metrics import create_metrics
from api.core.migrations import upgrade
from api.core.vectors.schemas import SearchTuning
from api.memory.search.service import nearest
from scripts.bench.search import BENCH_DIR, load_corpus, sample_queries

DATABASE = "mnemolite_cluster_bench"
EF_SEARCH = 64
CLIENTS = 8
ROUNDS = 3  # passes of the 200 queries per measurement
EXACT = """
    SELECT id FROM events
    WHERE tenant_id = '{tenant}'::uuid AND embedding IS NOT NULL
    ORDER BY embedding <=> $1 LIMIT 10
"""


def databases() -> dict[str, str]:
    """A new migrated database on each: {"one server": url, "cluster": url}."""
    admin = start_embedded_server(BENCH_DIR / "postgres")
    drop_database(admin, DATABASE)
    single = ensure_database(admin, DATABASE)
    cluster = local_cluster.layout(BENCH_DIR / "cluster")
    local_cluster.start(cluster)
    local_cluster.drop(cluster, DATABASE)
    distributed = local_cluster.ensure_database(cluster, DATABASE)
    for url in (single, distributed):
        upgrade(url)
    return {"one server": single, "cluster": distributed}


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(
        asyncpg_dsn(url),
        server_settings={
            "jit": "off",
            "hnsw.ef_search": str(EF_SEARCH),
            "hnsw.iterative_scan": "relaxed_order",
        },
    )
    await register_vector(conn)
    return conn


async def load(url: str, vectors: np.ndarray, tenants: list[UUID]) -> dict[str, float]:
    """The rows, as the tables' owner (COPY); returns the load and analyse times."""
    conn = await connect(url)
    try:
        await conn.execute("DELETE FROM tenants WHERE name LIKE 'bench-%'")
        await conn.executemany(
            "INSERT INTO tenants (id, name) VALUES ($1, $2)",
            [(tenant, f"bench-{n}") for n, tenant in enumerate(tenants)],
        )
        started = time.perf_counter()
        records = (
            (tenants[i % len(tenants)], json.dumps({"text": f"row {i}"}), vectors[i])
            for i in range(len(vectors))
        )
        await conn.copy_records_to_table(
            "events", records=records, columns=("tenant_id", "content", "embedding")
        )
        loaded = time.perf_counter() - started
        await conn.execute("ANALYZE events")
        return {"load_seconds": round(loaded, 1)}
    finally:
        await conn.close()


async def measure(
    url: str, queries: np.ndarray, tenants: list[UUID], clients: int
) -> tuple[list[float], float, list[list[Any]]]:
    """Latencies (ms) of every query, queries/s, and each query's ids (first pass): the
    service's own vector search (`nearest`: exact over a small tenant's rows, else HNSW) on the
    service's own checkout (`Database.connection()`), `clients` at a time."""
    settings = Settings(db_pool_max_size=clients, db_pool_min_size=clients, _env_file=None)
    pool = await create_pool(url, settings)
    database = Database(pool, create_metrics())
    tuning = SearchTuning.from_settings(settings)
    work = [(i % len(tenants), q) for _ in range(ROUNDS) for i, q in enumerate(queries)]
    latencies: list[float] = []
    found: list[list[Any]] = [[] for _ in queries]
    cursor = 0

    async def once(tenant: UUID, vector: np.ndarray) -> list[Any]:
        async with database.for_tenant(tenant).connection() as conn:
            neighbours = await nearest(conn, vector, None, k=10, tuning=tuning)
        return [candidate.id for candidate in neighbours.candidates]

    async def client() -> None:
        nonlocal cursor
        while cursor < len(work):
            index = cursor
            cursor += 1
            tenant, vector = work[index]
            started = time.perf_counter()
            ids = await once(tenants[tenant], vector)
            latencies.append((time.perf_counter() - started) * 1000)
            if index < len(queries):
                found[index] = ids

    try:
        for tenant in tenants:  # warm: each tenant's statements planned, its size learnt
            await once(tenant, queries[0])
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return latencies, len(work) / elapsed, found


async def truths(url: str, queries: np.ndarray, tenants: list[UUID]) -> list[set[Any]]:
    """The exact top 10 of each query among its tenant's rows (a sequential scan, as owner)."""
    conn = await connect(url)
    exact: list[set[Any]] = []
    try:
        async with conn.transaction():
            # Propagated to a cluster's shards (a placeholder setting on one server).
            await conn.execute(
                "SET LOCAL citus.propagate_set_commands TO 'local'; "
                "SET LOCAL enable_indexscan TO off"
            )
            for i, vector in enumerate(queries):
                tenant = tenants[i % len(tenants)]
                rows = await conn.fetch(EXACT.format(tenant=tenant), vector)
                exact.append({row["id"] for row in rows})
    finally:
        await conn.close()
    return exact


async def run(rows: int, tenant_count: int) -> dict[str, Any]:
    _, vectors = load_corpus(BENCH_DIR, rows)
    _, queries = sample_queries(200)
    rng = np.random.default_rng(16)
    tenants = [UUID(bytes=rng.bytes(16), version=4) for _ in range(tenant_count)]
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "rows": rows,
        "tenants": tenant_count,
        "ef_search": EF_SEARCH,
        "results": {},
    }
    for where, url in databases().items():
        result: dict[str, Any] = await load(url, vectors, tenants)
        exact = await truths(url, queries, tenants)
        for clients in (1, CLIENTS):
            latencies, rate, found = await measure(url, queries, tenants, clients)
            hits = [len(set(f) & t) / max(1, len(t)) for f, t in zip(found, exact, strict=True)]
            result[f"{clients} clients"] = {
                "p50_ms": round(float(np.percentile(latencies, 50)), 2),
                "p95_ms": round(float(np.percentile(latencies, 95)), 2),
                "queries_per_second": round(rate),
                "recall_at_10": round(float(np.mean(hits)), 3),
            }
        report["results"][where] = result
        print(json.dumps({where: result}), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "cluster.json")
    args = parser.parse_args()
    try:
        report = asyncio.run(run(args.rows, args.tenants))
    finally:
        local_cluster.stop(local_cluster.layout(BENCH_DIR / "cluster"))
    args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
