"""The web UI's code graph: chunk pages, the graph page (picker, drawing data, tables), paths."""

import html
import json
import re
import uuid

from api.code.index import repository

FILES = {
    "a.py": '''\
def helper():
    """Count to one."""
    return len("x")


def main():
    if helper():
        return helper()
    return 0


def setup():
    return None


class Worker:
    def run(self):
        return helper()
''',
    "b.py": """\
from a import main


def start():
    return main()


def setup():
    return None
""",
}


async def index(client, repository_name: str = "demo", files: dict | None = None) -> None:
    files = files or FILES
    body = {
        "repository": repository_name,
        "files": [{"path": path, "content": content} for path, content in files.items()],
    }
    response = await client.post("/v1/code/index", json=body)
    assert response.status_code == 201, response.text


async def chunks(conn, repository_name: str = "demo") -> dict[str, uuid.UUID]:
    """Chunk ids by `file:qualified_name`."""
    rows = await repository.chunk_rows(conn, repository_name)
    return {f"{row['file_path']}:{row['qualified_name']}": row["id"] for row in rows}


async def node_ids(conn) -> dict[str, uuid.UUID]:
    """Node ids by `file:qualified_name` (external nodes by their name alone)."""
    rows = await conn.fetch("SELECT id, qualified_name, file_path FROM nodes")
    return {
        f"{row['file_path']}:{row['qualified_name']}"
        if row["file_path"]
        else row["qualified_name"]: (row["id"])
        for row in rows
    }


def graph_data(page: str) -> dict:
    found = re.search(
        r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.DOTALL
    )
    assert found, "no embedded graph data"
    return json.loads(found.group(1))


def labels(data: dict) -> dict[str, str]:
    """Each node's label -> its role."""
    return {node["data"]["label"]: node["data"]["role"] for node in data["nodes"]}


def edges(data: dict) -> set[tuple[str, str]]:
    names = {node["data"]["id"]: node["data"]["label"] for node in data["nodes"]}
    return {(names[e["data"]["source"]], names[e["data"]["target"]]) for e in data["edges"]}


def table(page: str, testid: str) -> str:
    found = re.search(
        rf'<table class="graph-list" data-testid="{testid}">(.*?)</table>', page, re.S
    )
    return found.group(1) if found else ""


# ---- the chunk page ----


async def test_chunk_page_shows_code_metadata_callers_and_callees(client, conn):
    await index(client)
    ids = await chunks(conn)
    response = await client.get(f"/ui/code/chunks/{ids['a.py:helper']}")
    assert response.status_code == 200
    assert response.headers["vary"] == "HX-Request"
    page = response.text
    assert page.startswith("<!doctype html>") and "<title>helper · MnemoLite</title>" in page
    assert 'data-testid="chunk-name"><code>helper</code>' in page
    assert "function · python · demo: a.py:1-3" in page
    assert 'data-testid="signature">def helper()</code>' in page
    assert 'data-testid="docstring">Count to one.</dd>' in page
    assert re.search(r'data-testid="complexity">\d+<', page)
    # The source, escaped, in the markup highlight.js expects, with its script and style.
    assert '<pre class="chunk-source"><code class="language-python" data-testid="code">' in page
    assert "return len(&#34;x&#34;)" in page or "return len(&quot;x&quot;)" in page
    assert "/static/vendor/highlight-11.12.0.min.js" in page
    assert "/static/vendor/highlight-11.12.0-github.min.css" in page
    assert "/static/js/mnemolite.js" in page  # which highlights it
    assert f'href="/ui/code/graph?chunk={ids["a.py:helper"]}"' in page  # open in graph
    callers = re.search(r'data-testid="chunk-callers">(.*?)</ul>', page, re.S).group(1)
    assert f'href="/ui/code/chunks/{ids["a.py:main"]}"' in callers
    assert f'href="/ui/code/chunks/{ids["a.py:Worker.run"]}"' in callers
    callees = re.search(r'data-testid="chunk-callees">(.*?)</ul>', page, re.S).group(1)
    assert "len" in callees and "(external)" in callees and "href" not in callees


