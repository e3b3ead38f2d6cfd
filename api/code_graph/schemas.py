"""Request and response shapes of the code graph API."""

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Relationship = Literal["calls", "imports", "contains", "inherits"]
MAX_DEPTH = 10


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
