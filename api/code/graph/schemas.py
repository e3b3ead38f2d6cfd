"""Request and response shapes of the code graph API."""

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Relationship = Literal["calls", "imports", "contains", "inherits"]
MAX_DEPTH = 10
# A traversal returns the nearest nodes only: one request must not serialise a whole repository.
DEFAULT_MAX_NODES = 100
MAX_NODES = 1000


class BuildRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository: str = Field(min_length=1, max_length=200)


class BuildResult(BaseModel):
    repository: str
    nodes: int
    edges: int


class TraverseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_node_id: UUID
    direction: Literal["outbound", "inbound"] = "outbound"
    relationship: Relationship | None = None
    max_depth: int = Field(default=3, ge=1, le=MAX_DEPTH)
    max_nodes: int = Field(
        default=DEFAULT_MAX_NODES,
        ge=1,
        le=MAX_NODES,
        description="Most nodes returned, the nearest first; `truncated` says more were reachable.",
    )


class PathRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_node_id: UUID
    target_node_id: UUID
    relationship: Relationship | None = None
    max_depth: int = Field(default=5, ge=1, le=MAX_DEPTH)


class Node(BaseModel):
    id: UUID
    kind: str
    name: str
    qualified_name: str
    file_path: str | None
    chunk_id: UUID | None


class Reached(Node):
    depth: int
    via: str = Field(description="The relationship of the edge that reached this node.")


class TraverseResult(BaseModel):
    start: Node
    nodes: list[Reached]
    truncated: bool = Field(
        description="More nodes were reachable within max_depth than max_nodes: the nearest "
        "are returned."
    )


class PathResult(BaseModel):
    found: bool
    length: int | None = Field(description="Edges on the path.")
    path: list[Node]


class GraphStats(BaseModel):
    repository: str
    nodes: int
    edges: int
    nodes_by_kind: dict[str, int]
    edges_by_relationship: dict[str, int]


Direction = Literal["both", "callers", "callees"]
UNIT_KINDS = ("function", "method", "class")


class NodeMatch(Node):
    """A node found by its name, with where it lives."""

    repository: str
    start_line: int | None


class Edge(BaseModel):
    source: UUID
    target: UUID
    relationship: str


class GraphNode(Node):
    """A node of a neighbourhood: the start node has neither depth."""

    start_line: int | None = None
    caller_depth: int | None = Field(default=None, description="Calls away, calling the start.")
    callee_depth: int | None = Field(default=None, description="Calls away, called by the start.")

    @property
    def role(self) -> Literal["start", "caller", "callee", "both"]:
        if self.caller_depth is None:
            return "start" if self.callee_depth is None else "callee"
        return "caller" if self.callee_depth is None else "both"

    @property
    def depth(self) -> int:
        """Calls away from the start node (0 for the start node itself)."""
        return min((d for d in (self.caller_depth, self.callee_depth) if d is not None), default=0)


class Neighbourhood(BaseModel):
    """A node, its callers and callees to some depth, and the calls among them."""

    start: GraphNode
    nodes: list[GraphNode]
    edges: list[Edge]
    reached: int = Field(
        description="Callers and callees found before the cap on nodes (each side stops "
        "counting at MAX_NODES: then a lower bound)."
    )
    truncated: bool