async def test_chunk_page_links_callees_and_says_when_nothing_calls(client, conn):
    await index(client)
    ids = await chunks(conn)
    page = (await client.get(f"/ui/code/chunks/{ids['b.py:start']}")).text
    callees = re.search(r'data-testid="chunk-callees">(.*?)</ul>', page, re.S).group(1)
    assert f'href="/ui/code/chunks/{ids["a.py:main"]}"' in callees
    assert "Nothing in the repository calls it." in page


async def test_chunk_page_for_a_chunk_outside_the_graph(client, conn):
    files = [{"path": "x.py", "content": "def f():\n    return 1\n"}]
    body = {"repository": "nograph", "files": files, "build_graph": False}
    assert (await client.post("/v1/code/index", json=body)).status_code == 201
    ids = await chunks(conn, "nograph")
    response = await client.get(f"/ui/code/chunks/{ids['x.py:f']}")
    assert response.status_code == 200
    assert "Not in the call graph" in response.text


async def test_unknown_or_malformed_chunk_gets_the_html_404(client):
    missing = uuid.uuid4()
    response = await client.get(f"/ui/code/chunks/{missing}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert f"No code chunk with id {missing}." in response.text
    assert "<h1>Not found</h1>" in response.text
    bad = await client.get("/ui/code/chunks/not-a-uuid")
    assert bad.status_code == 404 and "is not a valid chunk id" in html.unescape(bad.text)


async def test_chunk_panel_fragment_for_the_graph_page(client, conn):
    await index(client)
    ids = await chunks(conn)
    headers = {"HX-Request": "true", "HX-Target": "code-panel"}
    response = await client.get(f"/ui/code/chunks/{ids['a.py:main']}", headers=headers)
    assert response.status_code == 200
    panel = response.text
    assert "<html" not in panel and "<h1" not in panel and "<nav" not in panel
    assert f'data-chunk-id="{ids["a.py:main"]}"' in panel
    assert '<code class="language-python" data-testid="code">' in panel
    # Links inside the panel load into the panel, and still work without JavaScript.
    helper = ids["a.py:helper"]
    assert f'href="/ui/code/chunks/{helper}"\n         hx-get="/ui/code/chunks/{helper}"' in panel
    # Any other HTMX request gets the page's content block.
    other = await client.get(f"/ui/code/chunks/{ids['a.py:main']}", headers={"HX-Request": "true"})
    assert "<html" not in other.text and "<h1" in other.text
    missing = await client.get(f"/ui/code/chunks/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404
    assert 'role="alert"' in missing.text and "<h1" not in missing.text


# ---- the graph page: picker and suggestions ----


async def test_graph_page_without_anything_indexed_shows_the_empty_state(client):
    response = await client.get("/ui/code/graph")
    assert response.status_code == 200
    assert 'data-testid="graph-empty"' in response.text
    assert 'aria-current="page">Graph<' in response.text


async def test_graph_page_picker_and_live_suggestions(client, conn):
    await index(client)
    await index(client, "other", {"c.py": "def helper_two():\n    return 2\n"})
    page = (await client.get("/ui/code/graph")).text
    assert 'data-testid="picker"' in page and 'hx-get="/ui/code/graph/suggest"' in page
    assert '<option value="demo"' in page and '<option value="other"' in page
    assert 'id="graph-data"' not in page and 'data-testid="graph-empty"' not in page
    for label in ("Function", "Repository", "From", "To"):
        assert f"<label>{label}" in page  # every input is labelled

    headers = {"HX-Request": "true", "HX-Target": "suggestions"}
    live = await client.get("/ui/code/graph/suggest", params={"q": "help"}, headers=headers)
    assert live.status_code == 200
    assert "<form" not in live.text and "<h1" not in live.text
    names = re.findall(r'<a href="/ui/code/graph\?node=[^"]+">([^<]+)</a>', live.text)
    assert names == ["helper", "helper_two"]  # the shorter name first
    assert "demo: a.py:1" in live.text and "other: c.py:1" in live.text
    only_other = await client.get(
        "/ui/code/graph/suggest",
        params={"q": "HELP", "repository": "other", "depth": "2"},
        headers=headers,
    )
    assert re.findall(r">(helper\w*)</a>", only_other.text) == ["helper_two"]
    assert "depth=2" in only_other.text  # the chosen depth travels with the links
    nothing = await client.get("/ui/code/graph/suggest", params={"q": "zzz"}, headers=headers)
    assert "No function, method or class matches" in nothing.text
    methods = await client.get("/ui/code/graph/suggest", params={"q": "Worker."}, headers=headers)
    assert ">Worker.run</a>" in methods.text
    wildcard = await client.get("/ui/code/graph/suggest", params={"q": "%"}, headers=headers)
    assert "<a " not in wildcard.text  # LIKE wildcards are matched literally
    # Without HTMX (no JavaScript): the whole page, with the suggestions in it.
    whole = await client.get("/ui/code/graph/suggest", params={"q": "help"})
    assert whole.text.startswith("<!doctype html>") and ">helper_two</a>" in whole.text


# ---- the graph page: a neighbourhood ----


async def test_graph_page_for_a_chunk_draws_callers_and_callees(client, conn):
    await index(client)
    ids = await chunks(conn)
    response = await client.get("/ui/code/graph", params={"chunk": str(ids["a.py:helper"])})
    assert response.status_code == 200
    page = response.text
    assert 'data-testid="graph"' in page and 'id="code-panel"' in page
    assert "/static/vendor/cytoscape-3.34.4.min.js" in page
    data = graph_data(page)
    assert labels(data) == {
        "helper": "start",
        "main": "caller",
        "Worker.run": "caller",
        "len": "callee",
    }
    assert edges(data) == {("main", "helper"), ("Worker.run", "helper"), ("helper", "len")}
    nodes = {node["data"]["label"]: node for node in data["nodes"]}
    assert nodes["len"]["classes"] == "callee external" and nodes["len"]["data"]["chunk_id"] is None
    assert nodes["helper"]["data"]["chunk_id"] == str(ids["a.py:helper"])
    assert nodes["main"]["data"] | {"id": None} == {
        "id": None,
        "label": "main",
        "kind": "function",
        "role": "caller",
        "depth": 1,
        "file": "a.py",
        "line": 6,
        "chunk_id": str(ids["a.py:main"]),
    }
    assert data["start"] == nodes["helper"]["data"]["id"]
    # The code panel starts with the chosen function's code.
    assert f'hx-get="/ui/code/chunks/{ids["a.py:helper"]}" hx-trigger="load"' in page
    assert 'data-testid="legend"' in page and "external (not in the repository)" in page


async def test_graph_depth_two_and_directions(client, conn):
    await index(client)
    ids = await chunks(conn)
    chunk = str(ids["a.py:helper"])
    deep = graph_data((await client.get(f"/ui/code/graph?chunk={chunk}&depth=2")).text)
    assert labels(deep) == {
        "helper": "start",
        "main": "caller",
        "Worker.run": "caller",
        "start": "caller",
        "len": "callee",
    }
    assert {n["data"]["label"]: n["data"]["depth"] for n in deep["nodes"]}["start"] == 2
    assert ("start", "main") in edges(deep)

    callers = (await client.get(f"/ui/code/graph?chunk={chunk}&depth=2&direction=callers")).text
    assert set(labels(graph_data(callers))) == {"helper", "main", "Worker.run", "start"}
    assert 'data-testid="callees"' not in callers and "swatch callee" not in callers

    callees = (await client.get(f"/ui/code/graph?chunk={chunk}&direction=callees")).text
    assert labels(graph_data(callees)) == {"helper": "start", "len": "callee"}
    assert edges(graph_data(callees)) == {("helper", "len")}

    start = str(ids["b.py:start"])
    down = graph_data((await client.get(f"/ui/code/graph?chunk={start}&depth=2")).text)
    assert labels(down) == {"start": "start", "main": "callee", "helper": "callee"}
    # The calls among the shown nodes, not only those from the start node.
    assert edges(down) == {("start", "main"), ("main", "helper")}


async def test_graph_page_by_node_and_by_name(client, conn):
    await index(client)
    nodes = await node_ids(conn)
    by_node = await client.get("/ui/code/graph", params={"node": str(nodes["a.py:main"])})
    assert labels(graph_data(by_node.text)) == {
        "main": "start",
        "helper": "callee",
        "start": "caller",
    }
    # An external node can be the centre too: its callers.
    external = await client.get("/ui/code/graph", params={"node": str(nodes["len"])})
    assert labels(graph_data(external.text)) == {"len": "start", "helper": "caller"}

    by_name = await client.get("/ui/code/graph", params={"q": "main"})
    assert by_name.status_code == 200
    assert graph_data(by_name.text)["start"] == str(nodes["a.py:main"])
    qualified = await client.get("/ui/code/graph", params={"q": "Worker.run"})
    assert labels(graph_data(qualified.text)) == {"Worker.run": "start", "helper": "callee"}


async def test_graph_page_lists_the_neighbours_accessibly(client, conn):
    await index(client)
    ids = await chunks(conn)
    nodes = await node_ids(conn)
    page = (await client.get("/ui/code/graph", params={"chunk": str(ids["a.py:helper"])})).text
    callers = table(page, "callers")
    assert callers.count('data-testid="neighbour"') == 2
    assert f'<a href="/ui/code/chunks/{ids["a.py:main"]}">main</a>' in callers
    assert "a.py:6" in callers and "a.py:17" in callers
    assert f'hx-get="/ui/code/chunks/{ids["a.py:main"]}" hx-target="#code-panel"' in callers
    assert f'href="/ui/code/graph?node={nodes["a.py:main"]}&amp;depth=1' in callers  # center here
    callees = table(page, "callees")
    assert "len</span> <span" in callees and "(external)" in callees
    assert "outside the repository" in callees and "Show code" not in callees


async def test_graph_page_by_ambiguous_or_unknown_name(client, conn):
    await index(client)
    ambiguous = await client.get("/ui/code/graph", params={"q": "setup"})
    assert ambiguous.status_code == 200
    assert "2 functions are named “setup”: choose one." in ambiguous.text
    candidates = re.search(r'data-testid="candidates">(.*?)</ul>', ambiguous.text, re.S).group(1)
    assert "demo: a.py:" in candidates and "demo: b.py:" in candidates
    assert 'id="graph-data"' not in ambiguous.text
    narrowed = await client.get("/ui/code/graph", params={"q": "setup", "repository": "nowhere"})
    assert "No function is named “setup”." in narrowed.text
    close = await client.get("/ui/code/graph", params={"q": "help"})
    assert "No function is named “help”. Did you mean one of these?" in close.text
    assert ">helper</a>" in close.text


async def test_graph_page_caps_large_neighbourhoods(client, conn):
    callers = "\n\n".join(f"def caller_{i}():\n    return hub()\n" for i in range(160))
    await index(client, "big", {"hub.py": "def hub():\n    return 1\n\n\n" + callers})
    page = (await client.get("/ui/code/graph", params={"q": "hub"})).text
    assert len(graph_data(page)["nodes"]) == 151  # the start node and the nearest 150
    assert "Showing the nearest 150 of\n    160 functions found" in page
    assert table(page, "callers").count('data-testid="neighbour"') == 150


async def test_names_cannot_break_out_of_the_embedded_json(client):
    odd = {"odd</script><b>.py": "def f():\n    return g()\n\n\ndef g():\n    return 1\n"}
    await index(client, "odd", odd)
    page = (await client.get("/ui/code/graph", params={"q": "f"})).text
    assert page.count("</script>") == page.count("<script")  # only the page's own
    files = {node["data"]["file"] for node in graph_data(page)["nodes"]}
    assert files == {"odd</script><b>.py"}


async def test_graph_page_full_page_and_htmx_fragment(client, conn):
    await index(client)
    ids = await chunks(conn)
    params = {"chunk": str(ids["a.py:helper"])}
    full = await client.get("/ui/code/graph", params=params)
    assert full.text.startswith("<!doctype html>") and "<nav" in full.text
    fragment = await client.get("/ui/code/graph", params=params, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.headers["vary"] == "HX-Request"
    assert "<html" not in fragment.text and "<nav" not in fragment.text
    assert graph_data(fragment.text) == graph_data(full.text)


async def test_graph_page_errors_are_messages_not_500s(client, conn):
    await index(client)
    for params, status, message in (
        ({"q": "main", "depth": "7"}, 422, "Depth must be 1, 2 or 3"),
        ({"q": "main", "depth": "two"}, 422, "Depth must be 1, 2 or 3"),
        ({"q": "main", "direction": "sideways"}, 422, "Direction must be both, callers or callees"),
        ({"node": "not-a-uuid"}, 422, "“not-a-uuid” is not a valid node id."),
        ({"chunk": "123"}, 422, "“123” is not a valid chunk id."),
        ({"node": str(uuid.uuid4())}, 404, "No graph node with id"),
        ({"chunk": str(uuid.uuid4())}, 404, "No graph node for chunk"),
    ):
        response = await client.get("/ui/code/graph", params=params)
        assert response.status_code == status, params
        assert response.headers["content-type"].startswith("text/html")
        error = re.search(r'role="alert" data-testid="graph-error">(.*?)</p>', response.text)
        assert error and message in html.unescape(error.group(1)), params
        assert 'data-testid="picker"' in response.text  # the way forward is still there


# ---- the path finder ----


async def test_path_finder_finds_a_path_by_name_or_id(client, conn):
    await index(client)
    ids = await chunks(conn)
    nodes = await node_ids(conn)
    headers = {"HX-Request": "true", "HX-Target": "path-result"}
    params = {"source": "start", "target": "len", "repository": "demo"}
    response = await client.get("/ui/code/graph/path", params=params, headers=headers)
    assert response.status_code == 200
    fragment = response.text
    assert "<form" not in fragment and "<html" not in fragment
    assert "3 calls from" in fragment
    steps = re.findall(r'<li data-path-node="([^"]+)">', fragment)
    assert steps == [str(nodes[key]) for key in ("b.py:start", "a.py:main", "a.py:helper", "len")]
    assert f'<a href="/ui/code/chunks/{ids["a.py:main"]}">main</a>' in fragment
    by_id = await client.get(
        "/ui/code/graph/path",
        params={"source": str(ids["a.py:Worker.run"]), "target": str(nodes["a.py:helper"])},
        headers=headers,
    )
    assert re.findall(r'data-path-node="([^"]+)"', by_id.text) == [
        str(nodes["a.py:Worker.run"]),
        str(nodes["a.py:helper"]),
    ]
    # Without HTMX: the graph page, with the form filled in and the answer under it.
    page = await client.get("/ui/code/graph/path", params=params)
    assert page.text.startswith("<!doctype html>") and 'data-testid="path-form"' in page.text
    assert 'value="start"' in page.text and 'value="len"' in page.text
    assert "3 calls from" in page.text


async def test_path_finder_says_when_there_is_no_path_or_no_such_name(client, conn):
    await index(client)
    headers = {"HX-Request": "true", "HX-Target": "path-result"}
    backwards = await client.get(
        "/ui/code/graph/path", params={"source": "helper", "target": "start"}, headers=headers
    )
    assert 'data-testid="no-path"' in backwards.text
    assert "No chain of calls leads from “helper” to\n     “start”" in backwards.text
    unknown = await client.get(
        "/ui/code/graph/path", params={"source": "nope", "target": "zilch"}, headers=headers
    )
    assert 'role="alert"' in unknown.text
    assert "No function is named “nope” or “zilch”." in unknown.text
    empty = await client.get("/ui/code/graph/path", params={"source": "main"}, headers=headers)
    assert "Give both ends" in empty.text


async def test_path_finder_offers_the_candidates_of_an_ambiguous_name(client, conn):
    await index(client)
    nodes = await node_ids(conn)
    headers = {"HX-Request": "true", "HX-Target": "path-result"}
    response = await client.get(
        "/ui/code/graph/path", params={"source": "setup", "target": "main"}, headers=headers
    )
    assert "“setup” names 2 functions; choose the start:" in response.text
    assert 'data-testid="path-choices-target"' not in response.text
    links = re.findall(r'hx-get="([^"]+)" hx-target="#path-result"', response.text)
    assert len(links) == 2
    chosen = html.unescape(links[0])
    assert chosen.startswith("/ui/code/graph/path?source=") and "target=main" in chosen
    answer = await client.get(chosen, headers=headers)
    assert 'data-testid="no-path"' in answer.text  # setup calls nothing
    assert str(nodes["a.py:setup"]) in chosen or str(nodes["b.py:setup"]) in chosen
