"""The partitioning readiness query against the real PostgreSQL, and `make partition-check`."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from api.ops.partition.exceptions import NoEventsTable
from api.ops.partition.schemas import PartitionThresholds
from api.ops.partition.service import events_storage, partition_readiness

ROOT = Path(__file__).resolve().parents[2]


async def insert_events(conn: asyncpg.Connection, count: int) -> None:
    await conn.execute(
        """
        INSERT INTO events (timestamp, content, embedding)
        SELECT timestamptz '2026-01-01' + make_interval(days => i),
               jsonb_build_object('text', 'event ' || i),
               array_fill(0.1 + i, ARRAY[384])::vector
        FROM generate_series(1, $1) AS i
        """,
        count,
    )


async def test_readiness_measures_the_events_table(conn):
    await insert_events(conn, 50)
    readiness = await partition_readiness(conn)
    storage = readiness.storage
    assert (storage.events, storage.events_estimated) == (50, False)
    assert storage.hnsw_bytes > 0 and storage.table_bytes > 0
    assert storage.index_bytes >= storage.hnsw_bytes
    assert storage.total_bytes == storage.table_bytes + storage.index_bytes
    assert storage.shared_buffers_bytes >= 128 * 1024
    assert storage.oldest is not None and storage.newest is not None
    assert (storage.newest - storage.oldest).days == 49
    assert readiness.verdict == "postpone"

    low = await partition_readiness(conn, thresholds=PartitionThresholds(events=50))
    assert low.verdict == "consider partitioning"


async def test_large_tables_are_counted_from_the_planner_estimate(conn):
    await insert_events(conn, 40)
    await conn.execute("ANALYZE events")
    storage = await events_storage(conn, exact_below=10)
    assert (storage.events, storage.events_estimated) == (40, True)


async def test_unmigrated_database_says_so(scratch_url):
    connection = await asyncpg.connect(scratch_url)
    try:
        with pytest.raises(NoEventsTable, match="run the migrations"):
            await events_storage(connection, exact_below=10)
    finally:
        await connection.close()


def run_check(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"}
    return subprocess.run(
        [sys.executable, "-m", "scripts.partition_check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_make_partition_check_prints_the_verdict(conn, database_url):
    await insert_events(conn, 12)
    text = await asyncio.to_thread(run_check, database_url)
    assert text.returncode == 0, text.stderr
    assert "events                12\n" in text.stdout
    assert "Verdict: postpone" in text.stdout
    as_json = await asyncio.to_thread(run_check, database_url, "--json")
    body = json.loads(as_json.stdout)
    assert body["verdict"] == "postpone" and body["storage"]["events"] == 12
