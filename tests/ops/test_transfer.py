"""Export to JSON Lines and import back: same data, no duplicates, bad lines named, re-embedding."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from api.code.index.chunking import Chunk
from api.code.index.texts import embedding_text
from api.embeddings.texts import text_for_embedding
from api.ops.transfer import service
from api.ops.transfer.schemas import ImportReport
from tests.support.repos import GRAPH_FILES, payload

ROOT = Path(__file__).resolve().parents[2]

EVENTS = [
    {"content": {"text": "the billing migration is done"}, "metadata": {"project": "alpha"}},
    {
        "content": {"message": "deploy failed with ERR-4312", "tags": ["ci"]},
        "metadata": {"project": "beta", "n": 2, "nested": {"ok": True}},
        "timestamp": "2025-03-01T12:00:00+00:00",
    },
    {"content": {"title": "héllo wörld, unicode survives"}, "metadata": {}},
]


async def seed(client, repository: str = "acme") -> None:
    response = await client.post("/v1/events/batch", json={"events": EVENTS})
    assert response.status_code == 201, response.text
    body = {
        "repository": repository,
        "commit_hash": "abc123",
        "files": payload(GRAPH_FILES),
    }
    response = await client.post("/v1/code/index", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["indexed_edges"] > 0


async def snapshot(conn) -> dict[str, list]:
    """Everything an export should carry, in a comparable form (graph by names, not ids)."""
    queries = {
        "events": """
            SELECT id, timestamp, content, metadata, embedding::text FROM events ORDER BY id""",
        "files": """
            SELECT id, repository, path, language, content_hash, size_bytes, commit_hash,
                   indexed_at
            FROM code_files ORDER BY id""",
        "chunks": """
            SELECT id, file_id, repository, file_path, language, kind, name, qualified_name,
                   start_line, end_line, source_code, metadata, embedding_text::text,
                   embedding_code::text, search_name, search_doc, search_body
            FROM code_chunks ORDER BY id""",
        "nodes": """
            SELECT repository, kind, qualified_name, chunk_id FROM nodes
            ORDER BY repository, kind, qualified_name, chunk_id""",
        "edges": """
            SELECT e.relationship, s.qualified_name AS source, t.qualified_name AS target
            FROM edges e
            JOIN nodes s ON s.tenant_id = e.tenant_id AND s.id = e.source_id
            JOIN nodes t ON t.tenant_id = e.tenant_id AND t.id = e.target_id
            ORDER BY 1, 2, 3""",
    }
    return {name: [tuple(row) for row in await conn.fetch(sql)] for name, sql in queries.items()}


async def wipe(conn) -> None:
    await conn.execute("TRUNCATE events, code_files, nodes CASCADE")


async def export_to(path: Path, conn, settings, **options) -> None:
    with path.open("w", encoding="utf-8") as out:
        await service.export(conn, out.write, space=service.configured_space(settings), **options)


async def import_from(path: Path, conn, settings, embedders, **options) -> ImportReport:
    scan = await service.scan(path)
    return await service.import_file(
        conn,
        path,
        scan=scan,
        target=service.configured_space(settings),
        embedders=embedders,
        text_fields=settings.embedding_text_fields,
        **options,
    )


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


async def test_export_wipe_import_gives_the_same_data(client, conn, settings, embedders, tmp_path):
    await seed(client)
    # Chunks indexed without embeddings come back without.
    plain = {"repository": "plain", "files": [{"path": "x.py", "content": "def f():\n    pass\n"}]}
    response = await client.post("/v1/code/index", json={**plain, "generate_embeddings": False})
    assert response.status_code == 201
    before = await snapshot(conn)
    assert before["events"] and before["chunks"] and before["edges"]
    path = tmp_path / "out.jsonl"
    await export_to(path, conn, settings)

    lines = read_lines(path)
    header = lines[0]
    assert header["format"] == "mnemolite" and header["version"] == 1
    space = (header["text_model"], header["code_model"], header["dimension"])
    assert space == ("mock", "mock", 384)
    assert "exported_at" in header
    types = [line["type"] for line in lines[1:]]
    assert types.count("event") == 3 and types.count("code_file") == 3
    chunk_lines = [line for line in lines[1:] if line["type"] == "code_chunk"]
    assert any(line["embedding_text"] is None for line in chunk_lines)
    # Files come before chunks, so an import finds a chunk's file in place.
    assert max(i for i, t in enumerate(types) if t == "code_file") < types.index("code_chunk")

    await wipe(conn)
    report = await import_from(path, conn, settings, embedders)
    assert report.events.inserted == 3 and report.code_files.inserted == 3
    assert report.code_chunks.inserted == len(before["chunks"])
    assert not report.reembedded_text and not report.reembedded_code
    assert report.embedded_events == 0
    assert [g.repository for g in report.graphs] == ["acme", "plain"]

    after = await snapshot(conn)
    # Vectors are compared in pgvector's text form: exactly the same floats.
    assert after == before


async def test_reimport_adds_nothing(client, conn, settings, embedders, tmp_path):
    await seed(client)
    path = tmp_path / "out.jsonl"
    await export_to(path, conn, settings)
    before = await snapshot(conn)

    report = await import_from(path, conn, settings, embedders)  # into the same database
    assert report.events.inserted == report.code_files.inserted == 0
    assert report.code_chunks.inserted == 0
    assert report.events.skipped == 3 and report.code_files.skipped == 2
    assert report.code_chunks.skipped == len(before["chunks"])
    again = await import_from(path, conn, settings, embedders)
    assert again.events.inserted == 0
    assert await snapshot(conn) == before


async def test_interrupted_import_completes_when_run_again(
    client, conn, settings, embedders, tmp_path
):
    await seed(client)
    path = tmp_path / "out.jsonl"
    await export_to(path, conn, settings)
    before = await snapshot(conn)
    await wipe(conn)
    # The first batches of a run that stopped: the events and one file are in, no chunk.
    lines = read_lines(path)
    partial = tmp_path / "partial.jsonl"
    write_lines(partial, lines[:5])
    await import_from(partial, conn, settings, embedders)

    report = await import_from(path, conn, settings, embedders, batch_size=2)
    assert report.events.skipped == 3 and report.code_files.skipped == 1
    assert report.code_files.inserted == 1
    assert await snapshot(conn) == before


async def test_a_bad_line_is_reported_with_its_number_and_nothing_is_written(
    client, conn, settings, embedders, tmp_path
):
    await seed(client)
    path = tmp_path / "out.jsonl"
    await export_to(path, conn, settings)
    await wipe(conn)
    text = path.read_text().splitlines()
    text[2] = '{"type": "event", "id": "not-a-uuid"'  # line 3: cut short
    event = json.loads(text[1])
    event["embedding"] = event["embedding"][:10]  # line 2: wrong size
    text[1] = json.dumps(event)
    path.write_text("\n".join(text) + "\n")

    scan = await service.scan(path)
    assert scan.invalid_lines == 2
    assert [p.line for p in scan.problems] == [2, 3]
    assert "10 dimensions" in scan.problems[0].message and "384" in scan.problems[0].message
    assert "Invalid JSON" in scan.problems[1].message
    with pytest.raises(service.InvalidFile, match="2 invalid line"):
        await import_from(path, conn, settings, embedders)
    assert await conn.fetchval("SELECT count(*) FROM events") == 0
    assert await conn.fetchval("SELECT count(*) FROM code_chunks") == 0

    # Asked to, the valid lines go in and the bad ones are still reported.
    report = await import_from(path, conn, settings, embedders, skip_invalid=True)
    assert report.events.inserted == 1
    assert report.invalid_lines == 2 and [p.line for p in report.problems] == [2, 3]
    assert report.code_chunks.inserted > 0


async def test_a_file_of_other_models_is_embedded_again(
    client, conn, settings, embedders, tmp_path
):
    """A file made with another model and size: its vectors are never stored, the texts are."""
    await seed(client)
    path = tmp_path / "out.jsonl"
    await export_to(path, conn, settings)
    await wipe(conn)
    rng = np.random.default_rng(7)
    lines = read_lines(path)
    lines[0].update(text_model="other/text-model", code_model="other/code-model", dimension=8)
    for line in lines[1:]:
        for field in ("embedding", "embedding_text", "embedding_code"):
            if line.get(field) is not None:
                line[field] = rng.standard_normal(8).tolist()
    write_lines(path, lines)

    report = await import_from(path, conn, settings, embedders)
    assert report.reembedded_text and report.reembedded_code
    assert report.embedded_events == 3

    for row in await conn.fetch("SELECT content, embedding FROM events"):
        text = text_for_embedding(row["content"], settings.embedding_text_fields)
        expected = (await embedders.text.embed_documents([text]))[0]
        assert np.allclose(row["embedding"].to_numpy(), expected, atol=1e-6)
    rows = await conn.fetch(
        """SELECT name, qualified_name, kind, language, file_path, start_line, end_line,
                  source_code, metadata, embedding_text, embedding_code FROM code_chunks"""
    )
    assert rows
    for row in rows:
        chunk = Chunk(
            name=row["name"],
            qualified_name=row["qualified_name"],
            kind=row["kind"],
            language=row["language"],
            file_path=row["file_path"],
            start_line=row["start_line"],
            end_line=row["end_line"],
            source=row["source_code"],
            metadata=row["metadata"],
        )
        text_vector = (await embedders.text.embed_documents([embedding_text(chunk)]))[0]
        code_vector = (await embedders.code.embed_documents([chunk.source]))[0]
        assert np.allclose(row["embedding_text"].to_numpy(), text_vector, atol=1e-6)
        assert np.allclose(row["embedding_code"].to_numpy(), code_vector, atol=1e-6)


async def test_a_file_of_the_same_models_keeps_its_vectors(
    client, conn, settings, embedders, tmp_path
):
    """Same models and size: the file's vectors go in as they are, nothing is computed."""
    await seed(client)
    path = tmp_path / "out.jsonl"
    await export_to(path, conn, settings, contents=["events"])
    await wipe(conn)
    lines = read_lines(path)
    marker = np.zeros(384, dtype=np.float32)
    marker[0] = 1.0
    lines[1]["embedding"] = marker.tolist()
    write_lines(path, lines)

    report = await import_from(path, conn, settings, None)  # no embedders needed
    assert report.events.inserted == 3 and report.embedded_events == 0
    stored = await conn.fetchval("SELECT embedding FROM events WHERE id = $1", lines[1]["id"])
    assert np.array_equal(stored.to_numpy(), marker)


