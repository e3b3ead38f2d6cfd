"""`make backup` / `make restore` against the real PostgreSQL: same rows back, searchable again,
nothing changed by a failed restore, no password in any output.

The scripts run as subprocesses (as `make` runs them) with DATABASE_URL pointing at the test
session's database or a scratch database, never at a developer's `.data/postgres`.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.core.database import set_tenant
from api.core.local_postgres import drop_database, ensure_database
from api.core.migrations import head_revision, upgrade
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.main import create_app
from api.ops.backup.pg_tools import embedded_bin_dir
from api.ops.backup.target import Target, parse_target
from tests.support.repos import FORMAT_JS, RETRY_PY
from tests.support.servers import postgres_running

ROOT = Path(__file__).resolve().parents[2]


async def run_script(
    module: str, *args: str, database_url: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m module` as make does (in a thread: the loop stays free); no terminal."""
    child_env = {**os.environ, "LOG_LEVEL": "warning", **env}
    if database_url is not None:
        child_env["DATABASE_URL"] = database_url
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=child_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


async def snapshot(url: str) -> dict[str, list[str]]:
    """Every row of every table (vectors and generated columns included) and every sequence."""
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        rows = {}
        for (table,) in tables:
            # Names come from the catalogue, not from a caller.
            records = await connection.fetch(f'SELECT t::text FROM public."{table}" t ORDER BY 1')
            rows[table] = [record[0] for record in records]
        sequences = await connection.fetch(
            "SELECT sequencename, last_value FROM pg_sequences "
            "WHERE schemaname = 'public' ORDER BY sequencename"
        )
        rows["(sequences)"] = [str(tuple(record)) for record in sequences]
        return rows
    finally:
        await connection.close()


async def fetchval(url: str, sql: str, *args: object) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def populate(client: httpx.AsyncClient) -> None:
    """Events with given and computed vectors, metadata and times; a code repository + graph."""
    given = [0.0] * 384
    given[7] = 1.0
    events = [
        {
            "content": {"text": f"note {i}: the billing migration step {i} is done"},
            "metadata": {"project": "alpha" if i % 2 else "beta", "n": i, "tags": ["x", i]},
            "timestamp": f"2026-0{1 + i % 9}-1{i % 10}T08:00:00Z",
        }
        for i in range(30)
    ]
    events.append({"content": {"title": "a given vector"}, "embedding": given})
    response = await client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 201, response.text
    indexed = await client.post(
        "/v1/code/index",
        json={
            "repository": "acme/api",
            "files": [
                {"path": "pkg/retry.py", "content": RETRY_PY},
                {"path": "web/format.js", "content": FORMAT_JS},
            ],
        },
    )
    assert indexed.status_code == 201, indexed.text
    assert indexed.json()["indexed_edges"] > 0


