"""The MCP tools: thin adapters from typed arguments to the services the JSON API uses.

Each tool parses nothing itself (the SDK validates the arguments against the signature), calls
the same service functions as the routes, and returns a compact JSON object (`views.py`).
Failures are the services' own domain errors, turned into tool errors in `server.py`.
"""

import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from api.code.graph import service as code_graph
from api.code.graph.schemas import NodeMatch
from api.code.index import service as code_index
from api.code.jobs import service as index_jobs
from api.code.search import service as code_search
from api.code.search.schemas import CodeFilters, HybridSearchRequest
from api.core.errors import InvalidInput, NotFound
from api.core.vectors.schemas import MAX_QUERY_CHARS
from api.memory.events import service as events
from api.memory.events.schemas import EventCreate, FilterMetadata, ForgetRequest, JsonObject
from api.memory.search import service as search
from api.memory.search.schemas import SearchRequest
from api.web.mcp.backend import BackendGetter
from api.web.mcp.views import compact_event, compact_hit, compact_job, compact_node, full_event

MAX_RECALL = 50
MAX_CODE_RESULTS = 50
MAX_GRAPH_DEPTH = 3
# Callers of a popular helper can be hundreds: the nearest ones are what an agent reads.
MAX_GRAPH_NODES = 100
RECENT_JOBS = 10
# The tools that write: a principal below `write` (a read key) is refused them (server.py).
WRITE_TOOLS = frozenset({"remember", "forget", "update_metadata"})

ToolFn = TypeVar("ToolFn", bound=Callable[..., Awaitable[dict[str, Any]]])
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

EventId = Annotated[UUID, Field(description="The id of a memory, as returned by remember/recall.")]
Query = Annotated[
    str,
    Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for, in words."),
]
Repository = Annotated[
    str | None,
    Field(default=None, max_length=200, description="Only this indexed repository (by name)."),
]
# The event scopes of the JSON API (api.memory.events.schemas.Scopes), checked there.
UserId = Annotated[
    str | None, Field(default=None, description="The user the memory concerns (exact match).")
]
AgentId = Annotated[
    str | None, Field(default=None, description="The agent that recorded it (exact match).")
]
SessionId = Annotated[
    str | None, Field(default=None, description="The session it belongs to (exact match).")
]


def _not_blank(query: str) -> str:
    if not query.strip():
        raise InvalidInput("query must contain some words; it is empty.")
    return query


