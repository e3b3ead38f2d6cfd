"""Index job leases: a job whose worker died is resumed, one abandoned too often fails, a live
job is never stolen, and a stopping worker puts its job back in the queue."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

import pytest

from api.code.index import repository as code_repository
from api.code.index.schemas import IndexRequest
from api.code.jobs import repository, service
from api.code.jobs import worker as job_worker
from api.code.jobs.service import LeasePolicy
from api.core.config import Settings
from api.core.database import Database, create_pool
from api.core.metrics import Metrics
from api.core.migrations import upgrade
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.embeddings.factory import Embedders
from tests.support.repos import module

FILES = 120  # three batches of service.BATCH_FILES (50)


class GatedEmbedder:
    """The mock embedder, holding the `block_at`-th call (and later ones) until `open` is set.

    The job calls it twice per batch (texts, then code), so block_at=3 stops in batch two.
    """

    def __init__(self, inner: Any, block_at: int) -> None:
        self.inner = inner
        self.block_at = block_at
        self.calls = 0
        self.blocked = asyncio.Event()
        self.open = asyncio.Event()

    @property
    def model_name(self) -> str:
        return str(self.inner.model_name)

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    async def embed_documents(self, texts: Sequence[str]) -> Any:
        self.calls += 1
        if self.calls >= self.block_at:
            self.blocked.set()
            await self.open.wait()
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text: str) -> Any:
        return await self.inner.embed_query(text)


def gated(embedders: Embedders, block_at: int) -> tuple[Embedders, GatedEmbedder]:
    gate = GatedEmbedder(embedders.text, block_at)
    return Embedders(text=gate, code=gate), gate  # type: ignore[arg-type]


@pytest.fixture
async def database(
    scratch_url: str, settings: Settings, metrics: Metrics
) -> AsyncIterator[Database]:
    """The service's pool on a scratch database, handing out connections of the default tenant
    (the worker takes jobs across tenants whatever tenant it is given)."""
    upgrade(scratch_url)
    created = await create_pool(scratch_url, settings)
    yield Database(created, metrics).for_tenant(DEFAULT_TENANT_ID)
    await created.close()


async def enqueue(database: Database, files: int = FILES) -> UUID:
    async with database.connection() as conn:
        request = IndexRequest(repository="r", files=[module(i) for i in range(files)])
        return (await service.enqueue(conn, request)).id


async def job_row(database: Database, job_id: UUID) -> dict[str, Any]:
    async with database.connection() as conn:
        record = await conn.fetchrow(
            """
            SELECT status, worker, attempts, processed_files, indexed_chunks, result,
                   request IS NOT NULL AS has_request, heartbeat_at, finished_at
            FROM index_jobs WHERE id = $1
            """,
            job_id,
        )
    return dict(record)


async def age_lease(database: Database, job_id: UUID) -> None:
    """What the clock does to the lease of a dead worker."""
    async with database.connection() as conn:
        await conn.execute(
            "UPDATE index_jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1", job_id
        )


async def cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_job_whose_worker_died_is_resumed_and_completes(database, embedders):
    job_id = await enqueue(database)
    slow, gate = gated(embedders, block_at=3)
    dead = asyncio.create_task(service.run_next(database, slow, worker="dead"))
    await asyncio.wait_for(gate.blocked.wait(), 10)
    await cancel(dead)  # the worker dies in batch two, after batch one was recorded
    before = await job_row(database, job_id)
    assert before["status"] == "running" and before["attempts"] == 1
    assert before["processed_files"] == service.BATCH_FILES
    assert before["result"]["indexed_files"] == service.BATCH_FILES  # the totals so far

    # Within the lease nobody takes it over; once it lapsed, the next worker does.
    assert not await service.run_next(database, embedders, worker="next")
    await age_lease(database, job_id)
    assert await service.run_next(database, embedders, worker="next")

    after = await job_row(database, job_id)
    assert after["status"] == "succeeded" and after["worker"] == "next"
    assert after["attempts"] == 2 and after["processed_files"] == FILES
    assert not after["has_request"]
    # Batch one was not redone: every file counts once, as indexed.
    assert after["result"]["indexed_files"] == FILES
    assert after["result"]["unchanged_files"] == 0
    assert after["result"]["indexed_nodes"] > 0
    async with database.connection() as conn:
        rows = await code_repository.chunk_rows(conn, "r")
    assert after["indexed_chunks"] == after["result"]["indexed_chunks"] == len(rows) == 2 * FILES


async def test_a_job_abandoned_too_often_fails_with_a_message(database, embedders):
    job_id = await enqueue(database, files=1)
    policy = LeasePolicy(lease_seconds=60, max_attempts=2)
    for worker in ("crashed-1", "crashed-2"):
        async with database.connection() as conn:
            claimed = await repository.claim(
                conn, worker, lease_seconds=policy.lease_seconds, max_attempts=2
            )
        assert claimed is not None and claimed.id == job_id
        await age_lease(database, job_id)

    assert not await service.run_next(database, embedders, worker="next", policy=policy)
    job = await job_row(database, job_id)
    assert job["status"] == "failed" and job["attempts"] == 2
    assert job["finished_at"] is not None and not job["has_request"]
    assert "abandoned on its last allowed attempt (2)" in job["result"]["error"]
    assert job["worker"] == "crashed-2"  # the last one to try


async def test_a_live_job_renews_its_lease_and_is_not_stolen(database, embedders):
    job_id = await enqueue(database)
    policy = LeasePolicy(lease_seconds=1.0, heartbeat_seconds=0.2)
    slow, gate = gated(embedders, block_at=1)  # stuck in its first batch, as a slow model is
    live = asyncio.create_task(service.run_next(database, slow, worker="live", policy=policy))
    try:
        await asyncio.wait_for(gate.blocked.wait(), 10)
        first = (await job_row(database, job_id))["heartbeat_at"]
        await asyncio.sleep(2 * policy.lease_seconds)
        assert not await service.run_next(database, embedders, worker="thief", policy=policy)
        running = await job_row(database, job_id)
        assert running["heartbeat_at"] > first
        assert running["worker"] == "live" and running["attempts"] == 1
        gate.open.set()
        assert await asyncio.wait_for(live, 30)
    finally:
        await cancel(live)
    done = await job_row(database, job_id)
    assert done["status"] == "succeeded" and done["worker"] == "live" and done["attempts"] == 1


async def test_a_worker_that_lost_its_lease_does_not_overwrite_the_job(database, embedders):
    """A worker that stalled past its lease (no heartbeat) finds another one took over."""
    job_id = await enqueue(database)
    policy = LeasePolicy(lease_seconds=0.3, heartbeat_seconds=60)
    slow, gate = gated(embedders, block_at=1)
    stalled = asyncio.create_task(service.run_next(database, slow, worker="stalled", policy=policy))
    try:
        await asyncio.wait_for(gate.blocked.wait(), 10)
        await asyncio.sleep(2 * policy.lease_seconds)
        assert await service.run_next(database, embedders, worker="rescuer", policy=policy)
        gate.open.set()
        assert await asyncio.wait_for(stalled, 30)  # it ran, then gave the job up
    finally:
        await cancel(stalled)
    job = await job_row(database, job_id)
    assert job["status"] == "succeeded" and job["worker"] == "rescuer" and job["attempts"] == 2
    assert job["processed_files"] == FILES and job["result"]["indexed_files"] == FILES


async def test_a_stopping_worker_requeues_its_job_after_the_current_batch(database, embedders):
    job_id = await enqueue(database)
    slow, gate = gated(embedders, block_at=3)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        job_worker.work(database, slow, stop, worker="w", poll_seconds=0.05)
    )
    try:
        await asyncio.wait_for(gate.blocked.wait(), 10)
        stop.set()  # as the lifespan does on shutdown, while batch two embeds
        gate.open.set()
        await asyncio.wait_for(worker, 30)
    finally:
        await cancel(worker)
    paused = await job_row(database, job_id)
    assert paused["status"] == "queued" and paused["attempts"] == 0
    assert paused["processed_files"] == 2 * service.BATCH_FILES  # the batch in progress ended
    assert paused["has_request"] and paused["heartbeat_at"] is None

    assert await service.run_next(database, embedders, worker="w2")
    done = await job_row(database, job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["result"]["indexed_files"] == FILES and done["indexed_chunks"] == 2 * FILES


async def test_a_job_cut_off_from_the_database_is_resumed_later(
    database, embedders, scratch_url, settings, metrics
):
    """Losing the database mid-job is not the job's fault: it is not failed, but resumed."""
    job_id = await enqueue(database)
    cut_off = Database(await create_pool(scratch_url, settings), metrics)
    slow, gate = gated(embedders, block_at=3)
    worker = asyncio.create_task(service.run_next(cut_off, slow, worker="cut-off"))
    try:
        await asyncio.wait_for(gate.blocked.wait(), 10)
        cut_off.pool.terminate()  # every connection of that worker's pool drops, as in an outage
        gate.open.set()
        assert await asyncio.wait_for(worker, 30)  # it gave the job up without failing it
    finally:
        await cancel(worker)
    interrupted = await job_row(database, job_id)
    assert interrupted["status"] == "running" and interrupted["attempts"] == 1
    assert interrupted["processed_files"] == service.BATCH_FILES and interrupted["has_request"]

    await age_lease(database, job_id)
    assert await service.run_next(database, embedders, worker="next")
    done = await job_row(database, job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert done["result"]["indexed_files"] == FILES


async def test_jobs_apply_the_file_size_limit_they_are_given(database, embedders):
    async with database.connection() as conn:
        files = [module(0), {"path": "big.py", "content": "x = 1\n" * 100}]
        job_id = (await service.enqueue(conn, IndexRequest(repository="r", files=files))).id
    assert await service.run_next(database, embedders, worker="w", max_file_bytes=400)
    async with database.connection() as conn:
        job = await service.get(conn, job_id)
    assert job.status == "succeeded"
    assert [(e.file, "CODE_INDEX_MAX_FILE_BYTES" in e.error) for e in job.errors] == [
        ("big.py", True)
    ]
