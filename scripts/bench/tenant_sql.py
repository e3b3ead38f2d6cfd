"""Bare SQL of one search, statement by statement, on the databases of `scripts.bench.tenants`.

No HTTP and no service: the statements the search service sends (their shapes copied from the
repositories, with the tenant condition left out for the database before tenancy), timed from
one connection per database, as the role the service works as (`mnemolite_app`, set to the
tenant, which is named in the statements as the service names a large tenant, and the
tenant's own BM25 index read where it has one) where there is one; each statement runs on the
three databases in turn before the next. It says where a search's time goes, and how much of
it tenancy adds in PostgreSQL itself. Run it after
`python -m scripts.bench.tenants` has loaded the databases (they stay on the benchmarks'
embedded server); `scripts.bench.tenants --baseline` runs it itself after its HTTP rounds, so
both tables come from one run.

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

from api.core.config import Settings
from api.core.database import APP_ROLE, asyncpg_dsn, tenant_is
from api.core.lexical.repository import (
    bm25_matches,
    fetch_fresh,
    tenant_index_name,
    tenant_index_valid,
)
from api.core.local_postgres import ensure_database, start_embedded_server
from api.memory.events.sql import filter_clause
from scripts.bench.search import BENCH_DIR, load_corpus, query_texts

# (database, tenant name or None before tenancy)
DATABASES = (
    ("mnemolite_bench_before", None),
    ("mnemolite_bench_single", "default"),
    ("mnemolite_bench_tenants", "big"),
)
BM25_INDEX = "events_lexical_bm25"  # as api.memory.search.repository names it
CAP = 5_001  # SEARCH_EXACT_MAX_ROWS + 1, as the exact search reads at most


def statements(
    tenant: str, *, bm25: str | None = None, own_index: str | None = None
) -> dict[str, str]:
    """The search's statements, `tenant` the tenant condition ("TRUE" before tenancy); `bm25`
    the lexical statement's own tenant condition where there is BM25 (none before tenancy);
    `own_index` the tenant's own BM25 index, where it has one (read instead of the shared one,
    which a row of its own then measures)."""
    hnsw = f"""
        WITH nearest AS MATERIALIZED (
            SELECT e.id, e.embedding <=> $1 AS distance FROM events e
            WHERE {tenant} AND e.embedding IS NOT NULL
            ORDER BY e.embedding <=> $1 LIMIT $2
        )
        SELECT id, distance FROM nearest ORDER BY distance, id"""
    lexical = {}
    if bm25 is not None:
        indexes = {"bm25 k=50": own_index or BM25_INDEX, "bm25 k=50, shared index": BM25_INDEX}
        for name, index in indexes.items():
            if name != "bm25 k=50" and own_index is None:
                continue
            matches = bm25_matches(
                table="events",
                alias="e",
                index=index,
                where=bm25,
                wanted=50,
                own=index != BM25_INDEX,
            )
            lexical[name] = (
                f"SELECT id, -distance AS rank FROM {matches} AS matches "
                "ORDER BY distance, id LIMIT 50"
            )
        # The statement's form until 2026-12-03, for comparison: a parameter LIMIT under a
        # tie-breaker (no top k for the scan) and the score computed again in the select list.
        lexical["bm25 k=50, earlier form"] = f"""
            SELECT id, -distance AS rank FROM (
                SELECT e.id, e.lexical_text <@> to_bm25query($1, '{BM25_INDEX}') AS distance
                FROM events e WHERE {bm25}
                ORDER BY e.lexical_text <@> to_bm25query($1, '{BM25_INDEX}'), e.id LIMIT $2
            ) AS page WHERE distance < 0 ORDER BY distance, id"""
    return {
        "hnsw k=11": hnsw,
        "hnsw k=50": hnsw,
        "lexical k=50": f"""
            SELECT e.id, ts_rank_cd(e.search_text, q) AS rank
            FROM events e, websearch_to_tsquery('english', $1) q
            WHERE e.search_text @@ q AND {tenant} ORDER BY rank DESC, e.id LIMIT 50""",
        **lexical,
        "fetch 10 by id": f"SELECT e.id, e.timestamp, e.content::text, e.metadata::text "
        f"FROM events e WHERE {tenant} AND e.id = ANY($1::uuid[])",
        "1% filter: exact, counted": f"""
            WITH candidates AS MATERIALIZED (
                SELECT e.id, e.embedding <=> $1 AS distance FROM events e
                WHERE {tenant} AND e.metadata @> $2::jsonb AND e.embedding IS NOT NULL
                LIMIT {CAP}
            )
            SELECT id, distance, (SELECT count(*) FROM candidates) AS matching
            FROM candidates ORDER BY distance, id LIMIT 11""",
        "set_tenant": "SELECT set_config('mnemolite.tenant_id', "
        "current_setting('mnemolite.tenant_id', true), false)",
    }


async def session(url: str, tenant: str | None) -> tuple[asyncpg.Connection, dict[str, str]]:
    """A connection as the service's would be, and the statements as it sends them: the tenant
    named as a constant (the service names a tenant known to be large, as these are)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await register_vector(conn)
    ef_search = Settings.model_fields["hnsw_ef_search"].default  # the service's session default
    await conn.execute(
        f"SET jit = off; SET hnsw.iterative_scan = relaxed_order; SET hnsw.ef_search = {ef_search}"
    )
    if tenant is None:
        return conn, statements("TRUE")
    tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", tenant)
    await conn.execute("SELECT set_config('mnemolite.tenant_id', $1, false)", str(tenant_id))
    own_name = tenant_index_name("events", tenant_id)
    own_index = own_name if await tenant_index_valid(conn, own_name) else None
    await conn.execute(f"SET ROLE {APP_ROLE}")
    named = filter_clause(None, [], named=tenant_id)
    return conn, statements(tenant_is("e", tenant_id), bm25=named, own_index=own_index)


