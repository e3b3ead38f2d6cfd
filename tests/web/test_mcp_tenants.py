"""The MCP tools act as their caller's tenant: over HTTP the request's principal, over stdio the
tenant MNEMOLITE_TENANT names (`default` without it); a read principal cannot write."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.server.mcpserver.exceptions import ToolError

from api.core.tenancy.schemas import ROLE_RANK, Principal
from api.web.mcp.backend import Backend
from api.web.mcp.server import build_server
from api.web.mcp.tools import WRITE_TOOLS
from tests.support.servers import ROOT, uvicorn_server
from tests.web.test_mcp import API_KEY, AUTH, call, http_session

READER = Principal(tenant_id=uuid.uuid4(), tenant_name="readers", rank=ROLE_RANK["read"])


@pytest.fixture(scope="module")
def server_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("mcp-tenants") / "server.log"
    with uvicorn_server(database_url, log, API_KEY=API_KEY) as url:
        yield url


def no_backend() -> Backend:
    raise AssertionError("a refused call must not reach the database")


async def test_a_read_principal_cannot_call_the_writing_tools():
    server = build_server(no_backend, principal=READER)
    tools = await server.list_tools()
    assert {
        tool.name for tool in tools if tool.annotations and not tool.annotations.read_only_hint
    } == WRITE_TOOLS
    some_id = str(uuid.uuid4())
    for name, arguments in (
        ("remember", {"text": "not allowed"}),
        ("forget", {"event_id": some_id}),
        ("update_metadata", {"event_id": some_id, "metadata": {"a": 1}}),
    ):
        with pytest.raises(ToolError) as refusal:
            await server.call_tool(name, arguments)
        assert (
            str(refusal.value) == "This key's role is 'read'; this request needs 'write' or above."
        )


async def rest(url: str, method: str, path: str, headers: dict[str, str], **body: Any) -> Any:
    async with httpx.AsyncClient(base_url=url, headers=headers) as http:
        response = await http.request(method, path, **body)
    assert response.status_code < 300, response.text
    return response.json()


async def test_http_tools_act_as_the_requests_tenant(server_url):
    await rest(server_url, "POST", "/v1/admin/tenants", AUTH, json={"name": "other"})
    on_other = {**AUTH, "X-Tenant": "other"}
    async with http_session(server_url, on_other) as session:
        stored = await call(session, "remember", {"text": "the other tenant's secret plan"})
        found = await call(session, "recall", {"query": "secret plan"})
        assert [hit["id"] for hit in found["results"]] == [stored["id"]]
    async with http_session(server_url, AUTH) as session:  # the default tenant
        assert (await call(session, "recall", {"query": "secret plan"}))["count"] == 0
        gone = await session.call_tool("get_event", {"event_id": stored["id"]})
        assert gone.is_error
        recent = await session.read_resource("mnemolite://events/recent")
        assert json.loads(recent.contents[0].text)["events"] == []  # type: ignore[union-attr]
    listed = await rest(server_url, "GET", "/v1/events", on_other)
    assert [event["id"] for event in listed["data"]] == [stored["id"]]

    # A tenant's own key: its tenant, without any X-Tenant.
    key = await rest(
        server_url, "POST", "/v1/admin/tenants/other/keys", AUTH, json={"role": "write"}
    )
    async with http_session(server_url, {"Authorization": f"Bearer {key['key']}"}) as session:
        found = await call(session, "recall", {"query": "secret plan"})
        assert [hit["id"] for hit in found["results"]] == [stored["id"]]


async def test_memories_carry_scopes_that_recall_filters_on(server_url):
    async with http_session(server_url, AUTH) as session:
        mine = await call(
            session,
            "remember",
            {"text": "Alice takes her tea green", "user_id": "alice", "session_id": "s1"},
        )
        await call(session, "remember", {"text": "Bob takes his tea black", "user_id": "bob"})
        found = await call(session, "recall", {"query": "tea", "user_id": "alice"})
        assert [hit["id"] for hit in found["results"]] == [mine["id"]]
        assert (found["results"][0]["user_id"], found["results"][0]["session_id"]) == (
            "alice",
            "s1",
        )
        assert "agent_id" not in found["results"][0]
        event = await call(session, "get_event", {"event_id": mine["id"]})
        assert event["user_id"] == "alice"
        too_long = await session.call_tool("remember", {"text": "x", "agent_id": "a" * 201})
        assert too_long.is_error and "agent_id" in too_long.content[0].text  # type: ignore[union-attr]


@asynccontextmanager
async def stdio_on(database_url: str, tenant: str) -> AsyncIterator[ClientSession]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EMBEDDING_MODE": "mock",
        "MNEMOLITE_TENANT": tenant,
    }
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "api.web.mcp"], env=env, cwd=str(ROOT)
    )
    with anyio.fail_after(60):
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def test_stdio_acts_as_the_tenant_mnemolite_tenant_names(conn, database_url):
    other = await conn.fetchval("INSERT INTO tenants (name) VALUES ('other') RETURNING id")
    async with stdio_on(database_url, "other") as session:
        stored = await call(session, "remember", {"text": "written over stdio"})
    owner = await conn.fetchval(
        "SELECT tenant_id FROM events WHERE id = $1", uuid.UUID(stored["id"])
    )
    assert owner == other


def test_stdio_refuses_an_unknown_tenant(database_url):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EMBEDDING_MODE": "mock",
        "MNEMOLITE_TENANT": "nowhere",
    }
    result = subprocess.run(
        [sys.executable, "-m", "api.web.mcp"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "MNEMOLITE_TENANT='nowhere' names no tenant" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
