"""The isolation suite, generated: every operation of the OpenAPI schema, called with tenant B's
keys against tenant A's ids, names and words, answers without any of A's data.

Nothing here lists the operations: a route added later is called too, with path parameters
and a body built from its schema (`example`), filled with A's values where a name says what
the value is (an event id, a repository, a query). A generated request that the service
refuses as invalid (422) checks nothing, so it fails the suite: teach `example` the new shape.
"""

import re
from typing import Any

import httpx
import pytest

from tests.support.isolation import (
    AS_OPERATOR,
    PUBLIC,
    REPOSITORY,
    SECRET,
    WORDS,
    TenantA,
    bearer,
    example,
    resolve,
)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, entries in spec["paths"].items():
        for method, operation in entries.items():
            if path not in PUBLIC:
                found.append((method.upper(), path, operation))
    # Reads before writes, deletions last: each reaches A's data before B changes anything.
    order = {"GET": 0, "POST": 1, "PATCH": 2, "PUT": 2, "DELETE": 3}
    return sorted(found, key=lambda item: order.get(item[0], 1))


def request_for(
    method: str, path: str, operation: dict[str, Any], spec: dict[str, Any], a: TenantA
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            schema = resolve(parameter.get("schema", {}), spec)
            name = parameter["name"]
            value = a.uuid_for(name) if schema.get("format") == "uuid" else None
            if value is None:
                value = "tenant-a" if name == "name" else REPOSITORY
            path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
        elif parameter["in"] == "query" and parameter["name"] in ("q", "query"):
            params[parameter["name"]] = WORDS
    request: dict[str, Any] = {"method": method, "url": path, "params": params}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        request["json"] = example(body["schema"], spec, "", a)
    return request


@pytest.mark.parametrize("role", ["admin", "read"])
async def test_no_operation_shows_tenant_b_anything_of_tenant_a(
    client_with_key: httpx.AsyncClient, tenant_a: TenantA, role: str
):
    client = client_with_key
    spec = (await client.get("/openapi.json", headers=AS_OPERATOR)).json()
    b_key = await client.post(
        "/v1/admin/tenants/tenant-b/keys", json={"role": role}, headers=AS_OPERATOR
    )
    as_b = bearer(b_key.json()["key"])
    checked = []
    for method, path, operation in operations(spec):
        request = request_for(method, path, operation, spec, tenant_a)
        response = await client.request(**request, headers=as_b)
        label = f"{method} {path} as B's {role} key"
        assert response.status_code != 422, f"{label}: the generated request is invalid: " + (
            response.text
        )
        assert response.status_code < 500, f"{label}: {response.text}"
        sent = str(request)
        leaked = {m for m in tenant_a.markers() if m not in sent and m in response.text}
        assert not leaked, f"{label} answered {response.status_code} with A's {leaked}"
        if role == "read" and method not in ("GET", "HEAD"):
            read_only = re.search(r"/search|/filter/|/traverse|/path", path)
            if not read_only:
                assert response.status_code == 403, f"{label}: a read key wrote"
        checked.append(label)
    assert len(checked) >= 25

    # And A's data is all still there.
    as_a = bearer(tenant_a.admin_key)
    event = await client.get(f"/v1/events/{tenant_a.ids['event']}", headers=as_a)
    assert event.status_code == 200 and SECRET in event.text
    repositories = await client.get("/v1/code/index/repositories", headers=as_a)
    assert REPOSITORY in repositories.text
    job = await client.get(f"/v1/code/index/jobs/{tenant_a.ids['job']}", headers=as_a)
    assert job.status_code == 200
    keys = await client.get("/v1/admin/tenants/tenant-a/keys", headers=as_a)
    assert keys.status_code == 200 and all(k["revoked_at"] is None for k in keys.json()["keys"])


def ui_routes() -> list[tuple[str, str, list[str]]]:
    """(method, path, query parameter names) of every web UI route, read from its routers."""
    from api.web.ui.router import router

    found: list[tuple[str, str, list[str]]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if hasattr(route, "methods") and hasattr(route, "path"):
                names = [p.name for p in route.dependant.query_params]
                found.extend((m, prefix + route.path, names) for m in sorted(route.methods))
            elif hasattr(route, "original_router"):  # an included router
                walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "routes"):
                walk(route.routes, prefix)

    walk(router.routes, "")
    return [(m, p if p.startswith("/ui") else router.prefix + p, q) for m, p, q in found]


def ui_request(method: str, path: str, query: list[str], a: TenantA) -> dict[str, Any]:
    for name in re.findall(r"\{(\w+)(?::path)?\}", path):
        value = REPOSITORY if name == "name" else a.uuid_for(name)
        path = re.sub(r"\{" + name + r"(:path)?\}", value, path)
    values = {
        "q": WORDS,
        "repository": REPOSITORY,
        "chunk": str(a.ids["chunk"]),
        "node": str(a.ids["node_a"]),
        "source": str(a.ids["node_a"]),
        "target": str(a.ids["node_b"]),
    }
    params = {name: values[name] for name in query if name in values}
    request: dict[str, Any] = {"method": method, "url": path, "params": params}
    if method == "POST":
        request["data"] = {"key": "planted", "value": "by-b"}
    return request


async def test_no_web_page_shows_tenant_b_anything_of_tenant_a(
    client_with_key: httpx.AsyncClient, tenant_a: TenantA
):
    client = client_with_key
    made = await client.post(
        "/v1/admin/tenants/tenant-b/keys", json={"role": "admin"}, headers=AS_OPERATOR
    )
    as_b = bearer(made.json()["key"])
    routes = ui_routes()
    assert len(routes) >= 15
    order = {"GET": 0, "POST": 1, "DELETE": 2}
    for method, path, query in sorted(routes, key=lambda r: order.get(r[0], 1)):
        request = ui_request(method, path, query, tenant_a)
        response = await client.request(**request, headers=as_b)
        label = f"{method} {path} as B"
        assert response.status_code < 500, f"{label}: {response.text[:500]}"
        sent = str(request)
        leaked = {m for m in tenant_a.markers() if m not in sent and m in response.text}
        assert not leaked, f"{label} answered {response.status_code} with A's {leaked}"

    as_a = bearer(tenant_a.admin_key)
    event = await client.get(f"/v1/events/{tenant_a.ids['event']}", headers=as_a)
    assert event.status_code == 200 and "planted" not in event.text
    repositories = await client.get("/v1/code/index/repositories", headers=as_a)
    assert REPOSITORY in repositories.text
