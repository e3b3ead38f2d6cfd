"""Background index jobs: queued, run by the worker in batches, with progress and errors."""

import asyncio
import uuid

from api.code.index import repository
from api.code.index.schemas import IndexRequest
from api.code.jobs import service
from api.core.database import Database, create_pool
from api.core.migrations import upgrade
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from tests.support.jobs import wait_for_job
from tests.support.repos import module


async def test_job_indexes_a_large_repository_in_batches(client, conn):
    files = [module(i) for i in range(120)] + [{"path": "assets/x.bin", "content": "a\x00b"}]
    response = await client.post("/v1/code/index/jobs", json={"repository": "big", "files": files})
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "queued" and queued["total_files"] == 121
    job = await wait_for_job(client, queued["id"])
    assert job["status"] == "succeeded", job
    assert job["processed_files"] == 121 and job["progress"] == 1.0
    assert job["errors"] == [{"file": "assets/x.bin", "error": "binary"}]
    assert job["result"]["indexed_files"] == 120
    assert job["result"]["indexed_nodes"] > 0  # the graph is built once, at the end
    rows = await repository.chunk_rows(conn, "big")
    assert job["indexed_chunks"] == len(rows) == 240
    assert (
        await conn.fetchval("SELECT request FROM index_jobs WHERE id = $1", uuid.UUID(job["id"]))
        is None
    )


async def test_job_errors(client):
    missing = await client.get(f"/v1/code/index/jobs/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["error"] == "job_not_found"
    assert (await client.get("/v1/code/index/jobs/not-a-uuid")).status_code == 422
    bad = await client.post("/v1/code/index/jobs", json={"repository": "", "files": []})
    assert bad.status_code == 422


async def test_a_job_is_claimed_by_one_worker_only(scratch_url, settings, embedders, metrics):
    upgrade(scratch_url)
    pool = await create_pool(scratch_url, settings)
    database = Database(pool, metrics).for_tenant(DEFAULT_TENANT_ID)
    try:
        async with database.connection() as conn:
            request = IndexRequest(repository="r", files=[module(1)])
            await service.enqueue(conn, request)
        ran = await asyncio.gather(
            service.run_next(database, embedders, worker="a"),
            service.run_next(database, embedders, worker="b"),
        )
        assert sorted(ran) == [False, True]
        async with database.connection() as conn:
            status = await conn.fetchval("SELECT status FROM index_jobs")
        assert status == "succeeded"
    finally:
        await pool.close()
