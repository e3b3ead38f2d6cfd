"""Rows the service cannot serve, written behind its back with SQL, must not break any reader.

Each poisoned row matches every query the good row matches (same words, same metadata, same
vector), so every list, filter, search mode, UI page, MCP read and the export meets it. Each
reader must answer 200 with the good row, leave the poisoned ones out and log why; reading a
poisoned row by id answers 409 `event_unrenderable`, and it can still be deleted.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from structlog.testing import capture_logs

from api.core.json_limits import MAX_JSON_DEPTH
from api.ops.transfer import service as transfer

ROOT = Path(__file__).resolve().parents[2]
WORDS = "billing migration decided"
META = {"project": "poison"}
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}

# SQL building each poisoned row's content and metadata from the good row's words and metadata
# ($1 text, $2 jsonb): a nesting past every serializer (300), past Python's parser (5,000), just
# past the limit, and a number Python will not read back (5,001 digits).
POISONS = {
    "content_300_deep": (
        "jsonb_build_object('text', $1::text, 'deep',"
        " (repeat('[', 300) || '1' || repeat(']', 300))::jsonb)",
        "$2::jsonb",
    ),
    "metadata_5000_deep": (
        "jsonb_build_object('text', $1::text)",
        "$2::jsonb || jsonb_build_object('deep', (repeat('{\"a\":', 5000) || '1'"
        " || repeat('}', 5000))::jsonb)",
    ),
    "content_just_over_the_limit": (
        f"jsonb_build_object('text', $1::text, 'deep', (repeat('[', {MAX_JSON_DEPTH}) || '1'"
        f" || repeat(']', {MAX_JSON_DEPTH}))::jsonb)",
        "$2::jsonb",
    ),
    "huge_number": ("jsonb_build_object('text', $1::text, 'n', '1e5000'::numeric)", "$2::jsonb"),
}


@dataclass
class Seeded:
    good: str
    poisoned: dict[str, str]  # name -> id
    vector: list[float]

    @property
    def poisoned_ids(self) -> set[str]:
        return set(self.poisoned.values())


@pytest.fixture
async def seeded(client: httpx.AsyncClient, conn: asyncpg.Connection) -> Seeded:
    response = await client.post("/v1/events", json={"content": {"text": WORDS}, "metadata": META})
    assert response.status_code == 201, response.text
    good = response.json()["id"]
    poisoned = {}
    for name, (content, metadata) in POISONS.items():
        # Same vector and timestamp as the good row: every search and list meets both.
        poisoned[name] = str(
            await conn.fetchval(
                f"""
                INSERT INTO events (tenant_id, id, timestamp, content, metadata, embedding)
                SELECT g.tenant_id, uuidv7(), g.timestamp, {content}, {metadata}, g.embedding
                FROM events g WHERE g.id = $3
                RETURNING id
                """,
                WORDS,
                META,  # the connection's codec encodes it
                good,
            )
        )
    text = await conn.fetchval("SELECT embedding::text FROM events WHERE id = $1", good)
    vector = json.loads(text)
    return Seeded(good, poisoned, vector)


def assert_skipped(logs: list[dict[str, Any]], seeded: Seeded, *, event: str) -> None:
    """Every poisoned row met was logged as a warning naming it."""
    logged = {
        entry.get("event_id") or entry.get("id")
        for entry in logs
        if entry["event"] == event and entry["log_level"] == "warning"
    }
    assert logged >= seeded.poisoned_ids, logs


def ids_in(body: Any) -> list[str]:
    if isinstance(body, dict):
        body = body.get("data", body.get("events", body.get("results")))
    return [str(item["id"]) for item in body]


def read_paths(seeded: Seeded) -> list[tuple[str, str, Any]]:
    meta = json.dumps(META)
    vector = json.dumps(seeded.vector)
    paths: list[tuple[str, str, Any]] = [
        ("GET", "/v1/events", None),
        ("GET", f"/v1/events?filter_metadata={meta}", None),
        ("GET", "/v1/events?include_embedding=true", None),
        ("POST", "/v1/events/filter/metadata", META),
        ("POST", "/v1/events/search/embedding", seeded.vector),
        ("GET", f"/v1/search?filter_metadata={meta}", None),
        ("GET", f"/v1/search?vector_query={vector}&mode=vector", None),
        ("POST", "/v1/search", {"metadata": META}),
        ("POST", "/v1/search", {"vector": seeded.vector, "mode": "vector"}),
    ]
    for mode in ("hybrid", "vector", "lexical"):
        paths += [
            ("GET", f"/v1/search?query={WORDS}&mode={mode}", None),
            ("GET", f"/v1/search?query={WORDS}&mode={mode}&filter_metadata={meta}", None),
            ("POST", "/v1/search", {"query": WORDS, "mode": mode}),
            ("POST", "/v1/search", {"query": WORDS, "mode": mode, "metadata": META}),
        ]
    return paths


async def test_every_json_reader_skips_what_it_cannot_serve(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    for method, path, body in read_paths(seeded):
        with capture_logs() as logs:
            response = await client.request(method, path, json=body)
        assert response.status_code == 200, (method, path, body, response.text)
        found = ids_in(response.json())
        assert seeded.good in found, (method, path, body, found)
        assert not seeded.poisoned_ids & set(found), (method, path, body)
        assert_skipped(logs, seeded, event="event_unrenderable")


async def test_a_page_is_short_but_offsets_stay_exact(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    """Paging over the poisoned rows neither repeats nor loses the good one."""
    seen = []
    for offset in range(len(POISONS) + 1):
        response = await client.get(f"/v1/events?limit=1&offset={offset}")
        assert response.status_code == 200, response.text
        seen += ids_in(response.json())
        assert response.json()["meta"]["has_more"] == (offset < len(POISONS))
    assert seen == [seeded.good]


async def test_reading_one_by_id_says_why_and_it_can_be_deleted(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    for name, event_id in seeded.poisoned.items():
        response = await client.get(f"/v1/events/{event_id}")
        assert response.status_code == 409, (name, response.text)
        body = response.json()
        assert body["error"] == "event_unrenderable"
        assert event_id in body["detail"] and "DELETE" in body["detail"]
        expected = "not readable as JSON" if name == "huge_number" else "MAX_JSON_DEPTH"
        assert expected in body["detail"], body
        patched = await client.patch(f"/v1/events/{event_id}/metadata", json={"x": 1})
        assert patched.status_code == 409, patched.text
        assert "the metadata was merged" in patched.json()["detail"]
        assert (await client.delete(f"/v1/events/{event_id}")).status_code == 204
        assert (await client.get(f"/v1/events/{event_id}")).status_code == 404


async def test_a_patch_that_replaces_the_poisoned_key_repairs_the_row(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    event_id = seeded.poisoned["metadata_5000_deep"]
    response = await client.patch(f"/v1/events/{event_id}/metadata", json={"deep": "fixed"})
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {**META, "deep": "fixed"}


async def test_ui_pages_skip_what_they_cannot_show(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    pages = ["/ui", "/ui/events", f"/ui/events?key=project&value={META['project']}"]
    pages += [f"/ui/search?q={WORDS}&mode={mode}" for mode in ("hybrid", "vector", "lexical")]
    pages.append(f"/ui/events/{seeded.good}")  # its similar events include every poisoned row
    for page in pages:
        with capture_logs() as logs:
            response = await client.get(page)
        assert response.status_code == 200, (page, response.text)
        assert f"/ui/events/{seeded.good}" in response.text or page.endswith(seeded.good), page
        for event_id in seeded.poisoned_ids:
            assert event_id not in response.text, page
        assert_skipped(logs, seeded, event="event_unrenderable")


async def test_the_ui_page_of_a_poisoned_event_explains_and_offers_deletion(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    event_id = seeded.poisoned["content_300_deep"]
    response = await client.get(f"/ui/events/{event_id}")
    assert response.status_code == 409, response.text
    assert "MAX_JSON_DEPTH" in response.text
    assert f'hx-delete="/ui/events/{event_id}"' in response.text
    fragment = await client.get(f"/ui/events/{event_id}", headers={"HX-Request": "true"})
    assert fragment.status_code == 409 and "<html" not in fragment.text
    assert (await client.delete(f"/ui/events/{event_id}")).status_code == 200
    assert (await client.get(f"/v1/events/{event_id}")).status_code == 404


async def mcp(client: httpx.AsyncClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    call = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = await client.post("/mcp", json=call, headers=MCP_HEADERS)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


async def test_mcp_reads_skip_what_they_cannot_serve(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    for mode in ("hybrid", "vector", "lexical"):
        arguments = {"query": WORDS, "mode": mode, "metadata": META}
        with capture_logs() as logs:
            result = await mcp(client, "tools/call", {"name": "recall", "arguments": arguments})
        assert not result.get("isError"), result
        found = ids_in(json.loads(result["content"][0]["text"]))
        assert found == [seeded.good], (mode, found)
        assert_skipped(logs, seeded, event="event_unrenderable")

    with capture_logs() as logs:
        result = await mcp(client, "resources/read", {"uri": "mnemolite://events/recent"})
    assert ids_in(json.loads(result["contents"][0]["text"])) == [seeded.good]
    assert_skipped(logs, seeded, event="event_unrenderable")

    for event_id in seeded.poisoned_ids:
        arguments = {"event_id": event_id}
        result = await mcp(client, "tools/call", {"name": "get_event", "arguments": arguments})
        assert result.get("isError"), result
        assert "cannot return" in result["content"][0]["text"]


async def test_export_leaves_out_and_reports_what_no_import_would_take(
    client: httpx.AsyncClient, conn: asyncpg.Connection, settings, seeded: Seeded, tmp_path
) -> None:
    path = tmp_path / "out.jsonl"
    with capture_logs() as logs, path.open("w", encoding="utf-8") as out:
        counts = await transfer.export(
            conn, out.write, space=transfer.configured_space(settings), contents=["events"]
        )
    assert counts.events == 1 and counts.skipped == len(POISONS)
    assert {str(row.id) for row in counts.skipped_rows} == seeded.poisoned_ids
    assert_skipped(logs, seeded, event="export_row_skipped")
    # What was written is a file an import takes whole.
    scan = await transfer.scan(path)
    assert scan.valid and scan.events == 1, scan


def run_export(database_url: str, path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EMBEDDING_MODE": "mock",
        "EMBEDDING_DIMENSION": "384",
        "LOG_LEVEL": "warning",
    }
    return subprocess.run(
        [sys.executable, "-m", "scripts.export_jsonl", "--file", str(path), "--only", "events"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_make_export_reports_the_rows_it_left_out(
    database_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    path = tmp_path / "export.jsonl"
    done = run_export(database_url, path)
    assert done.returncode == 0, done.stderr
    assert "Exported 1 events" in done.stdout
    assert f"Left out {len(POISONS)} row(s)" in done.stderr
    for event_id in seeded.poisoned_ids:
        assert event_id in done.stderr
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines[1:]] == [seeded.good]
