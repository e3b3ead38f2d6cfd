"""The generated isolation suite's shared parts: tenant A's data, and requests built from a
schema (OpenAPI for REST, JSON Schema for MCP tools) aimed at it. Used by
tests/core/test_isolation.py and tests/web/test_mcp_isolation.py; the fixtures are registered
in tests/conftest.py."""

from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from api.core.database import set_tenant
from tests.support.apps import AppFactory

OPERATOR = "operator-key-for-isolation-0123456"
AS_OPERATOR = {"X-API-Key": OPERATOR}
# Only A's rows hold this word; no request of B's contains it, so it may appear in no answer.
SECRET = "quetzal7781"
WORDS = "zanzibar ledger"
REPOSITORY = "backend"
SOURCE = f'''def settle_ledger(amount):
    """Settle the zanzibar ledger ({SECRET})."""
    return post_entry(amount)


def post_entry(amount):
    return amount  # {SECRET}
'''
# Operations that only the operator may call answer B's keys 403; public probes have no tenant.
PUBLIC = {"/health", "/readiness", "/metrics"}
DIMENSION = 384  # EMBEDDING_DIMENSION in the tests (tests/conftest.py)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class TenantA:
    """What tenant A owns, by kind: the values B's requests are filled with."""

    def __init__(self, ids: dict[str, UUID], admin_key: str) -> None:
        self.ids = ids
        self.admin_key = admin_key

    def uuid_for(self, name: str) -> str:
        for part, kind in (
            ("event", "event"),
            ("chunk", "chunk"),
            ("job", "job"),
            ("key", "key"),
            ("target", "node_b"),
            ("node", "node_a"),
        ):
            if part in name:
                return str(self.ids[kind])
        return str(self.ids["event"])

    def markers(self) -> set[str]:
        return {SECRET, *(str(value) for value in self.ids.values())}


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            options = [s for s in schema[union] if s.get("type") != "null"]
            return resolve(options[0], spec)
    return schema


def example(schema: dict[str, Any], spec: dict[str, Any], name: str, a: TenantA) -> Any:
    """A valid value for `schema`, aimed at A's data where the field's name says what it is."""
    schema = resolve(schema, spec)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        # ts_end (2030): a time window that holds all of A's events, were the tenant lost.
        aimed = ("query", "repository", "repository_name", "ts_end")
        wanted = set(schema.get("required", [])) | {field for field in properties if field in aimed}
        return {field: example(properties[field], spec, field, a) for field in sorted(wanted)}
    if kind == "array":
        items = resolve(schema.get("items", {}), spec)
        if items.get("type") == "number":  # a vector: the service's dimension
            return [0.1] * DIMENSION
        count = max(1, schema.get("minItems", 1))
        return [example(schema.get("items", {}), spec, name, a) for _ in range(count)]
    if kind == "string":
        if schema.get("format") == "uuid":
            return a.uuid_for(name)
        if schema.get("format") == "date-time":
            return "2030-01-01T00:00:00Z"
        if name in ("repository", "repository_name"):
            return REPOSITORY
        if name == "path":
            return "probe.py"
        if name == "name":
            return "probe-tenant"
        if name in ("function", "function_name", "symbol"):
            return "settle_ledger"  # A's function: B must not find it
        if name == "role":
            return "read"
        return WORDS
    if kind == "integer":
        return max(schema.get("minimum", 1), schema.get("default", 1))
    if kind == "number":
        return schema.get("default", 0.5)
    if kind == "boolean":
        return schema.get("default", True)
    if name == "content":
        return {"text": WORDS}
    return {}


@pytest.fixture
async def tenant_a(client_with_key: httpx.AsyncClient, conn: asyncpg.Connection) -> TenantA:
    client = client_with_key
    for name in ("tenant-a", "tenant-b"):
        made = await client.post("/v1/admin/tenants", json={"name": name}, headers=AS_OPERATOR)
        assert made.status_code == 201, made.text
    key = await client.post(
        "/v1/admin/tenants/tenant-a/keys", json={"role": "admin"}, headers=AS_OPERATOR
    )
    a_key = key.json()["key"]
    as_a = bearer(a_key)
    event = await client.post(
        "/v1/events", json={"content": {"text": f"{WORDS} {SECRET}"}}, headers=as_a
    )
    assert event.status_code == 201, event.text
    indexed = await client.post(
        "/v1/code/index",
        json={"repository": REPOSITORY, "files": [{"path": "ledger.py", "content": SOURCE}]},
        headers=as_a,
    )
    assert indexed.status_code == 201, indexed.text
    job = await client.post(
        "/v1/code/index/jobs",
        json={"repository": REPOSITORY, "files": [{"path": "more.py", "content": SOURCE}]},
        headers=as_a,
    )
    assert job.status_code in (201, 202), job.text
    tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = 'tenant-a'")
    await set_tenant(conn, tenant_id)
    nodes = await conn.fetch("SELECT id FROM nodes ORDER BY name")
    chunk = await conn.fetchval("SELECT id FROM code_chunks LIMIT 1")
    ids = {
        "event": UUID(event.json()["id"]),
        "chunk": chunk,
        "job": UUID(job.json()["id"]),
        "key": UUID(key.json()["id"]),
        "node_a": nodes[0]["id"],
        "node_b": nodes[-1]["id"],
    }
    return TenantA(ids, a_key)


@pytest.fixture
async def client_with_key(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        yield client
