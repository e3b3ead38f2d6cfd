"""Many writers at once: no write lost or duplicated; concurrent re-indexing stays consistent."""

import asyncio
from collections import Counter

import asyncpg
import httpx
import pytest

from api.code.index import repository as code_index
from api.code.index.service import content_hash
from api.core.database import set_tenant
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from scripts.bench.load import render, run_load

CLIENTS = 32
EVENTS_PER_CLIENT = 6


async def _writer(client: httpx.AsyncClient, number: int) -> list[str]:
    """One client: single events, one of them retried with its key, and a batch."""
    acknowledged = []
    for n in range(EVENTS_PER_CLIENT):
        body = {"content": {"text": f"client {number} event {n}"}, "metadata": {"client": number}}
        headers = {"Idempotency-Key": f"c{number}-e{n}"} if n % 2 else {}
        response = await client.post("/v1/events", json=body, headers=headers)
        assert response.status_code == 201, response.text
        acknowledged.append(response.json()["id"])
        if headers:  # the retry of a request whose response was "lost"
            again = await client.post("/v1/events", json=body, headers=headers)
            assert again.json()["id"] == response.json()["id"]
    batch = {"events": [{"content": {"text": f"client {number} batch {i}"}} for i in range(4)]}
    response = await client.post("/v1/events/batch", json=batch)
    assert response.status_code == 201, response.text
    acknowledged += [event["id"] for event in response.json()["events"]]
    return acknowledged


async def test_concurrent_writers_lose_and_duplicate_nothing(client, conn):
    results = await asyncio.gather(*(_writer(client, number) for number in range(CLIENTS)))
    acknowledged = [event_id for ids in results for event_id in ids]
    assert len(acknowledged) == CLIENTS * (EVENTS_PER_CLIENT + 4)
    assert len(set(acknowledged)) == len(acknowledged)
    stored = [str(row["id"]) for row in await conn.fetch("SELECT id FROM events")]
    assert Counter(stored) == Counter(acknowledged)


def version(tag: str, functions: int) -> list[dict[str, str]]:
    """Five files whose functions (named after `tag`) call one another."""
    files = []
    for f in range(5):
        lines = []
        for i in range(functions):
            callee = f"{tag}_{f}_{(i + 1) % functions}"
            lines.append(f"def {tag}_{f}_{i}(x):\n    return {callee}(x) if x else {i}\n\n")
        files.append({"path": f"pkg/mod{f}.py", "content": "\n".join(lines)})
    return files


async def repository_state(conn: asyncpg.Connection, repo: str) -> dict:
    hashes = dict(
        await conn.fetch("SELECT path, content_hash FROM code_files WHERE repository = $1", repo)
    )
    chunks = Counter(
        (row["file_path"], row["kind"], row["qualified_name"], row["start_line"])
        for row in await code_index.chunk_rows(conn, repo)
    )
    nodes = Counter(
        (row["kind"], row["qualified_name"])
        for row in await conn.fetch(
            "SELECT kind, qualified_name FROM nodes WHERE repository = $1", repo
        )
    )
    edges: int = await conn.fetchval(
        "SELECT count(*) FROM edges e JOIN nodes n ON n.id = e.source_id WHERE n.repository = $1",
        repo,
    )
    return {"hashes": hashes, "chunks": chunks, "nodes": nodes, "edges": edges}


async def index(client: httpx.AsyncClient, repo: str, files: list[dict[str, str]]) -> None:
    response = await client.post("/v1/code/index", json={"repository": repo, "files": files})
    assert response.status_code == 201, response.text


async def test_concurrent_reindexing_ends_in_exactly_one_version(client, conn):
    first, second = version("alpha", 4), version("beta", 7)
    expected = []
    for name, files in (("ref/alpha", first), ("ref/beta", second)):
        await index(client, name, files)
        state = await repository_state(conn, name)
        assert max(state["chunks"].values()) == 1  # the reference itself has no duplicates
        expected.append(state)
    for _ in range(4):
        await asyncio.gather(index(client, "race", first), index(client, "race", second))
        state = await repository_state(conn, "race")
        assert state in expected, "a mix of the two versions, or duplicated rows"


def two_files(x: str, y: str) -> list[dict[str, str]]:
    return [{"path": "x.py", "content": x}, {"path": "y.py", "content": y}]


async def test_a_file_found_unchanged_is_rechecked_under_the_lock(client, conn, database_url):
    """Both requests prepare before either writes; the later one must still end up whole.

    Start: x=a, y=a. One request sends (x=a, y=b) and so writes only y; the other sends
    (x=c, y=a) and writes only x. Without a recheck under the lock the result would be the
    mix x=c, y=b, which neither request asked for.
    """
    a, b, c = "def f():\n    return 1\n", "def g():\n    return 2\n", "def h():\n    return 3\n"
    await index(client, "stale", two_files(a, a))
    holder = await asyncpg.connect(database_url)
    try:
        await set_tenant(holder, DEFAULT_TENANT_ID)  # the lock is the tenant's repository's
        transaction = holder.transaction()
        await transaction.start()
        await code_index.lock_repository(holder, "stale")
        requests = asyncio.gather(
            index(client, "stale", two_files(a, b)), index(client, "stale", two_files(c, a))
        )
        for _ in range(100):  # until both wait for the lock, their preparation done
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if waiting == 2:
                break
            await asyncio.sleep(0.05)
        assert waiting == 2
        await transaction.commit()
        await requests
    finally:
        await holder.close()
    hashes = (await repository_state(conn, "stale"))["hashes"]
    outcomes = [
        {"x.py": content_hash(a), "y.py": content_hash(b)},
        {"x.py": content_hash(c), "y.py": content_hash(a)},
    ]
    assert hashes in outcomes


@pytest.mark.parametrize("rounds", [3])
async def test_delete_racing_an_index_leaves_nothing_or_everything(client, conn, rounds):
    files = version("gamma", 3)
    for _ in range(rounds):
        await index(client, "doomed", version("old", 2))
        deleted, _ = await asyncio.gather(
            client.delete("/v1/code/index/repositories/doomed"), index(client, "doomed", files)
        )
        assert deleted.status_code == 200
        state = await repository_state(conn, "doomed")
        if state["hashes"]:
            assert state["hashes"] == {f["path"]: content_hash(f["content"]) for f in files}
            assert all(name.startswith("gamma") for _, _, name, _ in state["chunks"])
            assert max(state["chunks"].values()) == 1
        else:
            assert not state["chunks"] and not state["nodes"]
        await client.delete("/v1/code/index/repositories/doomed")


async def test_the_load_script_verifies_a_run(client):
    """scripts/bench/load.py's run, small, through the app: its verdict is sound."""
    report = await run_load(client, clients=8, events=5, searchers=2)
    assert report.ok, render(report, "load")
    assert len(report.acknowledged) == 40 and not report.errors
    assert report.search_ms  # searches ran while the writers wrote
