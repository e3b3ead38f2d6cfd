"""The MCP server through the SDK's own clients: Streamable HTTP against the running app (uvicorn,
API key set) and stdio against `python -m api.web.mcp`, both on the test database."""

import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.servers import ROOT, uvicorn_server

API_KEY = "mcp-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
# A raw Streamable HTTP initialize, for the tests that look under the SDK.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}
TOOLS = {
    "remember",
    "recall",
    "get_event",
    "forget",
    "update_metadata",
    "search_code",
    "code_callers",
    "code_callees",
    "index_status",
}
FILES = {
    "shop/billing.py": '''\
def compute_tax(amount, rate):
    """Sales tax owed on an amount."""
    return round(amount * rate, 2)


def invoice_total(amount):
    """The total of an invoice, tax included."""
    return amount + compute_tax(amount, 0.2)
''',
    "shop/cart.py": '''\
from shop.billing import invoice_total


def checkout(items):
    """Pay for the items in the cart."""
    return invoice_total(sum(items))
''',
}


@pytest.fixture(scope="module")
def server_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app with API_KEY set, stopped at the end of the module (its index worker is off).

    Each test opens its own MCP session inside its body: the SDK's task groups must be entered
    and left by one task, which an async fixture's setup and teardown are not.
    """
    log = tmp_path_factory.mktemp("mcp-server") / "server.log"
    with uvicorn_server(database_url, log, API_KEY=API_KEY) as url:
        yield url


@asynccontextmanager
async def http_session(url: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def stdio_session(database_url: str) -> AsyncIterator[ClientSession]:
    """`python -m api.web.mcp` as an agent starts it, on the test database."""
    env = {**os.environ, "DATABASE_URL": database_url, "EMBEDDING_MODE": "mock"}
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "api.web.mcp"], env=env, cwd=str(ROOT)
    )
    with anyio.fail_after(60):
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


def session_over(transport: str, server_url: str, database_url: str) -> Any:
    if transport == "stdio":
        return stdio_session(database_url)
    return http_session(server_url, AUTH)


TRANSPORTS = pytest.mark.parametrize("transport", ["http", "stdio"])


async def call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.is_error, text
    return json.loads(text)


async def refused(session: ClientSession, tool: str, arguments: dict[str, Any]) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error
    text: str = result.content[0].text  # type: ignore[union-attr]
    assert "Traceback" not in text and "Error executing tool" not in text
    return text


async def test_tools_are_listed_with_schemas_and_descriptions(server_url):
    async with http_session(server_url, AUTH) as session:
        tools = (await session.list_tools()).tools
        assert {tool.name for tool in tools} == TOOLS
        for tool in tools:
            assert len(tool.description or "") > 40, tool.name
            assert tool.input_schema["type"] == "object"
            for name, schema in tool.input_schema["properties"].items():
                assert schema.get("description"), f"{tool.name}.{name}"
        recall = next(tool for tool in tools if tool.name == "recall")
        assert recall.input_schema["required"] == ["query"]
        assert recall.input_schema["properties"]["limit"]["maximum"] == 50
        assert recall.input_schema["properties"]["mode"]["default"] == "hybrid"


@TRANSPORTS
async def test_memories_round_trip(transport, server_url, database_url):
    async with session_over(transport, server_url, database_url) as session:
        notes = [
            ("The deploy pipeline runs on Fridays after the review", {"project": "ops"}),
            ("Alice prefers tea over coffee in the morning", {"project": "people"}),
            ("Database backups are kept for thirty days", {"project": "ops", "type": "policy"}),
        ]
        ids = []
        for text, metadata in notes:
            stored = await call(session, "remember", {"text": text, "metadata": metadata})
            assert stored.keys() == {"id", "timestamp"}
            ids.append(stored["id"])

        by_meaning = await call(session, "recall", {"query": "what does Alice drink", "limit": 2})
        assert by_meaning["results"][0]["id"] == ids[1]
        first = by_meaning["results"][0]
        assert first.keys() == {"id", "timestamp", "score", "text", "metadata"}
        assert first["text"] == notes[1][0] and first["metadata"] == {"project": "people"}

        filtered = await call(
            session, "recall", {"query": "backups deploy", "metadata": {"project": "ops"}}
        )
        assert {hit["id"] for hit in filtered["results"]} == {ids[0], ids[2]}
        policy = await call(
            session,
            "recall",
            {"query": "backups", "metadata": {"type": "policy"}, "mode": "lexical"},
        )
        assert [hit["id"] for hit in policy["results"]] == [ids[2]]

        event = await call(session, "get_event", {"event_id": ids[0]})
        assert event["content"] == {"text": notes[0][0]}
        updated = await call(
            session, "update_metadata", {"event_id": ids[0], "metadata": {"status": "done"}}
        )
        assert updated["metadata"] == {"project": "ops", "status": "done"}

        assert await call(session, "forget", {"event_id": ids[0]}) == {"deleted": ids[0]}
        gone = await refused(session, "get_event", {"event_id": ids[0]})
        assert gone == f"No event with id {ids[0]}."

        recent = await session.read_resource("mnemolite://events/recent")
        listed = json.loads(recent.contents[0].text)
        assert [event["id"] for event in listed["events"]] == [ids[2], ids[1]]


@TRANSPORTS
async def test_forget_by_filter_and_scratch_notes_that_expire(transport, server_url, database_url):
    async with session_over(transport, server_url, database_url) as session:
        for n in range(3):
            await call(session, "remember", {"text": f"scratch {n}", "session_id": "s1"})
        kept = await call(session, "remember", {"text": "keep this", "session_id": "s2"})
        note = await call(session, "remember", {"text": "for a minute", "ttl_seconds": 60})
        got = await call(session, "get_event", {"event_id": note["id"]})
        assert got["id"] == note["id"]

        counted = await call(session, "forget", {"session_id": "s1", "dry_run": True})
        assert counted == {"matched": 3, "deleted": 0, "dry_run": True}
        done = await call(session, "forget", {"session_id": "s1"})
        assert done == {"matched": 3, "deleted": 3, "dry_run": False}
        again = await call(session, "forget", {"session_id": "s1"})
        assert again == {"matched": 0, "deleted": 0, "dry_run": False}
        assert (await call(session, "get_event", {"event_id": kept["id"]}))["id"] == kept["id"]

        neither = await refused(session, "forget", {})
        assert neither.startswith("give event_id, or filters")
        both = await refused(session, "forget", {"event_id": kept["id"], "session_id": "s2"})
        assert both.startswith("give event_id, or filters")


@TRANSPORTS
async def test_bad_input_is_a_clear_tool_error(transport, server_url, database_url):
    async with session_over(transport, server_url, database_url) as session:
        unknown = "0190a0f0-0000-7000-8000-000000000000"
        assert (
            await refused(session, "forget", {"event_id": unknown})
            == f"No event with id {unknown}."
        )
        invalid = await refused(session, "get_event", {"event_id": "not-a-uuid"})
        assert invalid.startswith("Invalid arguments: event_id: Input should be a valid UUID")
        assert "query" in await refused(session, "recall", {"query": ""})
        assert "empty" in await refused(session, "recall", {"query": "   "})
        too_many = await refused(session, "recall", {"query": "x", "limit": 1000})
        assert too_many == "Invalid arguments: limit: Input should be less than or equal to 50"
        window = await refused(
            session,
            "recall",
            {"query": "x", "ts_start": "2026-02-01T00:00:00Z", "ts_end": "2026-01-01T00:00:00Z"},
        )
        assert "ts_start must not be later than ts_end" in window
        assert "not_a_function" in await refused(
            session, "code_callers", {"function": "not_a_function"}
        )
        assert "depth" in await refused(session, "code_callees", {"function": "x", "depth": 4})


@TRANSPORTS
async def test_code_tools_and_repository_resource(transport, server_url, database_url):
    async with session_over(transport, server_url, database_url) as session:
        body = {
            "repository": "shop",
            "files": [{"path": p, "content": c} for p, c in FILES.items()],
        }
        async with httpx.AsyncClient(base_url=server_url, headers=AUTH) as http:
            indexed = await http.post("/v1/code/index", json=body)
        assert indexed.status_code == 201, indexed.text

        found = await call(session, "search_code", {"query": "sales tax", "repository": "shop"})
        top = found["results"][0]
        assert top["qualified_name"] == "compute_tax" and top["kind"] == "function"
        assert (top["file"], top["start_line"], top["end_line"]) == ("shop/billing.py", 1, 3)
        assert "round(amount * rate, 2)" in top["snippet"]
        assert (await call(session, "search_code", {"query": "tax", "language": "go"}))[
            "count"
        ] == 0

        callers = await call(
            session, "code_callers", {"function": "compute_tax", "repository": "shop"}
        )
        assert callers["function"]["qualified_name"] == "compute_tax"
        assert [(c["qualified_name"], c["file"]) for c in callers["callers"]] == [
            ("invoice_total", "shop/billing.py")
        ]
        deeper = await call(session, "code_callers", {"function": top["chunk_id"], "depth": 2})
        assert {c["qualified_name"]: c["depth"] for c in deeper["callers"]} == {
            "invoice_total": 1,
            "checkout": 2,
        }
        callees = await call(session, "code_callees", {"function": "checkout"})
        called = {
            c["qualified_name"]: (c["kind"], c["file"], c["line"]) for c in callees["callees"]
        }
        assert called == {
            "invoice_total": ("function", "shop/billing.py", 6),
            "sum": ("external", None, None),  # a builtin: known by name only
        }

        status = await call(session, "index_status", {})
        assert [(r["repository"], r["file_count"]) for r in status["repositories"]] == [("shop", 2)]
        assert status["repositories"][0]["chunk_count"] >= 3
        assert status["jobs"] == []

        resource = await session.read_resource("mnemolite://repositories/shop")
        summary = json.loads(resource.contents[0].text)
        assert summary["file_count"] == 2 and summary["languages"] == {
            "python": summary["chunk_count"]
        }
        assert summary["last_indexed"] is not None
        with pytest.raises(Exception, match="No indexed repository named 'nowhere'"):
            await session.read_resource("mnemolite://repositories/nowhere")


async def test_index_status_lists_recent_jobs(server_url):
    async with http_session(server_url, AUTH) as session:
        jobs = []
        async with httpx.AsyncClient(base_url=server_url, headers=AUTH) as http:
            for name in ("queued", "other"):
                body = {"repository": name, "files": [{"path": "a.py", "content": "x = 1\n"}]}
                jobs.append((await http.post("/v1/code/index/jobs", json=body)).json())
        status = await call(session, "index_status", {"repository": "queued"})
        assert status["repositories"] == []
        # The session app's in-process worker shares this database and may claim the job at
        # once: queued or just started, it has made no progress yet.
        assert [(j["id"], j["progress"]) for j in status["jobs"]] == [(jobs[0]["id"], 0.0)]
        assert status["jobs"][0]["status"] in ("queued", "running")
        everything = await call(session, "index_status", {})
        assert [j["repository"] for j in everything["jobs"]] == ["other", "queued"]


async def test_the_api_key_guards_mcp(server_url):
    async with httpx.AsyncClient(base_url=server_url) as http:
        for path in ("/mcp", "/mcp/"):
            response = await http.post(path, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert response.status_code == 401
        answer = await http.post("/mcp/", json=INITIALIZE, headers={**AUTH, **ACCEPT})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["serverInfo"]["name"] == "mnemolite"
        schema = (await http.get("/openapi.json", headers=AUTH)).json()
    assert not [path for path in schema["paths"] if path.startswith("/mcp")]
    # The SDK reports the 401 as an error response from the server, from inside its task groups.
    with anyio.fail_after(30), pytest.raises(ExceptionGroup) as refusal:
        async with http_session(server_url, {"Authorization": "Bearer wrong-key-0123456789"}):
            pass
    assert refusal.group_contains(MCPError, match="error response")
    async with http_session(server_url, {"X-API-Key": API_KEY}) as session:
        assert len((await session.list_tools()).tools) == len(TOOLS)


async def test_mcp_requests_are_timed_as_their_route(client):
    answer = await client.post("/mcp", json=INITIALIZE, headers=ACCEPT)
    assert answer.status_code == 200, answer.text
    metrics = (await client.get("/metrics")).text
    assert 'method="POST",route="/mcp",status="200"' in metrics


def readme_snippets() -> dict[str, dict[str, Any]]:
    """The MCP client configurations in the README, by transport."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## MCP", 1)[1].split("\n## ", 1)[0]
    configs = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]
    servers = [config["mcpServers"]["mnemolite"] for config in configs]
    return {"stdio" if "command" in server else "http": server for server in servers}


