"""Where a search request's time goes in the service: py-spy samples of the running server.

Starts the API server (real model) on a benchmark database of the embedded server (`--database`,
loaded by `scripts.bench.search` or `scripts.bench.tenants`), sends `--seconds` of sequential
searches of one kind (`--kind vector|hybrid|lexical`, the queries of `scripts.bench.search`) on
one keep-alive connection, and samples the server with py-spy meanwhile (`--py-spy PATH`; not a
project dependency: `python -m venv /tmp/tools && /tmp/tools/bin/pip install py-spy`). Prints
the share of the server's busy samples under each stage of a request, and the requests' P50.

Usage: python -m scripts.bench.profile --py-spy /tmp/tools/bin/py-spy
           [--database mnemolite_bench_single] [--kind vector] [--seconds 30] [--checkout DIR]
`--checkout DIR` serves another checkout's code (e.g. a worktree of an earlier commit), to
profile before and after a change on the same data.
"""

import argparse
import http.client
import re
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from api.core.local_postgres import ensure_database, start_embedded_server
from scripts.bench.search import BENCH_DIR, PORT, sample_queries, send
from scripts.serve import spawn

# (label, a frame that starts the stage): shares are of every busy sample of the server.
STAGES = (
    ("uvicorn, asyncio and asyncpg's protocol outside the app", None),
    ("ASGI app, middleware included", "FastAPI.__call__ (fastapi/applications.py)"),
    ("FastAPI route handling (body, dependencies, response)", "get_request_handler"),
    ("request body: JSON parse", "Request.json (starlette/requests.py)"),
    ("dependencies and body validation", "solve_dependencies"),
    ("response serialisation", "serialize_response (fastapi/routing.py)"),
    ("the endpoint (search service)", "run_endpoint_function"),
    ("connection checkout and release", "Database.connection"),
    ("ranking statement (asyncpg fetch)", "nearest ("),
    ("lexical statement", "lexical_matches ("),
    ("hydration by id", "fetch_events ("),
    ("building the hits", "to_events ("),
    ("sending the response", "Response.__call__ (starlette/responses.py)"),
    ("access log and request metrics", "RequestMetricsMiddleware._observe"),
)
# Where the app's time goes outside FastAPI's route handling: the middleware stack's own work.
APP = STAGES[1][1]
ROUTE = STAGES[2][1]


def frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip().rpartition(" ")
    names = [
        re.sub(
            r" \((.*?)(:\d+)?\)$",
            lambda m: " (" + m.group(1).split("site-packages/")[-1] + ")",
            frame,
        )
        for frame in stack.split(";")
    ]
    return names, int(count)


def main_thread_samples(raw: Path) -> list[tuple[list[str], int]]:
    """The server's main-thread stacks in py-spy's raw output, with their sample counts; the
    other threads (the model's, asyncio's default executor) are left out."""
    samples = [frames(line) for line in raw.read_text().splitlines()]
    return [
        (names, count) for names, count in samples if any("scripts/serve.py" in n for n in names)
    ]


def shares(samples: list[tuple[list[str], int]]) -> tuple[int, dict[str, float]]:
    """Busy samples, and the share of them under each stage's frame."""
    total = sum(count for _, count in samples)
    under: Counter[str] = Counter()
    for names, count in samples:
        for label, marker in STAGES:
            if marker is not None and any(marker in name for name in names):
                under[label] += count
    result = {label: 100 * under[label] / total for label, marker in STAGES if marker}
    result[STAGES[0][0]] = 100 - result[STAGES[1][0]]
    return total, result


def middleware_functions(
    samples: list[tuple[list[str], int]], top: int = 12
) -> list[tuple[str, float]]:
    """The app's busy samples outside route handling, by the innermost project or library
    function on the stack (its share of all busy samples)."""
    total = sum(count for _, count in samples)
    innermost: Counter[str] = Counter()
    for names, count in samples:
        if any(APP in name for name in names) and not any(ROUTE in name for name in names):
            innermost[names[-1]] += count
    return [(name, 100 * count / total) for name, count in innermost.most_common(top)]


def bodies(kind: str) -> list[dict]:
    texts, queries = sample_queries()
    if kind == "vector":
        return [{"vector": q.tolist(), "mode": "vector"} for q in queries]
    return [{"query": t, "mode": kind} for t in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--py-spy", required=True, type=Path)
    parser.add_argument("--database", default="mnemolite_bench_single")
    parser.add_argument("--kind", choices=["vector", "hybrid", "lexical"], default="vector")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--checkout", type=Path, help="serve this checkout's code instead")
    args = parser.parse_args()

    searches = bodies(args.kind)
    admin = start_embedded_server(BENCH_DIR / "postgres")
    url = ensure_database(admin, args.database)
    env = {"DATABASE_URL": url, "EMBEDDING_MODE": "real", "LOG_LEVEL": "warning"}
    server = spawn(env, port=PORT, timeout=180, root=args.checkout)
    raw = Path(tempfile.mkdtemp()) / "profile.raw"
    try:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        for body in searches:  # warm-up: caches, plans, and hybrid's query embeddings
            send(connection, body)
        command = [str(args.py_spy), "record", "-p", str(server.pid), "-r", "200"]
        command += ["-d", str(int(args.seconds)), "-f", "raw", "-o", str(raw)]
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        latencies: list[float] = []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            elapsed, _ = send(connection, searches[len(latencies) % len(searches)])
            latencies.append(elapsed)
        sampler.wait(timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=60)
    samples = main_thread_samples(raw)
    total, stages = shares(samples)
    print(
        f"{args.kind} search, {len(latencies)} requests in {args.seconds:.0f} s, P50 "
        f"{np.percentile(latencies, 50):.2f} ms; {total} busy samples of the server's main thread"
        f" (200 Hz){'; code of ' + str(args.checkout) if args.checkout else ''}\n"
    )
    print("| stage | share of busy samples |\n|---|---|")
    for label, _ in STAGES:
        print(f"| {label} | {stages[label]:.1f}% |")
    print("\nInside the app, outside route handling (the middleware), by innermost frame:\n")
    print("| function | share of busy samples |\n|---|---|")
    for name, share in middleware_functions(samples):
        print(f"| `{name}` | {share:.1f}% |")


if __name__ == "__main__":
    main()
