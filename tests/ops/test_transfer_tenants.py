"""Export and import work on one tenant: a file holds one tenant's rows and an import writes
into the tenant it is told to, whichever tenant the file came from."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.core.database import set_tenant
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.ops.transfer import service
from tests.support.repos import GRAPH_FILES, payload

ROOT = Path(__file__).resolve().parents[2]


async def new_tenant(client, name: str) -> str:
    response = await client.post("/v1/admin/tenants", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def seed(client, tenant: str, words: str, repository: str) -> None:
    """Events and an indexed repository of `tenant` (the operator picks it with X-Tenant)."""
    on = {"X-Tenant": tenant}
    events = [{"content": {"text": f"{words} note {i}"}, "metadata": {"n": i}} for i in range(3)]
    response = await client.post("/v1/events/batch", json={"events": events}, headers=on)
    assert response.status_code == 201, response.text
    body = {"repository": repository, "files": payload(GRAPH_FILES)}
    response = await client.post("/v1/code/index", json=body, headers=on)
    assert response.status_code == 201, response.text


async def export_tenant(conn, name: str, path: Path, settings) -> None:
    await service.use_tenant(conn, name)
    with path.open("w", encoding="utf-8") as out:
        await service.export(conn, out.write, space=service.configured_space(settings), tenant=name)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def owned_by(conn, table: str) -> dict[str, int]:
    """Rows of `table` per tenant name, read as the owner across tenants."""
    rows = await conn.fetch(
        f"SELECT t.name, count(*) AS n FROM {table} x JOIN tenants t ON t.id = x.tenant_id "
        "GROUP BY t.name"
    )
    return {row["name"]: row["n"] for row in rows}


async def test_an_export_holds_one_tenants_rows_only(client, conn, settings, tmp_path):
    await new_tenant(client, "alpha")
    await new_tenant(client, "beta")
    await seed(client, "alpha", "alpha", "alpha-repo")
    await seed(client, "beta", "beta", "beta-repo")

    path = tmp_path / "alpha.jsonl"
    await export_tenant(conn, "alpha", path, settings)
    header, *records = read_lines(path)
    assert header["tenant"] == "alpha"
    events = [r for r in records if r["type"] == "event"]
    assert len(events) == 3
    assert all(e["content"]["text"].startswith("alpha") for e in events)
    code = [r for r in records if r["type"] != "event"]
    assert code and {r["repository"] for r in code} == {"alpha-repo"}

    # The default tenant holds nothing: its export is a header alone.
    empty = tmp_path / "default.jsonl"
    await export_tenant(conn, "default", empty, settings)
    header, *records = read_lines(empty)
    assert header["tenant"] == "default" and records == []


async def test_an_import_lands_in_the_named_tenant(client, conn, settings, embedders, tmp_path):
    await new_tenant(client, "alpha")
    beta = await new_tenant(client, "beta")
    await seed(client, "alpha", "alpha", "shared")
    path = tmp_path / "alpha.jsonl"
    await export_tenant(conn, "alpha", path, settings)

    await service.use_tenant(conn, "beta")
    scan = await service.scan(path)
    report = await service.import_file(
        conn,
        path,
        scan=scan,
        target=service.configured_space(settings),
        embedders=embedders,
        text_fields=settings.embedding_text_fields,
    )
    # The same ids exist in alpha: in beta they are new all the same.
    assert report.events.inserted == 3 and report.events.skipped == 0
    assert report.code_files.inserted == scan.code_files
    assert report.code_chunks.inserted == scan.code_chunks
    await set_tenant(conn, None, all_tenants=True)
    assert await owned_by(conn, "events") == {"alpha": 3, "beta": 3}
    chunks = await owned_by(conn, "code_chunks")
    assert chunks["alpha"] == chunks["beta"] == scan.code_chunks
    edges = await owned_by(conn, "edges")
    assert edges["beta"] == edges["alpha"] > 0  # the graph is rebuilt in beta

    # Beta's service sees them; the default tenant's does not.
    found = await client.get("/v1/events", headers={"X-Tenant": "beta"})
    assert found.status_code == 200, found.text
    assert len(found.json()["data"]) == 3
    assert (await client.get("/v1/events")).json()["data"] == []
    assert beta != str(DEFAULT_TENANT_ID)


async def test_scopes_travel_with_their_events(conn, settings, embedders, tmp_path):
    await conn.execute(
        """
        INSERT INTO events (content, metadata, embedding, user_id, agent_id, session_id)
        VALUES ('{"text": "scoped"}', '{}', array_fill(0.5, ARRAY[384])::vector, 'u1', 'a1', 's1'),
               ('{"text": "plain"}', '{}', array_fill(0.25, ARRAY[384])::vector, NULL, NULL, NULL)
        """
    )
    path = tmp_path / "scoped.jsonl"
    await export_tenant(conn, "default", path, settings)
    lines = {line["content"]["text"]: line for line in read_lines(path)[1:]}
    assert (lines["scoped"]["user_id"], lines["scoped"]["agent_id"]) == ("u1", "a1")
    assert lines["scoped"]["session_id"] == "s1"
    assert "user_id" not in lines["plain"]  # unset scopes are left out of the line

    await conn.execute("TRUNCATE events")
    scan = await service.scan(path)
    await service.import_file(
        conn,
        path,
        scan=scan,
        target=service.configured_space(settings),
        embedders=embedders,
        text_fields=settings.embedding_text_fields,
    )
    rows = await conn.fetch(
        "SELECT content->>'text' AS text, user_id, agent_id, session_id FROM events ORDER BY 1"
    )
    assert [tuple(row) for row in rows] == [
        ("plain", None, None, None),
        ("scoped", "u1", "a1", "s1"),
    ]


async def test_an_unknown_tenant_is_refused(conn):
    with pytest.raises(service.TransferError, match="no tenant is named 'nowhere'"):
        await service.use_tenant(conn, "nowhere")


def run_script(module: str, *args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "EMBEDDING_MODE": "mock"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_commands_take_a_tenant(client, conn, database_url, tmp_path):
    await new_tenant(client, "alpha")
    await new_tenant(client, "beta")
    await seed(client, "alpha", "alpha", "alpha-repo")
    path = tmp_path / "alpha.jsonl"

    exported = run_script(
        "scripts.export_jsonl", "--file", str(path), "--tenant", "alpha", database_url=database_url
    )
    assert exported.returncode == 0, exported.stderr
    assert "Exported 3 events" in exported.stdout and "tenant alpha" in exported.stdout
    assert read_lines(path)[0]["tenant"] == "alpha"

    imported = run_script(
        "scripts.import_jsonl", str(path), "--tenant", "beta", database_url=database_url
    )
    assert imported.returncode == 0, imported.stderr
    assert "exported from tenant alpha; importing into beta" in imported.stdout
    assert "events: 3 imported, 0 already present" in imported.stdout
    assert (await owned_by(conn, "events")) == {"alpha": 3, "beta": 3}

    for module, args in (
        ("scripts.export_jsonl", ["--file", str(tmp_path / "x.jsonl")]),
        ("scripts.import_jsonl", [str(path)]),
    ):
        refused = run_script(module, *args, "--tenant", "nowhere", database_url=database_url)
        assert refused.returncode == 1, refused.stderr
        assert "no tenant is named 'nowhere'" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / "x.jsonl").exists()
