"""Throughput: queries/s of 8 concurrent clients through HTTP, against 8 running the bare SQL.

Starts the API server (real model, one process as `make run` serves, or `--workers` uvicorn
worker processes as the production compose file does) on a benchmark database
loaded by `scripts.bench.search` or `scripts.bench.tenants` (`--database`), then alternates
phases of `--seconds` each, `--rounds` times: `--clients` threads sending vector (or hybrid)
searches on keep-alive connections as fast as they are answered, and as many threads each
running the same searches' bare SQL on a connection of its own (`scripts.bench.bare`).
Hybrid's query embeddings are cached by a warm-up first, so both sides run the same statements.
Prints queries/s per phase (medians of the rounds) and the service's share of bare SQL's.

Usage: python -m scripts.bench.throughput [--database mnemolite_bench_single]
           [--clients 8] [--seconds 20] [--rounds 3] [--kinds vector hybrid] [--workers 1]
"""

import argparse
import http.client
import os
import platform
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import numpy as np

from api.core.local_postgres import ensure_database, start_embedded_server
from scripts.bench.bare import BareSql
from scripts.bench.search import BENCH_DIR, PORT, run_queries, sample_queries, send, start_server


def workload() -> dict[str, tuple[list[dict], list[tuple[Any, ...]]]]:
    """For each kind, the HTTP bodies and the bare SQL's values of the same queries."""
    texts, queries = sample_queries()
    return {
        "vector": (
            [{"vector": q.tolist(), "mode": "vector"} for q in queries],
            [(q,) for q in queries],
        ),
        "hybrid": (
            [{"query": t, "mode": "hybrid"} for t in texts],
            [(q, t) for q, t in zip(queries, texts, strict=True)],
        ),
    }


def concurrently(
    clients: int, seconds: float, make_client: Callable[[int], Callable[[int], None]]
) -> float:
    """Queries/s of `clients` threads, each calling its client (`make_client(i)`, set up before
    the clock starts) with a running query number until `seconds` have passed."""
    calls = [make_client(index) for index in range(clients)]
    counts = [0] * clients
    start = threading.Barrier(clients + 1)
    stop = threading.Event()

    def loop(index: int) -> None:
        start.wait()
        while not stop.is_set():
            calls[index](index * 7919 + counts[index])
            counts[index] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def http_client(bodies: list[dict]) -> Callable[[int], Callable[[int], None]]:
    def make(_: int) -> Callable[[int], None]:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        send(connection, bodies[0])  # connected before the clock starts

        def search(n: int) -> None:
            send(connection, bodies[n % len(bodies)])

        return search

    return make


def bare_client(
    database_url: str, kind: str, values: list[tuple[Any, ...]], opened: list[BareSql]
) -> Callable[[int], Callable[[int], None]]:
    def make(_: int) -> Callable[[int], None]:
        bare = BareSql(database_url)
        opened.append(bare)
        return lambda n: bare.run(kind, *values[n % len(values)])

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="mnemolite_bench_single")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--kinds", nargs="+", choices=["vector", "hybrid"], default=["vector", "hybrid"]
    )
    args = parser.parse_args()

    loads = workload()
    admin = start_embedded_server(BENCH_DIR / "postgres")
    url = ensure_database(admin, args.database)
    server = start_server(url, workers=args.workers)
    rates: dict[str, dict[str, list[float]]] = {k: {"http": [], "bare": []} for k in args.kinds}
    try:
        # Caches every hybrid query's embedding: in each worker process, which the kernel
        # hands new connections to in turn (a few rounds on fresh connections reach them all).
        for _ in range(2 * args.workers):
            with closing(http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)) as warm:
                run_queries(warm, loads["hybrid"][0])
        for _ in range(args.rounds):
            for kind in args.kinds:
                bodies, values = loads[kind]
                rates[kind]["http"].append(
                    concurrently(args.clients, args.seconds, http_client(bodies))
                )
                opened: list[BareSql] = []
                bare = bare_client(url, kind, values, opened)
                rates[kind]["bare"].append(concurrently(args.clients, args.seconds, bare))
                for connection in opened:
                    connection.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')} · machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, {platform.python_version()} · {args.database} · "
        f"{args.workers} service process(es) · "
        f"{args.clients} clients, {args.rounds} alternating rounds of {args.seconds:.0f} s each\n"
    )
    print("| search | service queries/s | bare SQL queries/s | service / bare | rounds |")
    print("|---|---|---|---|---|")
    for kind, measured in rates.items():
        service, bare_rate = np.median(measured["http"]), np.median(measured["bare"])
        rounds = ", ".join(
            f"{h:.0f}/{b:.0f}" for h, b in zip(measured["http"], measured["bare"], strict=True)
        )
        print(
            f"| {kind} | {service:.0f} | {bare_rate:.0f} | {service / bare_rate:.0%} | {rounds} |"
        )


if __name__ == "__main__":
    main()
