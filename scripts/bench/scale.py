"""How one server's vector search grows: HNSW build time, size, and latency at a fixed recall.

For each table size (real all-MiniLM-L6-v2 embeddings of the benchmark corpus, built by
`scripts/bench/corpus.py`) and each storage (`vector`, 4 bytes a dimension; `halfvec`, 2), on the
benchmarks' embedded server (`.data/bench/postgres`, database `mnemolite_scale`):

- load the first N corpus vectors into a plain table (COPY; `halfvec` by a cast from it);
- build the HNSW index the service uses (m=16, ef_construction=64, cosine) and time it; the
  third storage, `halfvec index`, is the service's HNSW_STORAGE=halfvec (vector rows, the index
  over their halfvec cast, results ranked by the full vectors);
- the index's and the table's sizes;
- for each `hnsw.ef_search`, 200 corpus queries (fragments of stored texts, embedded by the
  model) sent one by one as prepared bare SQL, `ORDER BY embedding <=> q LIMIT 10`: recall@10
  against the exact top 10 (numpy over the same N rows) and latency percentiles. The row for
  the first `ef_search` that reaches `--recall` (0.95) is the "P95 at fixed recall".

The corpus holds 100,000 texts, so 100k is the largest size measured; docs/scaling.md
extrapolates beyond it. Usage:

    python -m scripts.bench.scale [--sizes 10000,30000,100000] [--storages vector,...] [--json P]
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

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from api.core.database import asyncpg_dsn
from api.core.local_postgres import ensure_database, start_embedded_server
from scripts.bench.search import BENCH_DIR, exact_top, load_corpus, sample_queries

DATABASE = "mnemolite_scale"
DIMENSION = 384
EF_SEARCH = (40, 64, 100, 160, 250)
# storage: (table, what the HNSW index is built over). `halfvec index` is HNSW_STORAGE=halfvec:
# full vectors in the rows, the index over their half-precision cast.
INDEXES = {
    "vector": ("scale_vector", "embedding vector_cosine_ops"),
    "halfvec": ("scale_halfvec", "embedding halfvec_cosine_ops"),
    "halfvec index": ("scale_vector", "(embedding::halfvec(384)) halfvec_cosine_ops"),
}
NEAREST = {
    "vector": "SELECT id FROM scale_vector ORDER BY embedding <=> $1 LIMIT 10",
    "halfvec": "SELECT id FROM scale_halfvec ORDER BY embedding <=> $1::halfvec(384) LIMIT 10",
    # The service's statement (api/core/vectors/repository.py): walk by the cast, rank by the
    # full vectors.
    "halfvec index": """
        SELECT id FROM (
            SELECT id, embedding <=> $1 AS distance FROM scale_vector
            ORDER BY embedding::halfvec(384) <=> $1::halfvec(384) LIMIT 10
        ) AS nearest ORDER BY distance""",
}


async def load(conn: asyncpg.Connection, vectors: np.ndarray) -> None:
    await conn.execute("DROP TABLE IF EXISTS scale_vector, scale_halfvec")
    await conn.execute(
        f"CREATE TABLE scale_vector (id int PRIMARY KEY, embedding vector({DIMENSION}))"
    )
    await conn.copy_records_to_table(
        "scale_vector", records=((i, vectors[i]) for i in range(len(vectors)))
    )
    await conn.execute(
        "CREATE TABLE scale_halfvec AS "
        "SELECT id, embedding::halfvec(384) AS embedding FROM scale_vector"
    )
    await conn.execute("VACUUM ANALYZE scale_vector")
    await conn.execute("VACUUM ANALYZE scale_halfvec")


async def build_index(conn: asyncpg.Connection, storage: str) -> dict[str, Any]:
    table, key = INDEXES[storage]
    await conn.execute("DROP INDEX IF EXISTS scale_hnsw")  # one index at a time on a table
    started = time.perf_counter()
    await conn.execute(
        f"CREATE INDEX scale_hnsw ON {table} USING hnsw ({key}) WITH (m = 16, ef_construction = 64)"
    )
    seconds = time.perf_counter() - started
    sizes = await conn.fetchrow(
        "SELECT pg_relation_size('scale_hnsw'::regclass) AS index_bytes, "
        "pg_table_size($1::regclass) AS table_bytes",
        table,
    )
    assert sizes is not None
    return {
        "build_seconds": round(seconds, 2),
        "index_bytes": int(sizes["index_bytes"]),
        "table_bytes": int(sizes["table_bytes"]),
    }


async def query_curve(
    conn: asyncpg.Connection, storage: str, queries: np.ndarray, truths: list[set[int]]
) -> list[dict[str, Any]]:
    statement = await conn.prepare(NEAREST[storage])
    curve = []
    for ef in EF_SEARCH:
        await conn.execute(f"SET hnsw.ef_search = {ef}")
        for query in queries[:20]:  # warm the cache and the plan
            await statement.fetch(query)
        latencies, hits = [], 0
        for query, truth in zip(queries, truths, strict=True):
            started = time.perf_counter()
            rows = await statement.fetch(query)
            latencies.append((time.perf_counter() - started) * 1000)
            hits += len(truth & {row["id"] for row in rows})
        curve.append(
            {
                "ef_search": ef,
                "recall": round(hits / (10 * len(truths)), 4),
                "p50_ms": round(float(np.percentile(latencies, 50)), 2),
                "p95_ms": round(float(np.percentile(latencies, 95)), 2),
            }
        )
    return curve


async def measure(
    url: str, sizes: list[int], target: float, storages: list[str]
) -> list[dict[str, Any]]:
    _, corpus = load_corpus(BENCH_DIR, max(sizes))
    _, queries = sample_queries(200)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    await register_vector(conn)
    await conn.execute("SET jit = off")
    await conn.execute("SET maintenance_work_mem = '512MB'")
    results = []
    try:
        for size in sizes:
            vectors = corpus[:size]
            similarities = queries @ vectors.T
            truths = [exact_top(row) for row in similarities]
            await load(conn, vectors)
            for storage in storages:
                index = await build_index(conn, storage)
                curve = await query_curve(conn, storage, queries, truths)
                fixed = next((point for point in curve if point["recall"] >= target), None)
                results.append(
                    {"rows": size, "storage": storage, **index, "curve": curve, "at_recall": fixed}
                )
                print(json.dumps(results[-1]), flush=True)
    finally:
        await conn.execute("DROP TABLE IF EXISTS scale_vector, scale_halfvec")
        await conn.close()
    return results


def markdown(results: list[dict[str, Any]], target: float) -> str:
    lines = [
        f"| rows | storage | build s | index MB | bytes/row | table MB | ef_search at recall "
        f"≥ {target} | recall | P50 ms | P95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        fixed = result["at_recall"] or {}
        per_row = result["index_bytes"] / result["rows"]
        lines.append(
            f"| {result['rows']:,} | {result['storage']} | {result['build_seconds']} | "
            f"{result['index_bytes'] / 2**20:.1f} | {per_row:,.0f} | "
            f"{result['table_bytes'] / 2**20:.1f} | {fixed.get('ef_search', 'not reached')} | "
            f"{fixed.get('recall', '')} | {fixed.get('p50_ms', '')} | {fixed.get('p95_ms', '')} |"
        )
    lines += ["", "| rows | storage | " + " | ".join(f"ef {ef}" for ef in EF_SEARCH) + " |"]
    lines.append("|---|---|" + "---|" * len(EF_SEARCH))
    for result in results:
        cells = [f"{p['recall']:.3f} / {p['p95_ms']} ms" for p in result["curve"]]
        lines.append(f"| {result['rows']:,} | {result['storage']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--recall", type=float, default=0.95)
    parser.add_argument("--storages", default=",".join(INDEXES), help=f"of {list(INDEXES)}")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "scale.json")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    admin = start_embedded_server(BENCH_DIR / "postgres")
    url = ensure_database(admin, DATABASE)
    started = time.perf_counter()
    storages = args.storages.split(",")
    results = asyncio.run(measure(url, sizes, args.recall, storages))
    header = (
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')} · machine: "
        f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores · "
        f"{time.perf_counter() - started:.0f} s · 200 queries, recall@10 against exact"
    )
    args.json.write_text(json.dumps({"header": header, "results": results}, indent=2))
    print(header)
    print(markdown(results, args.recall))


if __name__ == "__main__":
    main()
