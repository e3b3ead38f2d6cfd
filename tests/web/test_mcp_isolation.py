"""The generated isolation suite, for MCP: every tool and resource the server lists, called over
HTTP with tenant B's key against tenant A's ids, names and words, shows nothing of A.

Arguments come from each tool's input schema (tests/core/test_isolation.py's `example`), so a
tool added later is called too."""

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from mcp import MCPError

from tests.support.isolation import AS_OPERATOR, TenantA, bearer, example
from tests.support.servers import uvicorn_server
from tests.web.test_mcp import API_KEY, http_session


@pytest.fixture(scope="module")
def server_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("mcp-isolation") / "server.log"
    with uvicorn_server(database_url, log, API_KEY=API_KEY) as url:
        yield url


async def test_no_tool_or_resource_shows_tenant_b_anything_of_tenant_a(
    server_url: str, client_with_key: httpx.AsyncClient, tenant_a: TenantA
):
    made = await client_with_key.post(
        "/v1/admin/tenants/tenant-b/keys", json={"role": "admin"}, headers=AS_OPERATOR
    )
    as_b = bearer(made.json()["key"])
    async with http_session(server_url, as_b) as session:
        tools = (await session.list_tools()).tools
        assert len(tools) >= 8
        for tool in tools:
            schema = {"components": {"schemas": tool.input_schema.get("$defs", {})}}
            refs = json.loads(
                json.dumps(tool.input_schema).replace("#/$defs/", "#/components/schemas/")
            )
            arguments = example(refs, schema, "", tenant_a)
            result = await session.call_tool(tool.name, arguments)
            text = " ".join(getattr(part, "text", "") for part in result.content)
            sent = json.dumps(arguments)
            leaked = {m for m in tenant_a.markers() if m not in sent and m in text}
            assert not leaked, f"tool {tool.name} showed B A's {leaked}: {text[:300]}"
            assert "Traceback" not in text, tool.name
            # An error must be "not found", never a refusal of arguments the suite got wrong.
            assert not (result.is_error and "validation" in text.lower()), (tool.name, text)
        resources = (await session.list_resources()).resources
        templates = (await session.list_resource_templates()).resource_templates
        uris = [str(r.uri) for r in resources] + [
            re.sub(r"\{[^}]+\}", "backend", t.uri_template) for t in templates
        ]
        assert uris
        for uri in uris:
            try:
                read = await session.read_resource(uri)
            except MCPError as error:  # "no repository named backend" in B: what it should say
                text = str(error)
            else:
                text = " ".join(getattr(part, "text", "") for part in read.contents)
            leaked = {m for m in tenant_a.markers() if m in text}
            assert not leaked, f"resource {uri} showed B A's {leaked}"
