"""Waiting for a background index job through the JSON API."""

import asyncio
import time
from typing import Any

import httpx


async def wait_for_job(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    """Poll GET /v1/code/index/jobs/{id} until the job has succeeded or failed (60 s at most)."""
    deadline = time.monotonic() + 60
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = dict((await client.get(f"/v1/code/index/jobs/{job_id}")).json())
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in 60 s: {job}")