async def test_filters_and_a_file_already_indexed_by_the_target(
    client, conn, settings, embedders, tmp_path
):
    await seed(client, "acme")
    await seed(client, "other")
    path = tmp_path / "acme.jsonl"
    await export_to(path, conn, settings, contents=["code"], repositories=["acme"])
    types = {line.get("type") for line in read_lines(path)[1:]}
    assert types == {"code_file", "code_chunk"}
    assert {line["repository"] for line in read_lines(path)[1:]} == {"acme"}

    # The target indexed acme's files itself (other ids): its own version is kept.
    await wipe(conn)
    await seed(client, "acme")
    before = await snapshot(conn)
    report = await import_from(path, conn, settings, embedders)
    assert report.code_files.inserted == 0 and report.code_chunks.inserted == 0
    assert report.chunks_without_file == len(before["chunks"])
    assert (await snapshot(conn))["chunks"] == before["chunks"]


def run_script(module: str, *args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EMBEDDING_MODE": "mock",
        "EMBEDDING_DIMENSION": "384",
        "LOG_LEVEL": "warning",
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_commands_export_and_import(client, conn, database_url, tmp_path):
    await seed(client)
    before = await snapshot(conn)
    path = tmp_path / "cli.jsonl"
    exported = run_script("scripts.export_jsonl", "--file", str(path), database_url=database_url)
    assert exported.returncode == 0, exported.stderr
    assert "Exported 3 events, 2 code files" in exported.stdout
    assert not list(tmp_path.glob("*.partial"))

    await wipe(conn)
    imported = run_script("scripts.import_jsonl", str(path), database_url=database_url)
    assert imported.returncode == 0, imported.stderr
    assert "events: 3 imported, 0 already present" in imported.stdout
    assert await snapshot(conn) == before

    broken = tmp_path / "broken.jsonl"
    lines = path.read_text().splitlines()
    broken.write_text("\n".join([lines[0], lines[1], "{oops", *lines[2:]]) + "\n")
    refused = run_script("scripts.import_jsonl", str(broken), database_url=database_url)
    assert refused.returncode == 2
    assert "line 3:" in refused.stderr and "Nothing was imported" in refused.stderr


# --- lines the API would refuse: non-finite numbers, deep nesting, oversized text -------------


def hostile_file(path: Path, good: list[dict], hostile: list[str]) -> dict[int, str]:
    """The header, then good and hostile lines alternating; returns {line number: kind}."""
    header = {
        "format": "mnemolite",
        "version": 1,
        "exported_at": "2026-01-02T03:04:05Z",
        "text_model": "mock",
        "code_model": "mock",
        "dimension": 384,
    }
    lines, bad = [json.dumps(header)], {}
    for index, record in enumerate(good):
        lines.append(json.dumps(record))
        if index < len(hostile):
            lines.append(hostile[index])
            bad[len(lines)] = hostile[index]
    path.write_text("\n".join(lines) + "\n")
    return bad


def good_events(count: int) -> list[dict]:
    return [
        {
            "type": "event",
            "id": str(uuid.uuid4()),
            "timestamp": "2026-01-02T03:04:05+00:00",
            "content": {"text": f"good line {i}"},
        }
        for i in range(count)
    ]


def raw(content: str) -> str:
    """An event line as text, for what json.dumps would not write (NaN, Infinity)."""
    return (
        f'{{"type": "event", "id": "{uuid.uuid4()}", '
        f'"timestamp": "2026-01-02T03:04:05+00:00", "content": {content}}}'
    )


NON_FINITE_LINES = [
    raw('{"n": NaN}'),
    raw('{"n": Infinity}'),
    raw('{"n": -Infinity}'),
    raw('{"a": {"b": [1, 2, NaN]}}'),
    raw('{"n": 1e400}'),
    raw('{"deep": ' + "[" * 300 + "]" * 300 + "}"),
]


async def test_non_finite_and_deep_lines_are_reported_and_skipped_only_when_asked(
    conn, settings, embedders, tmp_path
):
    path = tmp_path / "hostile.jsonl"
    good = good_events(len(NON_FINITE_LINES) + 1)
    bad = hostile_file(path, good, NON_FINITE_LINES)
    scan = await service.scan(path)
    assert scan.invalid_lines == len(bad) and scan.events == len(good)
    assert [p.line for p in scan.problems] == sorted(bad)
    for problem in scan.problems:
        expected = "MAX_JSON_DEPTH" if "deep" in bad[problem.line] else "finite"
        assert expected in problem.message, (problem, bad[problem.line])

    with pytest.raises(service.InvalidFile, match=f"{len(bad)} invalid line"):
        await import_from(path, conn, settings, embedders)
    assert await conn.fetchval("SELECT count(*) FROM events") == 0

    report = await import_from(path, conn, settings, embedders, skip_invalid=True)
    assert report.events.inserted == len(good)
    assert [p.line for p in report.problems] == sorted(bad)
    stored = await conn.fetch("SELECT id FROM events")
    assert {str(row["id"]) for row in stored} == {event["id"] for event in good}


async def test_the_import_command_lists_non_finite_lines(conn, database_url, tmp_path):
    path = tmp_path / "nan.jsonl"
    good = good_events(3)
    bad = hostile_file(path, good, NON_FINITE_LINES[:2])
    refused = run_script("scripts.import_jsonl", str(path), database_url=database_url)
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    for line in bad:
        assert f"line {line}:" in refused.stderr
    assert "Nothing was imported" in refused.stderr
    assert await conn.fetchval("SELECT count(*) FROM events") == 0

    skipped = run_script(
        "scripts.import_jsonl", str(path), "--skip-invalid", database_url=database_url
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "events: 3 imported" in skipped.stdout
    assert f"invalid lines skipped: {len(bad)}" in skipped.stdout
    assert await conn.fetchval("SELECT count(*) FROM events") == 3


# Distinct words whose full-text vector is over PostgreSQL's 1 MiB: no scan can see it.
HUGE_TEXT = " ".join(f"w{i}x" for i in range(200_000))


async def test_a_text_too_large_to_index_names_its_line(conn, settings, embedders, tmp_path):
    path = tmp_path / "huge.jsonl"
    good = good_events(3)
    vector = [1.0] * settings.embedding_dimension  # the mock model need not read it all
    huge = {**good_events(1)[0], "content": {"text": HUGE_TEXT}, "embedding": vector}
    (line,) = hostile_file(path, good, [json.dumps(huge)])
    scan = await service.scan(path)
    assert scan.valid  # only PostgreSQL can tell

    with pytest.raises(service.TransferError, match=f"line {line}: the text is too large"):
        await import_from(path, conn, settings, embedders, batch_size=2)
    # What came before the line went in; running again (or after fixing the file) completes it.
    assert await conn.fetchval("SELECT count(*) FROM events") == 1

    report = await import_from(path, conn, settings, embedders, skip_invalid=True)
    assert report.events.inserted == 2 and report.events.skipped == 1
    assert report.invalid_lines == 1 and [p.line for p in report.problems] == [line]
    assert "full-text index" in report.problems[0].message
    assert await conn.fetchval("SELECT count(*) FROM events") == 3
