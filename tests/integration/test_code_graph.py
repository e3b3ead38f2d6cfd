"""The call graph through the API: built at index time, traversed, paths, callers, stats."""

import uuid

from api.code_index import repository

FILES = {
    "app/http.py": """\
import time


def retry(fn, attempts=3):
    for attempt in range(attempts):
        try:
            return fn()
        except OSError:
            time.sleep(attempt)


class Client:
    def get(self, url):
        return retry(lambda: self.fetch(url))

    def fetch(self, url):
        return url
""",
    "app/main.py": """\
from app.http import Client


def run():
    return Client().get("https://example.org")
""",
}


async def indexed(client) -> dict[str, str]:
    body = {"repository": "acme", "files": [{"path": p, "content": c} for p, c in FILES.items()]}
    response = await client.post("/v1/code/index", json=body)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["indexed_nodes"] > 0 and result["indexed_edges"] > 0
    return result


async def chunk_ids(conn) -> dict[str, uuid.UUID]:
    return {row["qualified_name"]: row["id"] for row in await repository.chunk_rows(conn, "acme")}


async def node_id(client, chunk_id) -> str:
    response = await client.get(f"/v1/code/graph/chunks/{chunk_id}/callers")
    return response.json()["start"]["id"]


async def test_callers_and_callees_follow_calls(client, conn):
    await indexed(client)
    ids = await chunk_ids(conn)
    callers = await client.get(f"/v1/code/graph/chunks/{ids['retry']}/callers")
    assert callers.status_code == 200
    assert [n["qualified_name"] for n in callers.json()["nodes"]] == ["Client.get"]
    two_levels = await client.get(f"/v1/code/graph/chunks/{ids['retry']}/callers?depth=2")
    reached = {n["qualified_name"]: n["depth"] for n in two_levels.json()["nodes"]}
    assert reached == {"Client.get": 1, "run": 2}
    callees = await client.get(f"/v1/code/graph/chunks/{ids['Client.get']}/callees")
    assert {n["qualified_name"] for n in callees.json()["nodes"]} == {"retry", "Client.fetch"}


async def test_traverse_filters_by_relationship_and_direction(client, conn):
    await indexed(client)
    ids = await chunk_ids(conn)
    start = await node_id(client, ids["Client"])
    body = {"start_node_id": start, "direction": "outbound", "relationship": "contains"}
    contained = await client.post("/v1/code/graph/traverse", json=body)
    assert {n["qualified_name"] for n in contained.json()["nodes"]} == {
        "Client.get",
        "Client.fetch",
    }
    assert all(n["via"] == "contains" for n in contained.json()["nodes"])


async def test_shortest_path_and_stats(client, conn):
    await indexed(client)
    ids = await chunk_ids(conn)
    source, target = await node_id(client, ids["run"]), await node_id(client, ids["Client.fetch"])
    body = {"source_node_id": source, "target_node_id": target, "relationship": "calls"}
    found = (await client.post("/v1/code/graph/path", json=body)).json()
    assert found["found"] is True and found["length"] == 2
    assert [n["qualified_name"] for n in found["path"]] == ["run", "Client.get", "Client.fetch"]
    back = {"source_node_id": target, "target_node_id": source, "relationship": "calls"}
    assert (await client.post("/v1/code/graph/path", json=back)).json() == {
        "found": False,
        "length": None,
        "path": [],
    }
    stats = (await client.get("/v1/code/graph/stats/acme")).json()
    assert stats["edges_by_relationship"]["calls"] >= 4
    assert stats["nodes_by_kind"]["module"] == 2
    assert stats["nodes"] == sum(stats["nodes_by_kind"].values())


async def test_rebuild_replaces_and_delete_removes_the_graph(client, conn):
    result = await indexed(client)
    rebuilt = (await client.post("/v1/code/graph/build", json={"repository": "acme"})).json()
    assert (rebuilt["nodes"], rebuilt["edges"]) == (
        result["indexed_nodes"],
        result["indexed_edges"],
    )
    assert (
        await conn.fetchval("SELECT count(*) FROM nodes WHERE repository = 'acme'")
        == rebuilt["nodes"]
    )
    await client.delete("/v1/code/index/repositories/acme")
    assert await conn.fetchval("SELECT count(*) FROM nodes WHERE repository = 'acme'") == 0
    assert await conn.fetchval("SELECT count(*) FROM edges WHERE repository = 'acme'") == 0


async def test_graph_errors(client):
    missing = str(uuid.uuid4())
    cases = [
        ("post", "/v1/code/graph/traverse", {"start_node_id": missing}, 404),
        ("post", "/v1/code/graph/traverse", {"start_node_id": "nope"}, 422),
        ("post", "/v1/code/graph/traverse", {"start_node_id": missing, "max_depth": 11}, 422),
        ("post", "/v1/code/graph/traverse", {"start_node_id": missing, "relationship": "x"}, 422),
        (
            "post",
            "/v1/code/graph/path",
            {"source_node_id": missing, "target_node_id": missing},
            404,
        ),
        ("get", f"/v1/code/graph/chunks/{missing}/callers", None, 404),
        ("get", f"/v1/code/graph/chunks/{missing}/callees?depth=20", None, 422),
    ]
    for method, path, body, status in cases:
        response = await client.request(method.upper(), path, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert {"error", "detail"} <= set(response.json())
