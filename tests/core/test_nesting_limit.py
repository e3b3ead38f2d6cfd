"""One nesting limit, MAX_JSON_DEPTH, at every door that writes content or metadata.

Before it, a value 256 or more levels deep was stored, and every later read that met the row
failed with a 500. Each writer (REST create, batch, PATCH, the UI's metadata form, MCP remember
and update_metadata, the JSON Lines import) must refuse such a value with a clear error naming
the limit and write nothing; whatever it accepts must read back equal. Depth counts objects and
arrays, the top object being level 1.
"""

import itertools
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.core.config import Settings
from api.core.json_limits import MAX_JSON_DEPTH, MAX_JSON_VALUES, json_depth
from api.embeddings.factory import Embedders
from api.ops.transfer import service as transfer

LIMIT_TEXT = f"nested deeper than {MAX_JSON_DEPTH} levels"
BOUNDARY = [1, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 255, 256, 257, 300]
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}
HEADER = {
    "format": "mnemolite",
    "version": 1,
    "exported_at": "2026-01-02T03:04:05Z",
    "text_model": "mock",
    "code_model": "mock",
    "dimension": 384,
}
_unique = itertools.count()


def nested(depth: int, shape: str = "o") -> dict[str, Any]:
    """A JSON object `depth` levels deep; below the top object, level i is an object or an
    array as `shape[i % len(shape)]` says ("o" or "a")."""
    value: Any = "leaf"
    for level in range(depth, 1, -1):
        value = {"k": value} if shape[level % len(shape)] == "o" else [value]
    return {"top": value}


def test_nested_builds_the_depth_it_is_asked_for() -> None:
    for depth in (1, 2, 3, 64, 65, 600):
        for shape in ("o", "a", "oa", "aao"):
            assert json_depth(nested(depth, shape)) == depth


@dataclass
class Outcome:
    accepted: bool
    read_back: Any  # what the door's own reader returns, when accepted
    message: str  # the refusal, when refused