async def test_the_readme_http_snippet_connects(server_url, monkeypatch):
    server = readme_snippets()["http"]
    monkeypatch.setenv("MNEMOLITE_API_KEY", API_KEY)
    url = server["url"].replace("http://127.0.0.1:8001", server_url)
    headers = {name: os.path.expandvars(value) for name, value in server["headers"].items()}
    assert server["type"] == "http" and url.endswith("/mcp")
    async with http_session(url.removesuffix("/mcp"), headers) as session:
        assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS


def readme_stdio_parameters(database_url: str, cwd: Path) -> StdioServerParameters:
    """The README's stdio configuration with `/path/to/mnemolite` set to this checkout, on the
    test database, started from a working directory outside the checkout (as an agent would)."""
    server = readme_snippets()["stdio"]
    checkout = str(ROOT)
    command = server["command"].replace("/path/to/mnemolite", checkout)
    assert Path(command).exists(), f"{command}: the checkout's venv (make install) is missing"
    env = {
        name: value.replace("/path/to/mnemolite", checkout) for name, value in server["env"].items()
    }
    return StdioServerParameters(
        command=command,
        args=server["args"],
        env={**os.environ, **env, "DATABASE_URL": database_url, "EMBEDDING_MODE": "mock"},
        cwd=str(cwd),
    )


async def test_the_readme_stdio_snippet_starts_the_server(database_url, tmp_path):
    parameters = readme_stdio_parameters(database_url, tmp_path)
    with anyio.fail_after(60):
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