async def measure(urls: dict[str, str], queries: dict[str, list]) -> dict[str, dict[str, list]]:
    """Each statement on every database in turn (the order rotating), so the databases are
    compared on the same moments of the machine's drifting speed."""
    sessions = {}
    for database, tenant in DATABASES:
        sessions[database] = await session(urls[database], tenant)
    try:
        vectors, texts, filters = queries["vectors"], queries["texts"], queries["filters"]
        ids: dict[str, list] = {}
        for database, (conn, sql) in sessions.items():
            ids[database] = [
                [r["id"] for r in await conn.fetch(sql["hnsw k=11"], v, 10)] for v in vectors
            ]
        shared: dict[str, list[tuple[Any, ...]]] = {
            "hnsw k=11": [(v, 11) for v in vectors],
            "hnsw k=50": [(v, 50) for v in vectors],
            "lexical k=50": [(t,) for t in texts],
            "bm25 k=50": [(t,) for t in texts],
            "bm25 k=50, shared index": [(t,) for t in texts],
            "bm25 k=50, earlier form": [(t, 50) for t in texts],
            "1% filter: exact, counted": list(zip(vectors, filters, strict=True)),
            "set_tenant": [()] * len(vectors),
        }
        times: dict[str, dict[str, list[float]]] = {d: {} for d in sessions}
        order = list(sessions)
        for name in statements("TRUE", bm25="TRUE", own_index="any"):
            having = [d for d in order if name in sessions[d][1]]
            for database in having:
                times[database][name] = []
            for index in range(len(vectors)):
                shift = index % len(having)
                for database in having[shift:] + having[:shift]:
                    conn, sql = sessions[database]
                    args = (ids[database][index],) if name == "fetch 10 by id" else None
                    # BM25 statements are prepared for each run, as the service prepares them
                    # (api/core/lexical/repository.py); the earlier form was a cached one.
                    values = args or shared[name][index]
                    started = time.perf_counter()
                    if name.startswith("bm25 k=50") and "earlier" not in name:
                        await fetch_fresh(conn, sql[name], *values)
                    else:
                        await conn.fetch(sql[name], *values)
                    times[database][name].append((time.perf_counter() - started) * 1000)
        return times
    finally:
        for conn, _ in sessions.values():
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
    urls = {database: ensure_database(admin, database) for database, _ in DATABASES}
    # The first pass warms every cache; the last is reported.
    for _ in range(passes):
        results = await measure(urls, queries)
    names = list(statements("TRUE", bm25="TRUE", own_index="any"))
    print(
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')} · bare SQL, one connection, "
        f"{count} statements each, interleaved, pass {passes} of {passes}\n"
    )
    print("| statement | " + " | ".join(f"{d} P50 / P95 ms" for d, _ in DATABASES) + " |")
    print("|---|" + "---|" * len(DATABASES))
    for name in names:
        cells = [
            f"{statistics.median(results[d][name]):.2f} / {percentile(results[d][name], 0.95):.2f}"
            if name in results[d]
            else "-"
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