@asynccontextmanager
async def serving(url: str, settings, embedders) -> AsyncIterator[httpx.AsyncClient]:
    """The app on another database; its start-up also checks the schema head and dimension."""
    app = create_app(settings, embedders=embedders, database_url=url)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def insert_event(url: str, text: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await set_tenant(connection, DEFAULT_TENANT_ID)  # the tenant_id column's default
        await connection.execute(
            "INSERT INTO events (content, embedding) VALUES ($1::jsonb, $2::vector)",
            json.dumps({"text": text}),
            "[" + ",".join(["0.25"] * 384) + "]",
        )
    finally:
        await connection.close()


async def backup_to(path: Path, url: str) -> subprocess.CompletedProcess[str]:
    result = await run_script("scripts.backup", "--output", str(path), database_url=url)
    assert result.returncode == 0, output(result)
    return result


def with_password(url: str, password: str) -> str:
    target = parse_target(url)
    return Target(url=target.url, password=password, database=target.database).libpq_url()


async def test_backup_and_restore_gives_back_every_row_and_search_works(
    client, database_url, scratch_url, settings, embedders, tmp_path
):
    await populate(client)
    source = await snapshot(database_url)
    assert len(source["events"]) == 31 and source["edges"] and source["code_chunks"]

    archive = tmp_path / "nested" / "mnemolite.dump"
    made = await backup_to(archive, database_url)
    assert archive.is_file() and archive.stat().st_mode & 0o777 == 0o600
    assert str(archive) in made.stdout and head_revision() in made.stdout

    # The target already holds other data, all of which the restore must replace.
    upgrade(scratch_url)
    await insert_event(scratch_url, "must disappear")
    restored = await run_script("scripts.restore", str(archive), "--yes", database_url=scratch_url)
    assert restored.returncode == 0, output(restored)
    assert "nothing to migrate" in restored.stdout

    assert await snapshot(scratch_url) == source
    index = await fetchval(
        scratch_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'events_embedding_hnsw'"
    )
    assert "hnsw" in index
    storage = await fetchval(
        scratch_url,
        "SELECT attstorage FROM pg_attribute "
        "WHERE attrelid = 'events'::regclass AND attname = 'embedding'",
    )
    assert storage == b"m"  # the column's storage survives the round trip

    async with serving(scratch_url, settings, embedders) as http:
        found = await http.post(
            "/v1/search", json={"query": "billing migration step 3", "mode": "hybrid"}
        )
        assert found.status_code == 200
        assert found.json()["data"][0]["content"]["text"].startswith("note 3:")
        vector = [0.0] * 384
        vector[7] = 1.0
        nearest = await http.post("/v1/search", json={"vector": vector, "mode": "vector"})
        assert nearest.json()["data"][0]["content"] == {"title": "a given vector"}
        code = await http.post(
            "/v1/code/search/hybrid",
            json={"query": "retry", "filters": {"repository": "acme/api"}},
        )
        assert code.json()["results"][0]["name"] == "retry"
        stats = await http.get("/v1/code/graph/stats/acme/api")
        assert stats.json()["edges"] == len(source["edges"])
        # Restored sequences keep new rows from colliding with restored ones.
        created = await http.post("/v1/events", json={"content": {"text": "after restore"}})
        assert created.status_code == 201


async def test_restore_into_a_dropped_database_creates_it(admin_url, scratch_url, tmp_path):
    upgrade(scratch_url)
    await insert_event(scratch_url, "kept through a drop")
    before = await snapshot(scratch_url)
    archive = tmp_path / "scratch.dump"
    await backup_to(archive, scratch_url)

    drop_database(admin_url, parse_target(scratch_url).database)
    restored = await run_script(
        "scripts.restore", str(archive), "--yes", "--jobs", "2", database_url=scratch_url
    )
    assert restored.returncode == 0, output(restored)
    assert "creates database" in restored.stdout
    assert await snapshot(scratch_url) == before


@pytest.fixture
async def live(scratch_url: str) -> dict[str, list[str]]:
    """A migrated scratch database holding one event; its snapshot."""
    upgrade(scratch_url)
    await insert_event(scratch_url, "the live data")
    return await snapshot(scratch_url)


async def assert_untouched(url: str, before: dict[str, list[str]]) -> None:
    assert await snapshot(url) == before
    staging = parse_target(url).database + "_restoring"
    assert not await fetchval(url, "SELECT count(*) FROM pg_database WHERE datname = $1", staging)


async def test_missing_file_fails_clearly_and_changes_nothing(scratch_url, live, tmp_path):
    result = await run_script(
        "scripts.restore", str(tmp_path / "nope.dump"), "--yes", database_url=scratch_url
    )
    assert result.returncode == 1
    assert "backup file not found" in result.stderr and "Nothing was changed" in result.stderr
    await assert_untouched(scratch_url, live)


async def test_garbage_file_fails_clearly_and_changes_nothing(scratch_url, live, tmp_path):
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(os.urandom(4096))
    result = await run_script("scripts.restore", str(garbage), "--yes", database_url=scratch_url)
    assert result.returncode == 1
    assert "not a readable pg_dump custom-format archive" in result.stderr
    await assert_untouched(scratch_url, live)


async def test_truncated_archive_fails_while_loading_and_changes_nothing(
    client, database_url, scratch_url, live, tmp_path
):
    await populate(client)
    archive = tmp_path / "full.dump"
    await backup_to(archive, database_url)
    truncated = tmp_path / "truncated.dump"
    data = archive.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])

    result = await run_script("scripts.restore", str(truncated), "--yes", database_url=scratch_url)
    assert result.returncode == 1
    # The table of contents reads fine; the data ends early, in the staging copy.
    assert "pg_restore failed" in result.stderr
    assert "was not changed" in result.stderr
    await assert_untouched(scratch_url, live)


async def test_archive_of_another_database_is_refused(admin_url, scratch_url, live, tmp_path):
    other = "mnemolite_not_ours_" + str(os.getpid())
    other_url = ensure_database(admin_url, other)
    try:
        connection = await asyncpg.connect(other_url)
        await connection.execute("CREATE TABLE invoices (id int)")
        await connection.close()
        archive = tmp_path / "other.dump"
        await backup_to(archive, other_url)
    finally:
        drop_database(admin_url, other)
    result = await run_script("scripts.restore", str(archive), "--yes", database_url=scratch_url)
    assert result.returncode == 1
    assert "not a backup of a MnemoLite database" in result.stderr
    await assert_untouched(scratch_url, live)


