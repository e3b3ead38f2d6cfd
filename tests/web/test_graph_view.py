"""Pure logic of the code graph view: options, ids, languages, Cytoscape elements, roles."""

import uuid

import pytest

from api.code.graph.repository import like_pattern
from api.code.graph.schemas import Edge, GraphNode, Neighbourhood
from api.web.ui.graph_pages import GraphView, graph_elements, graph_options, hljs_language, parse_id


def node(name: str, *, kind: str = "function", caller=None, callee=None, chunk=True) -> GraphNode:
    return GraphNode(
        id=uuid.uuid4(),
        kind=kind,
        name=name,
        qualified_name=name,
        file_path="a.py" if chunk else None,
        chunk_id=uuid.uuid4() if chunk else None,
        start_line=3 if chunk else None,
        caller_depth=caller,
        callee_depth=callee,
    )


def test_roles_and_depths():
    assert (node("s").role, node("s").depth) == ("start", 0)
    assert (node("c", caller=2).role, node("c", caller=2).depth) == ("caller", 2)
    assert (node("d", callee=1).role, node("d", callee=1).depth) == ("callee", 1)
    both = node("b", caller=3, callee=1)
    assert (both.role, both.depth) == ("both", 1)


def test_graph_elements_mark_start_roles_and_external_nodes():
    start, caller = node("main"), node("run", caller=1)
    external = node("len", kind="external", callee=1, chunk=False)
    hood = Neighbourhood(
        start=start,
        nodes=[caller, external],
        edges=[
            Edge(source=caller.id, target=start.id, relationship="calls"),
            Edge(source=start.id, target=external.id, relationship="calls"),
        ],
        reached=2,
        truncated=False,
    )
    data = graph_elements(hood)
    assert data["start"] == str(start.id)
    assert [(n["data"]["label"], n["classes"]) for n in data["nodes"]] == [
        ("main", "start"),
        ("run", "caller"),
        ("len", "callee external"),
    ]
    assert data["nodes"][2]["data"]["chunk_id"] is None
    assert data["nodes"][1]["data"] | {"id": None, "chunk_id": None} == {
        "id": None,
        "label": "run",
        "kind": "function",
        "role": "caller",
        "depth": 1,
        "file": "a.py",
        "line": 3,
        "chunk_id": None,
    }
    assert [e["data"]["id"] for e in data["edges"]] == [
        f"{caller.id}->{start.id}",
        f"{start.id}->{external.id}",
    ]


def test_graph_options_accept_the_choices_and_explain_the_rest():
    assert graph_options("2", "callers") == (2, "callers")
    assert graph_options(" 3 ", "both") == (3, "both")
    for depth, direction in (("0", "both"), ("4", "both"), ("x", "both"), ("1", "up")):
        with pytest.raises(ValueError, match="must be"):
            graph_options(depth, direction)


def test_parse_id():
    value = uuid.uuid4()
    assert parse_id(f" {value} ", "node") == value
    with pytest.raises(ValueError, match="“nope” is not a valid chunk id."):
        parse_id("nope", "chunk")


def test_highlight_js_names():
    assert hljs_language("python") == "python"
    assert hljs_language("tsx") == "typescript"
    assert hljs_language("csharp") == "csharp"
    assert hljs_language("cobol") == "plaintext"


def test_links_keep_the_view_settings():
    view = GraphView(repository="acme", depth=2, direction="callees")
    assert view.url(node="n1") == "/ui/code/graph?node=n1&depth=2&direction=callees&repository=acme"
    assert GraphView().url(node="n1") == "/ui/code/graph?node=n1&depth=1&direction=both"


def test_like_pattern_escapes_wildcards():
    assert like_pattern("get_user", contains=False) == "get\\_user"
    assert like_pattern("50%", contains=True) == "%50\\%%"
    assert like_pattern("a\\b", contains=False) == "a\\\\b"
