"""Bare SQL of one search, statement by statement, on the databases of `scripts.bench.tenants`.

No HTTP and no service: the statements the search service sends (their shapes copied from the
repositories, with the tenant condition left out for the database before tenancy), timed from
one connection per database, as the role the service works as (`mnemolite_app`, set to the
tenant) where there is one. It says where a search's time goes, and how much of it tenancy
adds in PostgreSQL itself. Run it after `python -m scripts.bench.tenants` has loaded the
databases (they stay on the benchmarks' embedded server); `scripts.bench.tenants --baseline`
runs it itself after its HTTP rounds, so both tables come from one run.

Usage: python -m scripts.bench.tenant_sql [--queries 200] [--passes 2]
"""

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from api.core.database import APP_ROLE, TENANT, asyncpg_dsn
from api.core.local_postgres import ensure_database, start_embedded_server
from scripts.bench.search import BENCH_DIR, load_corpus, query_texts

# (database, tenant name or None before tenancy)
DATABASES = (
    ("mnemolite_bench_before", None),
    ("mnemolite_bench_single", "default"),
    ("mnemolite_bench_tenants", "big"),
)
CAP = 5_001  # SEARCH_EXACT_MAX_ROWS + 1, as the capped count reads


def statements(tenant: str) -> dict[str, str]:
    """The search's statements, `tenant` the tenant condition ("TRUE" before tenancy)."""
    hnsw = f"""
        WITH nearest AS MATERIALIZED (
            SELECT e.id, e.embedding <=> $1 AS distance FROM events e
            WHERE {tenant} AND e.embedding IS NOT NULL
            ORDER BY e.embedding <=> $1 LIMIT $2
        )
        SELECT id, distance FROM nearest ORDER BY distance, id"""
    return {
        "capped count": f"SELECT count(*) FROM (SELECT 1 FROM events e WHERE {tenant} "
        f"LIMIT {CAP}) s",
        "hnsw k=11": hnsw,
        "hnsw k=50": hnsw,
        "lexical k=50": f"""
            SELECT e.id, ts_rank_cd(e.search_text, q) AS rank
            FROM events e, websearch_to_tsquery('english', $1) q
            WHERE e.search_text @@ q AND {tenant} ORDER BY rank DESC, e.id LIMIT 50""",
        "fetch 10 by id": f"SELECT e.id, e.timestamp, e.content::text, e.metadata::text "
        f"FROM events e WHERE {tenant} AND e.id = ANY($1::uuid[])",
        "1% filter: capped count": f"SELECT count(*) FROM (SELECT 1 FROM events e WHERE "
        f"{tenant} AND e.metadata @> $1::jsonb LIMIT {CAP}) s",
        "1% filter: exact": f"""
            WITH candidates AS MATERIALIZED (
                SELECT e.id, e.embedding <=> $1 AS distance FROM events e
                WHERE {tenant} AND e.metadata @> $2::jsonb AND e.embedding IS NOT NULL
            )
            SELECT id, distance FROM candidates ORDER BY distance, id LIMIT 11""",
        "set_tenant": "SELECT set_config('mnemolite.tenant_id', "
        "current_setting('mnemolite.tenant_id', true), false)",
    }


async def timed(conn: asyncpg.Connection, sql: str, argsets: list[tuple[Any, ...]]) -> list[float]:
    times = []
    for args in argsets:
        started = time.perf_counter()
        await conn.fetch(sql, *args)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def measure(url: str, tenant: str | None, queries: dict[str, list]) -> dict[str, list[float]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await register_vector(conn)
        await conn.execute("SET jit = off; SET hnsw.iterative_scan = relaxed_order")
        condition = "TRUE"
        if tenant is not None:
            tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", tenant)
            await conn.execute(
                "SELECT set_config('mnemolite.tenant_id', $1, false)", str(tenant_id)
            )
            await conn.execute(f"SET ROLE {APP_ROLE}")
            condition = f"e.tenant_id = {TENANT}"
        sql = statements(condition)
        vectors, texts, filters = queries["vectors"], queries["texts"], queries["filters"]
        ids = [[r["id"] for r in await conn.fetch(sql["hnsw k=11"], v, 10)] for v in vectors]
        argsets: dict[str, list[tuple[Any, ...]]] = {
            "capped count": [()] * len(vectors),
            "hnsw k=11": [(v, 11) for v in vectors],
            "hnsw k=50": [(v, 50) for v in vectors],
            "lexical k=50": [(t,) for t in texts],
            "fetch 10 by id": [(i,) for i in ids],
            "1% filter: capped count": [(f,) for f in filters],
            "1% filter: exact": list(zip(vectors, filters, strict=True)),
            "set_tenant": [()] * len(vectors),
        }
        return {name: await timed(conn, sql[name], argsets[name]) for name in sql}
    finally:
        await conn.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def run(count: int, passes: int) -> None:
    """Print the table of `passes` passes of `count` statements of each kind."""
    admin = start_embedded_server(BENCH_DIR / "postgres")
    rows, corpus = load_corpus(BENCH_DIR, 100_000)
    picks = np.random.default_rng(11).choice(len(rows), count, replace=False)
    queries = {
        "vectors": [corpus[i] for i in picks],
        "texts": query_texts(rows, picks),
        "filters": [json.dumps({"bucket": rows[i]["metadata"]["bucket"]}) for i in picks],
    }
    # Passes alternate between the databases; the last pass is reported (the first warms).
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(passes):
        for database, tenant in DATABASES:
            url = ensure_database(admin, database)
            results[database] = await measure(url, tenant, queries)
    names = list(next(iter(results.values())))
    print(
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')} · bare SQL, one connection, "
        f"{count} statements each, pass {passes} of {passes}\n"
    )
    print("| statement | " + " | ".join(f"{d} P50 / P95 ms" for d, _ in DATABASES) + " |")
    print("|---|" + "---|" * len(DATABASES))
    for name in names:
        cells = [
            f"{statistics.median(results[d][name]):.2f} / {percentile(results[d][name], 0.95):.2f}"
            for d, _ in DATABASES
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(run(args.queries, args.passes))


if __name__ == "__main__":
    main()