async def test_database_in_use_is_not_replaced(scratch_url, live, tmp_path):
    archive = tmp_path / "self.dump"
    await backup_to(archive, scratch_url)
    holder = await asyncpg.connect(scratch_url)  # as a running service would
    try:
        result = await run_script(
            "scripts.restore", str(archive), "--yes", database_url=scratch_url
        )
    finally:
        await holder.close()
    assert result.returncode == 1
    assert "other session(s) are connected" in result.stderr
    await assert_untouched(scratch_url, live)


async def test_without_a_terminal_restore_wants_yes(scratch_url, live, tmp_path):
    archive = tmp_path / "self.dump"
    await backup_to(archive, scratch_url)
    await insert_event(scratch_url, "written after the backup")
    before = await snapshot(scratch_url)
    result = await run_script("scripts.restore", str(archive), database_url=scratch_url)
    assert result.returncode == 1
    assert "pass --yes" in result.stderr
    await assert_untouched(scratch_url, before)


async def test_older_backup_is_reported_or_upgraded(scratch_url, tmp_path):
    upgrade(scratch_url, "0005_code_graph")
    await insert_event(scratch_url, "from an older version")
    archive = tmp_path / "old.dump"
    await backup_to(archive, scratch_url)

    plain = await run_script("scripts.restore", str(archive), "--yes", database_url=scratch_url)
    assert plain.returncode == 0, output(plain)
    assert "older than the code's head" in plain.stdout and "make migrate-up" in plain.stdout
    version = "SELECT version_num FROM alembic_version"
    assert await fetchval(scratch_url, version) == "0005_code_graph"

    upgraded = await run_script(
        "scripts.restore", str(archive), "--yes", "--upgrade", database_url=scratch_url
    )
    assert upgraded.returncode == 0, output(upgraded)
    assert f"upgraded from 0005_code_graph to {head_revision()}" in upgraded.stdout
    assert await fetchval(scratch_url, version) == head_revision()
    assert await fetchval(scratch_url, "SELECT count(*) FROM events") == 1


async def test_password_never_reaches_argv_or_output(scratch_url, live, tmp_path):
    """The embedded server trusts local connections, so any password is accepted and the
    wrappers below can check where it travels."""
    password = parse_target(scratch_url).password or "S3cret-Pa55"
    url = with_password(scratch_url, password)
    log = tmp_path / "argv.log"
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    real = embedded_bin_dir()
    assert real is not None
    for program in ("pg_dump", "pg_restore"):
        wrapper = wrappers / program
        wrapper.write_text(
            "#!/bin/sh\n"
            f"printf '%s\\n' \"$*\" >> '{log}'\n"
            f"printf 'PGPASSWORD=%s\\n' \"$PGPASSWORD\" >> '{log}'\n"
            f"exec '{real / program}' \"$@\"\n"
        )
        wrapper.chmod(0o755)

    archive = tmp_path / "pw.dump"
    env = {"PG_BIN_DIR": str(wrappers)}
    made = await run_script("scripts.backup", "-o", str(archive), database_url=url, **env)
    restored = await run_script("scripts.restore", str(archive), "--yes", database_url=url, **env)
    unreachable = re.sub(r"host=[^&]+", "host=/nonexistent", url)
    failed = await run_script(
        "scripts.backup", "-o", str(tmp_path / "x.dump"), database_url=unreachable
    )

    assert made.returncode == 0 and restored.returncode == 0, output(made) + output(restored)
    assert failed.returncode == 1
    for result in (made, restored, failed):
        assert password not in output(result)
    assert ":***@" in made.stdout
    calls = log.read_text().splitlines()
    argv = [line for line in calls if not line.startswith("PGPASSWORD=")]
    assert argv and all(password not in line for line in argv)
    assert f"PGPASSWORD={password}" in calls
    await assert_untouched(scratch_url, live)


async def test_embedded_server_is_started_and_stopped_again(
    client, database_url, scratch_url, tmp_path
):
    """Without DATABASE_URL both commands act on the embedded server under DATA_DIR."""
    await populate(client)
    source = await snapshot(database_url)
    archive = tmp_path / "source.dump"
    await backup_to(archive, database_url)

    data_dir = tmp_path / "data"
    embedded = {"DATA_DIR": str(data_dir), "DATABASE_URL": ""}
    restored = await run_script("scripts.restore", str(archive), "--yes", **embedded)
    assert restored.returncode == 0, output(restored)
    assert not postgres_running(data_dir / "postgres")

    again = tmp_path / "embedded.dump"
    made = await run_script("scripts.backup", "-o", str(again), **embedded)
    assert made.returncode == 0, output(made)
    assert "host=" + str(data_dir / "postgres") in made.stdout
    assert not postgres_running(data_dir / "postgres")

    restored_back = await run_script(
        "scripts.restore", str(again), "--yes", database_url=scratch_url
    )
    assert restored_back.returncode == 0, output(restored_back)
    assert await snapshot(scratch_url) == source