def register_tools(server: MCPServer[Any], backend: BackendGetter) -> None:
    def tool(annotations: ToolAnnotations) -> Callable[[ToolFn], ToolFn]:
        # The docstring is the description an agent reads: without its source indentation.
        def register(fn: ToolFn) -> ToolFn:
            description = inspect.cleandoc(fn.__doc__ or "")
            server.add_tool(fn, description=description, annotations=annotations)
            return fn

        return register

    @tool(ToolAnnotations(read_only_hint=False, open_world_hint=False))
    async def remember(
        text: Annotated[
            str,
            Field(min_length=1, max_length=100_000, description="The memory itself, in words."),
        ],
        metadata: Annotated[
            JsonObject,
            Field(
                default_factory=dict,
                description='Attributes to filter on later, e.g. {"project": "x", "type": "note"}.',
            ),
        ],
        timestamp: Annotated[
            datetime | None,
            Field(default=None, description="When it happened (ISO 8601); default: now."),
        ],
        user_id: UserId,
        agent_id: AgentId,
        session_id: SessionId,
        ttl_seconds: Annotated[
            int | None,
            Field(
                default=None,
                gt=0,
                description="Forget it by itself this many seconds from now (scratch notes).",
            ),
        ],
    ) -> dict[str, Any]:
        """Store a memory (a note, a decision, a fact, an event) for later recall by meaning.

        Returns its id and timestamp. Put anything you may want to filter by into metadata;
        user_id, agent_id and session_id scope it (recall filters on them).
        """
        ready = backend()
        item = EventCreate(
            content={"text": text},
            metadata=metadata,
            timestamp=timestamp,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            ttl_seconds=ttl_seconds,
        )
        outcome = await events.create_events(
            ready.database,
            ready.embedders.text,
            [item],
            key=None,
            text_fields=ready.settings.embedding_text_fields,
            max_events=ready.settings.tenant_max_events,
        )
        event = outcome.result.events[0]
        return {"id": str(event.id), "timestamp": event.timestamp.isoformat()}

    @tool(READ_ONLY)
    async def recall(
        query: Query,
        mode: Annotated[
            Literal["hybrid", "vector", "lexical"],
            Field(
                default="hybrid",
                description="hybrid (meaning and words, best default), vector (meaning only) "
                "or lexical (words only: any of the query's words, BM25-ranked).",
            ),
        ],
        metadata: Annotated[
            FilterMetadata | None,
            Field(
                default=None,
                description='Only memories whose metadata contains this, e.g. {"project": "x"}.',
            ),
        ],
        ts_start: Annotated[
            datetime | None, Field(default=None, description="Not before this time (ISO 8601).")
        ],
        ts_end: Annotated[
            datetime | None, Field(default=None, description="Not after this time (ISO 8601).")
        ],
        limit: Annotated[
            int, Field(default=10, ge=1, le=MAX_RECALL, description="How many memories at most.")
        ],
        user_id: UserId,
        agent_id: AgentId,
        session_id: SessionId,
    ) -> dict[str, Any]:
        """Find stored memories by meaning and words, best match first.

        Each result has its id, timestamp, score (higher is better), text (trimmed to 500
        characters; get_event returns the whole memory) and metadata.
        """
        ready = backend()
        request = SearchRequest(
            query=_not_blank(query),
            mode=mode,
            metadata=metadata,
            ts_start=ts_start,
            ts_end=ts_end,
            limit=limit,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
        )
        found = await search.search_embed_first(
            ready.database,
            ready.embedders.text,
            request,
            tuning=ready.tuning,
            metrics=ready.metrics,
        )
        results = []
        for hit in found.data:
            compact = compact_event(hit, ready)
            compact["score"] = None if hit.score is None else round(hit.score, 6)
            results.append(compact)
        return {"results": results, "count": len(results)}

    @tool(READ_ONLY)
    async def get_event(event_id: EventId) -> dict[str, Any]:
        """Read one memory in full: its id, timestamp, whole content and metadata."""
        async with backend().database.connection() as conn:
            return full_event(await events.get_event(conn, event_id))

    @tool(
        ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        )
    )
    async def forget(
        event_id: Annotated[
            UUID | None,
            Field(default=None, description="The memory to delete, by id (or give filters)."),
        ],
        metadata: Annotated[
            FilterMetadata | None,
            Field(default=None, description="Delete the memories whose metadata contains this."),
        ],
        ts_start: Annotated[
            datetime | None, Field(default=None, description="Not before this time (ISO 8601).")
        ],
        ts_end: Annotated[
            datetime | None, Field(default=None, description="Not after this time (ISO 8601).")
        ],
        user_id: UserId,
        agent_id: AgentId,
        session_id: SessionId,
        dry_run: Annotated[
            bool, Field(default=False, description="With filters: only count what would go.")
        ],
    ) -> dict[str, Any]:
        """Delete memories for good: one by id, or every one matching filters (as recall takes
        them). Use when they are wrong, obsolete or unwanted; dry_run counts first."""
        filters = {
            "metadata": metadata,
            "ts_start": ts_start,
            "ts_end": ts_end,
            "user_id": user_id,
            "agent_id": agent_id,
            "session_id": session_id,
        }
        given = {name: value for name, value in filters.items() if value is not None}
        if (event_id is None) == (not given):
            raise InvalidInput("give event_id, or filters to forget by, not both (nor neither).")
        if event_id is not None:
            async with backend().database.connection() as conn:
                await events.delete_event(conn, event_id)
            return {"deleted": str(event_id)}
        result = await events.forget(backend().database, ForgetRequest(**given, dry_run=dry_run))
        return result.model_dump()

    @tool(
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        )
    )
    async def update_metadata(
        event_id: EventId,
        metadata: Annotated[
            JsonObject,
            Field(
                description="Keys to set: merged into the existing metadata (shallow; a key "
                "given here replaces that key's value, others are kept)."
            ),
        ],
    ) -> dict[str, Any]:
        """Add or change metadata keys of a memory (e.g. mark it done); its text is unchanged."""
        async with backend().database.connection() as conn:
            return full_event(await events.merge_metadata(conn, event_id, metadata))

    @tool(READ_ONLY)
    async def search_code(
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_QUERY_CHARS,
                description="What the code does, or an identifier (e.g. 'parse config file' or "
                "'load_settings').",
            ),
        ],
        repository: Repository,
        language: Annotated[
            str | None,
            Field(default=None, max_length=40, description="e.g. python, typescript, go."),
        ],
        kind: Annotated[
            str | None,
            Field(default=None, max_length=40, description="function, method, class..."),
        ],
        limit: Annotated[
            int, Field(default=10, ge=1, le=MAX_CODE_RESULTS, description="Results at most.")
        ],
    ) -> dict[str, Any]:
        """Search indexed source code by meaning and identifiers (hybrid), best match first.

        Each result gives the repository, file, line range, qualified name, kind, score and
        the code (first 40 lines). Use code_callers / code_callees on a result to explore.
        """
        ready = backend()
        request = HybridSearchRequest(
            query=_not_blank(query),
            filters=CodeFilters(repository=repository, language=language, chunk_type=kind),
            top_k=limit,
        )
        found = await code_search.hybrid_embed_first(
            ready.database, ready.embedders, request, tuning=ready.tuning, metrics=ready.metrics
        )
        results = [compact_hit(hit) for hit in found.results]
        return {"results": results, "count": len(results)}

    async def neighbours(
        function: str, repository: str | None, depth: int, *, callers: bool
    ) -> dict[str, Any]:
        async with backend().database.connection() as conn:
            matches = await code_graph.resolve(conn, function, repository_name=repository)
            start = _one_function(matches, function, repository)
            found = await code_graph.neighbourhood(
                conn,
                start.id,
                direction="callers" if callers else "callees",
                max_depth=depth,
                max_nodes=MAX_GRAPH_NODES,
            )
        side = "callers" if callers else "callees"
        return {
            "function": compact_node(start),
            side: [compact_node(node) for node in found.nodes],
            "truncated": found.truncated,
        }

    Function = Annotated[
        str,
        Field(
            min_length=1,
            max_length=1000,
            description="The function's qualified name (e.g. 'app.db.connect'), plain name, "
            "or chunk id (from search_code).",
        ),
    ]
    Depth = Annotated[
        int,
        Field(
            default=1,
            ge=1,
            le=MAX_GRAPH_DEPTH,
            description="1: direct calls only; 2-3: also calls of calls.",
        ),
    ]

    @tool(READ_ONLY)
    async def code_callers(
        function: Function, repository: Repository, depth: Depth
    ) -> dict[str, Any]:
        """Which functions call this function (who depends on it), with their files and lines."""
        return await neighbours(function, repository, depth, callers=True)

    @tool(READ_ONLY)
    async def code_callees(
        function: Function, repository: Repository, depth: Depth
    ) -> dict[str, Any]:
        """Which functions this function calls (what it depends on), with files and lines."""
        return await neighbours(function, repository, depth, callers=False)

    @tool(READ_ONLY)
    async def index_status(repository: Repository) -> dict[str, Any]:
        """What code is indexed: repositories with file and chunk counts and when each was last
        indexed, and the latest indexing jobs with their status and progress."""
        async with backend().database.connection() as conn:
            listed = await code_index.list_repositories(conn)
            jobs = await index_jobs.recent(conn, limit=RECENT_JOBS, repository_name=repository)
        repositories = [
            summary.model_dump(mode="json")
            for summary in listed.repositories
            if repository is None or summary.repository == repository
        ]
        return {"repositories": repositories, "jobs": [compact_job(job) for job in jobs]}


def _one_function(matches: list[NodeMatch], function: str, repository: str | None) -> NodeMatch:
    where = f" in repository {repository!r}" if repository else ""
    if not matches:
        raise NotFound(
            f"No function named {function!r}{where} in the code graph; find its qualified name "
            "with search_code (the repository must be indexed)."
        )
    if len(matches) > 1:
        named = "; ".join(
            f"{m.qualified_name} ({m.repository}: {m.file_path})" for m in matches[:10]
        )
        raise InvalidInput(
            f"{function!r} names {len(matches)} functions{where}: {named}. "
            "Pass a qualified name, a chunk id or a repository."
        )
    return matches[0]
