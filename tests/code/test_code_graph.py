"""The call graph through the API: built at index time, traversed, paths, callers, stats."""

import time
import uuid

from api.code.index import repository
from tests.support.repos import GRAPH_FILES, payload


async def indexed(client) -> dict[str, str]:
    body = {"repository": "acme", "files": payload(GRAPH_FILES)}
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


async def graph_of(conn, edges: list[tuple[int, int]], count: int) -> list[uuid.UUID]:
    """Nodes 0..count-1 of repository 'shapes' and the `calls` edges given, straight in SQL."""
    ids = [uuid.uuid4() for _ in range(count)]
    await conn.execute(
        """
        INSERT INTO nodes (id, repository, kind, name, qualified_name, file_path)
        SELECT u.id, 'shapes', 'function', 'f' || u.i, 'f' || lpad(u.i::text, 5, '0'), 'g.py'
        FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, i)
        """,
        ids,
    )
    await conn.execute(
        """
        INSERT INTO edges (repository, source_id, target_id, relationship)
        SELECT 'shapes', s, t, 'calls' FROM unnest($1::uuid[], $2::uuid[]) AS u(s, t)
        """,
        [ids[a] for a, _ in edges],
        [ids[b] for _, b in edges],
    )
    return ids


async def dense_graph(conn, count: int) -> list[uuid.UUID]:
    """`count` functions that all call each other (count * (count - 1) edges)."""
    ids = [uuid.uuid4() for _ in range(count)]
    await conn.execute(
        """
        INSERT INTO nodes (id, repository, kind, name, qualified_name, file_path)
        SELECT u.id, 'dense', 'function', 'f' || u.i, 'f' || u.i, 'dense.py'
        FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, i)
        """,
        ids,
    )
    await conn.execute(
        """
        INSERT INTO edges (repository, source_id, target_id, relationship)
        SELECT 'dense', a, b, 'calls' FROM unnest($1::uuid[]) a, unnest($1::uuid[]) b WHERE a <> b
        """,
        ids,
    )
    return ids


async def traverse(client, start, **options):
    response = await client.post(
        "/v1/code/graph/traverse", json={"start_node_id": str(start), **options}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_traverse_returns_the_nearest_max_nodes_and_says_it_cut(client, conn):
    # A hub calling 300 leaves, each leaf calling one grandchild: 600 nodes reachable.
    leaves = range(1, 301)
    ids = await graph_of(conn, [(0, i) for i in leaves] + [(i, i + 300) for i in leaves], 601)
    default = await traverse(client, ids[0], max_depth=2)
    assert len(default["nodes"]) == 100 and default["truncated"] is True
    assert {n["depth"] for n in default["nodes"]} == {1}, "the nearest are kept"
    capped = await traverse(client, ids[0], max_depth=2, max_nodes=350)
    assert len(capped["nodes"]) == 350 and capped["truncated"] is True
    assert sum(n["depth"] == 1 for n in capped["nodes"]) == 300
    everything = await traverse(client, ids[0], max_depth=2, max_nodes=600)
    assert len(everything["nodes"]) == 600 and everything["truncated"] is False
    one_level = await traverse(client, ids[0], max_depth=1, max_nodes=300)
    assert len(one_level["nodes"]) == 300 and one_level["truncated"] is False
    inbound = await traverse(client, ids[301], direction="inbound", max_depth=10)
    assert [n["depth"] for n in inbound["nodes"]] == [1, 2] and inbound["truncated"] is False


async def test_chunk_callers_are_capped_too(client, conn):
    await indexed(client)
    ids = await chunk_ids(conn)
    response = await client.get(f"/v1/code/graph/chunks/{ids['Client.get']}/callees?max_nodes=1")
    assert response.status_code == 200
    assert len(response.json()["nodes"]) == 1 and response.json()["truncated"] is True
    assert (await client.get(f"/v1/code/graph/chunks/{ids['retry']}/callers")).json()[
        "truncated"
    ] is False


async def test_a_densely_connected_graph_does_not_explode(client, conn):
    # 200 functions all calling each other: 39,800 edges and a cycle through every pair. A
    # walk that followed paths instead of visiting each node once would never finish.
    ids = await dense_graph(conn, 200)
    started = time.perf_counter()
    deep = await traverse(client, ids[0], max_depth=10, max_nodes=1000)
    both_ways = await traverse(client, ids[7], direction="inbound", max_depth=10, max_nodes=1000)
    path = await client.post(
        "/v1/code/graph/path",
        json={"source_node_id": str(ids[0]), "target_node_id": str(ids[199]), "max_depth": 10},
    )
    elapsed = time.perf_counter() - started
    assert len(deep["nodes"]) == 199 and deep["truncated"] is False
    assert {n["depth"] for n in deep["nodes"]} == {1}
    assert len(both_ways["nodes"]) == 199
    assert path.json()["length"] == 1
    assert elapsed < 2.0, f"three requests on the dense graph took {elapsed:.2f} s"


async def test_a_long_chain_stops_at_max_depth(client, conn):
    ids = await graph_of(conn, [(i, i + 1) for i in range(1999)] + [(1999, 0)], 2000)
    walked = await traverse(client, ids[0], max_depth=10, max_nodes=1000)
    assert [n["depth"] for n in walked["nodes"]] == list(range(1, 11))
    assert walked["truncated"] is False
    far = {"source_node_id": str(ids[0]), "target_node_id": str(ids[11]), "max_depth": 10}
    assert (await client.post("/v1/code/graph/path", json=far)).json()["found"] is False
    near = {**far, "target_node_id": str(ids[10])}
    assert (await client.post("/v1/code/graph/path", json=near)).json()["length"] == 10


async def test_traverse_limits_are_validated(client):
    missing = str(uuid.uuid4())
    for options in ({"max_nodes": 0}, {"max_nodes": 1001}, {"max_depth": 0}, {"max_nodes": "x"}):
        response = await client.post(
            "/v1/code/graph/traverse", json={"start_node_id": missing, **options}
        )
        assert response.status_code == 422, (options, response.text)
        assert {"error", "detail"} <= set(response.json())
    response = await client.get(f"/v1/code/graph/chunks/{missing}/callers?max_nodes=5000")
    assert response.status_code == 422