@dataclass
class Doors:
    """Every writer of content or metadata, each returning an Outcome."""

    client: httpx.AsyncClient
    conn: asyncpg.Connection
    settings: Settings
    embedders: Embedders
    tmp_path: Path

    async def count(self) -> int:
        count: int = await self.conn.fetchval("SELECT count(*) FROM events")
        return count

    async def new_event(self) -> str:
        response = await self.client.post(
            "/v1/events", json={"content": {"text": "target"}, "metadata": {"kept": 1}}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def read(self, event_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/events/{event_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def rest(self, path: str, body: Any, *, field: str, method: str = "POST") -> Outcome:
        before = await self.count()
        response = await self.client.request(method, path, json=body)
        if response.status_code in (200, 201):
            return Outcome(True, response.json(), "")
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_input"
        fields = {item["field"]: item["message"] for item in response.json()["detail"]}
        assert field in fields, fields
        assert await self.count() == before, "a refused write stored something"
        return Outcome(False, None, fields[field])

    async def rest_content(self, value: dict[str, Any]) -> Outcome:
        outcome = await self.rest("/v1/events", {"content": value}, field="content")
        if outcome.accepted:
            outcome.read_back = (await self.read(outcome.read_back["id"]))["content"]
        return outcome

    async def rest_metadata(self, value: dict[str, Any]) -> Outcome:
        body = {"content": {"text": "x"}, "metadata": value}
        outcome = await self.rest("/v1/events", body, field="metadata")
        if outcome.accepted:
            outcome.read_back = (await self.read(outcome.read_back["id"]))["metadata"]
        return outcome

    async def batch(self, value: dict[str, Any]) -> Outcome:
        body = {"events": [{"content": {"text": "fine"}}, {"content": value}]}
        outcome = await self.rest("/v1/events/batch", body, field="events.1.content")
        if outcome.accepted:
            stored = outcome.read_back["events"][1]["id"]
            outcome.read_back = (await self.read(stored))["content"]
        return outcome

    async def patch(self, value: dict[str, Any]) -> Outcome:
        event_id = await self.new_event()
        outcome = await self.rest(
            f"/v1/events/{event_id}/metadata", value, field="body", method="PATCH"
        )
        metadata = (await self.read(event_id))["metadata"]
        if not outcome.accepted:
            assert metadata == {"kept": 1}, "a refused patch changed the metadata"
            return outcome
        assert metadata.pop("kept") == 1
        return Outcome(True, metadata, "")

    async def ui_form(self, value: dict[str, Any]) -> Outcome:
        # The form sets one key; its value is JSON text: {"top": <value>} is as deep as `value`.
        event_id = await self.new_event()
        response = await self.client.post(
            f"/ui/events/{event_id}/metadata",
            data={"key": "top", "value": json.dumps(value["top"])},
        )
        metadata = (await self.read(event_id))["metadata"]
        if response.status_code == 200:
            return Outcome(True, {"top": metadata["top"]}, "")
        assert response.status_code == 422, response.text
        assert 'role="alert"' in response.text
        assert metadata == {"kept": 1}, "a refused form changed the metadata"
        return Outcome(False, None, response.text)

    async def mcp(self, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        call = {
            "jsonrpc": "2.0",
            "id": next(_unique),
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        response = await self.client.post("/mcp", json=call, headers=MCP_HEADERS)
        body = response.json()
        if "error" in body:
            # Deeper than the SDK's own JSON parser goes (about 200 levels): a JSON-RPC parse
            # error, before any tool runs.
            assert response.status_code == 400, response.text
            return False, body["error"]["message"]
        result = body["result"]
        return not result.get("isError", False), result["content"][0]["text"]

    async def mcp_remember(self, value: dict[str, Any]) -> Outcome:
        before = await self.count()
        ok, text = await self.mcp("remember", {"text": "remembered", "metadata": value})
        if not ok:
            assert await self.count() == before
            return Outcome(False, None, text)
        _, stored = await self.mcp("get_event", {"event_id": json.loads(text)["id"]})
        return Outcome(True, json.loads(stored)["metadata"], "")

    async def mcp_update(self, value: dict[str, Any]) -> Outcome:
        event_id = await self.new_event()
        ok, text = await self.mcp("update_metadata", {"event_id": event_id, "metadata": value})
        metadata = (await self.read(event_id))["metadata"]
        if not ok:
            assert metadata == {"kept": 1}
            return Outcome(False, None, text)
        assert json.loads(text)["metadata"] == metadata
        assert metadata.pop("kept") == 1
        return Outcome(True, metadata, "")

    async def jsonl_import(self, value: dict[str, Any], *, field: str = "content") -> Outcome:
        event_id = str(uuid.uuid4())
        record = {
            "type": "event",
            "id": event_id,
            "timestamp": "2026-01-02T03:04:05+00:00",
            "content": {"text": "imported"},
            field: value,
        }
        path = self.tmp_path / f"import-{next(_unique)}.jsonl"
        path.write_text(json.dumps(HEADER) + "\n" + json.dumps(record) + "\n")
        scan = await transfer.scan(path)
        before = await self.count()
        options = {
            "scan": scan,
            "target": transfer.configured_space(self.settings),
            "embedders": self.embedders,
            "text_fields": self.settings.embedding_text_fields,
        }
        if scan.invalid_lines:
            assert [problem.line for problem in scan.problems] == [2]
            with pytest.raises(transfer.InvalidFile):
                await transfer.import_file(self.conn, path, **options)
            assert await self.count() == before
            return Outcome(False, None, scan.problems[0].message)
        report = await transfer.import_file(self.conn, path, **options)
        assert report.events.inserted == 1
        return Outcome(True, (await self.read(event_id))[field], "")

    async def jsonl_import_metadata(self, value: dict[str, Any]) -> Outcome:
        return await self.jsonl_import(value, field="metadata")


WRITERS = [
    "rest_content",
    "rest_metadata",
    "batch",
    "patch",
    "ui_form",
    "mcp_remember",
    "mcp_update",
    "jsonl_import",
    "jsonl_import_metadata",
]


@pytest.fixture
def doors(client, conn, settings, embedders, tmp_path) -> Doors:
    return Doors(client, conn, settings, embedders, tmp_path)


@pytest.mark.parametrize("writer", WRITERS)
async def test_each_writer_takes_up_to_the_limit_and_refuses_beyond(
    doors: Doors, writer: str
) -> None:
    for depth in BOUNDARY:
        for shape in ("o", "a", "oa"):
            value = nested(depth, shape)
            outcome = await getattr(doors, writer)(value)
            if depth <= MAX_JSON_DEPTH:
                assert outcome.accepted, (depth, shape, outcome.message)
                assert outcome.read_back == value, (depth, shape)
            else:
                assert not outcome.accepted, (depth, shape)
                if depth < 190 or not writer.startswith("mcp"):
                    assert LIMIT_TEXT in outcome.message, (depth, shape, outcome.message)
                    assert "MAX_JSON_DEPTH" in outcome.message


DEPTHS = st.integers(min_value=1, max_value=600)
SHAPES = st.text(alphabet="oa", min_size=1, max_size=4)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    writer=st.sampled_from(WRITERS),
    # Half of the draws near the limit, where an off-by-one would show.
    depth=st.one_of(DEPTHS, st.integers(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 3)),
    shape=SHAPES,
)
async def test_property_accepted_iff_within_the_limit(
    doors: Doors, writer: str, depth: int, shape: str
) -> None:
    value = nested(depth, shape)
    outcome = await getattr(doors, writer)(value)
    assert outcome.accepted == (depth <= MAX_JSON_DEPTH), (writer, depth, outcome.message)
    if outcome.accepted:
        assert outcome.read_back == value


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
async def test_a_body_too_deep_to_parse_is_a_4xx(client: httpx.AsyncClient, depth: int) -> None:
    deep = '{"a":' * depth + "1" + "}" * depth
    bodies = [
        ("POST", "/v1/events", f'{{"content": {deep}}}'),
        ("POST", "/v1/events/batch", f'{{"events": [{{"content": {deep}}}]}}'),
        ("PATCH", f"/v1/events/{uuid.uuid4()}/metadata", f'{{"x": {deep}}}'),
    ]
    for method, path, body in bodies:
        response = await client.request(
            method, path, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code in (400, 422), (path, response.status_code, response.text)
        assert set(response.json()) == {"error", "detail"}


async def test_the_ui_form_refuses_json_too_deep_for_python(doors: Doors) -> None:
    event_id = await doors.new_event()
    deep = "[" * 5_000 + "]" * 5_000
    response = await doors.client.post(
        f"/ui/events/{event_id}/metadata", data={"key": "x", "value": deep}
    )
    assert response.status_code == 422, response.text
    assert LIMIT_TEXT in response.text
    assert (await doors.read(event_id))["metadata"] == {"kept": 1}


async def test_the_ui_form_refuses_non_finite_numbers(doors: Doors) -> None:
    event_id = await doors.new_event()
    for value in ("NaN", "Infinity", "-Infinity", "1e400"):
        response = await doors.client.post(
            f"/ui/events/{event_id}/metadata", data={"key": "x", "value": value}
        )
        assert response.status_code == 422, (value, response.text)
        assert "finite" in response.text
    assert (await doors.read(event_id))["metadata"] == {"kept": 1}


# --- width: many values in a small body --------------------------------------------------------


@pytest.mark.parametrize("field", ["content", "metadata"])
async def test_too_many_values_are_refused_before_any_work(doors: Doors, field: str) -> None:
    # Well under MAX_REQUEST_BYTES: the body limit alone would let it through.
    wide = {f"k{i}": i for i in range(MAX_JSON_VALUES + 1)}
    body = {"content": {"text": "x"}, field: wide}
    outcome = await doors.rest("/v1/events", body, field=field)
    assert not outcome.accepted
    assert f"more than {MAX_JSON_VALUES} values" in outcome.message
    assert "MAX_JSON_VALUES" in outcome.message
    # Just under the limit is taken (the top object itself is one of the values).
    fits = {f"k{i}": i for i in range(MAX_JSON_VALUES - 1)}
    outcome = await doors.rest("/v1/events", {"content": {"text": "x"}, field: fits}, field=field)
    assert outcome.accepted


async def test_too_many_values_in_an_import_line_are_reported(doors: Doors) -> None:
    wide = {f"k{i}": i for i in range(MAX_JSON_VALUES + 1)}
    outcome = await doors.jsonl_import_metadata(wide)
    assert not outcome.accepted
    assert "MAX_JSON_VALUES" in outcome.message


async def test_text_too_large_for_the_full_text_index_is_a_413(doors: Doors) -> None:
    """Distinct words whose tsvector is over PostgreSQL's 1 MiB: the body limit lets them in."""
    words = " ".join(f"w{i}x" for i in range(200_000))
    vector = [1.0] * doors.settings.embedding_dimension  # the mock model need not read it all
    small = {"content": {"text": "ok"}, "embedding": vector}
    large = {"content": {"a": words}, "embedding": vector}
    for path, body in (("/v1/events", large), ("/v1/events/batch", {"events": [small, large]})):
        before = await doors.count()
        response = await doors.client.post(path, json=body)
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "payload_too_large"
        assert "full-text index" in response.json()["detail"]
        assert await doors.count() == before


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("tool", ["remember", "update_metadata"])
async def test_mcp_refuses_non_finite_numbers(doors: Doors, tool: str, value: str) -> None:
    # Raw JSON-RPC text: json.dumps would not write these, a hostile client does.
    event_id = await doors.new_event()
    arguments = '{"text": "x", ' if tool == "remember" else f'{{"event_id": "{event_id}", '
    body = (
        f'{{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {{"name": "{tool}", '
        f'"arguments": {arguments}"metadata": {{"a": [{value}]}}}}}}}}'
    )
    before = await doors.count()
    response = await doors.client.post(
        "/mcp", content=body, headers={**MCP_HEADERS, "content-type": "application/json"}
    )
    result = response.json()["result"]
    assert result["isError"], result
    assert "finite" in result["content"][0]["text"]
    assert await doors.count() == before
    assert (await doors.read(event_id))["metadata"] == {"kept": 1}
