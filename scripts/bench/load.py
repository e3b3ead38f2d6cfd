"""Load test through HTTP: many concurrent writers and searchers; then no write lost or doubled.

`--clients` writers (default 32) each post `--events` single events to POST /v1/events, one after
another, each with an Idempotency-Key and retried once with the same key on a transport error or
a 5xx (so a retry never doubles a write). `--searchers` clients run hybrid text searches
(POST /v1/search, so each query is embedded) until the writers finish. The server embeds every
event: the writes and the searches share the embedding micro-batcher.

Afterwards every event of the run (tagged `{"load_run": <id>}`) is listed and checked: each
acknowledged id is present exactly once and nothing else was stored. Printed: write throughput
(acknowledged events / wall time of the write phase), write P50/P95/P99, search P50/P95 during
the load, errors, and the verdict. Exit status 1 when a write was lost or duplicated.

Usage:
    python -m scripts.bench.load                       # against a server at --url
    python -m scripts.bench.load --spawn real          # starts its own server (packaged model)
    python -m scripts.bench.load --spawn mock --clients 8 --events 20

`--spawn` serves `scripts/serve.py` on port 8012 over a fresh database `mnemolite_load` on the
benchmarks' embedded PostgreSQL (.data/bench/postgres), as `make run` would (migrations run
first). The key the server requires is API_KEY (environment, else `.env`), as for the service,
sent as `Authorization: Bearer`; `--api-key` overrides it (sent as `X-API-Key`).
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from scripts.service_client import auth_headers

DEFAULT_URL = "http://127.0.0.1:8001"
SPAWN_PORT = 8012
PAGE = 500
log = logging.getLogger("bench_load")


@dataclass
class Report:
    run_id: str
    clients: int
    events_per_client: int
    searchers: int
    keys: bool = True
    write_seconds: float = 0.0
    write_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    acknowledged: list[str] = field(default_factory=list)
    stored: Counter[str] = field(default_factory=Counter)

    @property
    def lost(self) -> int:
        return sum(1 for event_id in set(self.acknowledged) if event_id not in self.stored)

    @property
    def duplicated(self) -> int:
        """Acknowledged twice, stored twice, or stored without being acknowledged."""
        acknowledged = Counter(self.acknowledged)
        doubled = sum(count - 1 for count in acknowledged.values() if count > 1)
        stored_twice = sum(count - 1 for count in self.stored.values() if count > 1)
        unacknowledged = sum(1 for event_id in self.stored if event_id not in acknowledged)
        return doubled + stored_twice + unacknowledged

    @property
    def ok(self) -> bool:
        expected = self.clients * self.events_per_client
        return self.lost == 0 and self.duplicated == 0 and len(self.acknowledged) == expected


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


async def _post(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response | str:
    """The response, or the name of the transport error."""
    try:
        return await client.post(path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__


async def _writer(client: httpx.AsyncClient, report: Report, number: int) -> None:
    for n in range(report.events_per_client):
        body = {
            "content": {"text": f"load run {report.run_id}: note {n} from agent {number}"},
            "metadata": {"load_run": report.run_id, "client": number, "n": n},
        }
        key = f"{report.run_id}-{number}-{n}"
        headers = {"Idempotency-Key": key} if report.keys else {}
        for attempt in range(2):  # one retry, with the same key
            started = time.perf_counter()
            outcome = await _post(client, "/v1/events", body, headers)
            elapsed = (time.perf_counter() - started) * 1000
            if isinstance(outcome, httpx.Response) and outcome.status_code == 201:
                report.write_ms.append(elapsed)
                report.acknowledged.append(outcome.json()["id"])
                break
            name = outcome if isinstance(outcome, str) else f"write HTTP {outcome.status_code}"
            report.errors[name] += 1
            retryable = isinstance(outcome, str) or outcome.status_code >= 500
            if not retryable:
                break
            if attempt == 0:
                report.retries += 1


async def _searcher(
    client: httpx.AsyncClient, report: Report, number: int, stop: asyncio.Event
) -> None:
    n = 0
    while not stop.is_set():
        body = {"query": f"note {n} from agent {number}", "mode": "hybrid", "limit": 10}
        started = time.perf_counter()
        outcome = await _post(client, "/v1/search", body, {})
        if isinstance(outcome, httpx.Response) and outcome.status_code == 200:
            report.search_ms.append((time.perf_counter() - started) * 1000)
        else:
            name = outcome if isinstance(outcome, str) else f"search HTTP {outcome.status_code}"
            report.errors[name] += 1
        n += 1


async def _stored_ids(client: httpx.AsyncClient, run_id: str) -> Counter[str]:
    stored: Counter[str] = Counter()
    offset = 0
    while True:
        response = await client.get(
            "/v1/events",
            params={
                "filter_metadata": json.dumps({"load_run": run_id}),
                "limit": PAGE,
                "offset": offset,
            },
        )
        response.raise_for_status()
        page = response.json()
        stored.update(event["id"] for event in page["data"])
        if not page["meta"]["has_more"]:
            return stored
        offset += PAGE


async def run_load(
    client: httpx.AsyncClient, *, clients: int, events: int, searchers: int, keys: bool = True
) -> Report:
    """Write and search at once through `client`, then read back what the run stored."""
    report = Report(uuid.uuid4().hex[:12], clients, events, searchers, keys)
    stop = asyncio.Event()
    searching = [
        asyncio.create_task(_searcher(client, report, number, stop)) for number in range(searchers)
    ]
    started = time.perf_counter()
    try:
        await asyncio.gather(*(_writer(client, report, number) for number in range(clients)))
    finally:
        report.write_seconds = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*searching)
    report.stored = await _stored_ids(client, report.run_id)
    return report


def render(report: Report, header: str) -> str:
    acknowledged = len(report.acknowledged)
    rate = acknowledged / report.write_seconds if report.write_seconds else 0.0
    errors = ", ".join(f"{name}: {count}" for name, count in report.errors.most_common()) or "none"
    lines = [
        header,
        f"run {report.run_id}: {report.clients} writers x {report.events_per_client} events, "
        f"{report.searchers} searchers, Idempotency-Key {'on' if report.keys else 'off'}",
        f"writes acknowledged: {acknowledged} in {report.write_seconds:.1f} s "
        f"-> {rate:.1f} events/s",
        f"write latency ms: P50 {percentile(report.write_ms, 50)} · "
        f"P95 {percentile(report.write_ms, 95)} · P99 {percentile(report.write_ms, 99)} · "
        f"max {percentile(report.write_ms, 100)}",
        f"search latency ms during the load: P50 {percentile(report.search_ms, 50)} · "
        f"P95 {percentile(report.search_ms, 95)} ({len(report.search_ms)} searches, "
        f"{len(report.search_ms) / report.write_seconds:.1f}/s)"
        if report.write_seconds
        else "no searches",
        f"errors: {errors}; retries: {report.retries}",
        f"verify: stored {sum(report.stored.values())}, lost {report.lost}, "
        f"duplicated {report.duplicated} -> {'OK' if report.ok else 'FAILED'}",
    ]
    return "\n".join(lines)


def spawn_server(mode: str) -> tuple[str, subprocess.Popen[bytes]]:
    from api.core.local_postgres import drop_database, ensure_database, start_embedded_server
    from api.core.migrations import upgrade
    from scripts.bench.search import BENCH_DIR
    from scripts.serve import spawn

    admin = start_embedded_server(BENCH_DIR / "postgres")
    drop_database(admin, "mnemolite_load")
    url = ensure_database(admin, "mnemolite_load")
    upgrade(url)
    env = {"DATABASE_URL": url, "EMBEDDING_MODE": mode, "LOG_LEVEL": "warning"}
    return f"http://127.0.0.1:{SPAWN_PORT}", spawn(env, port=SPAWN_PORT, timeout=180)


async def _main(args: argparse.Namespace, url: str) -> Report:
    headers = {"X-API-Key": args.api_key} if args.api_key else auth_headers()
    limits = httpx.Limits(max_connections=args.clients + args.searchers + 4)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=args.timeout
    ) as client:
        return await run_load(
            client,
            clients=args.clients,
            events=args.events,
            searchers=args.searchers,
            keys=not args.no_keys,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="server to load (unless --spawn)")
    parser.add_argument("--spawn", choices=["mock", "real"], help="start a server: embedder mode")
    parser.add_argument("--clients", type=int, default=32, help="concurrent writers")
    parser.add_argument("--events", type=int, default=50, help="events per writer")
    parser.add_argument("--searchers", type=int, default=4, help="concurrent searchers")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    parser.add_argument(
        "--no-keys", action="store_true", help="no Idempotency-Key (retries may double writes)"
    )
    parser.add_argument("--api-key", help="default: API_KEY from the environment or .env")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise

    url, server = args.url, None
    if args.spawn:
        url, server = spawn_server(args.spawn)
    try:
        report = asyncio.run(_main(args, url))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    header = (
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')} · machine: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()} · "
        f"server: {url} ({'spawned, ' + args.spawn + ' embedder' if args.spawn else 'external'})"
    )
    sys.stdout.write(render(report, header) + "\n")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
