"""The compact JSON the MCP tools return: an agent's context window is the scarce resource, so
long texts and code are trimmed and vectors never sent."""

from typing import Any

from api.code.graph.schemas import GraphNode, NodeMatch
from api.code.jobs.schemas import JobRead
from api.code.search.schemas import CodeHit
from api.embeddings.texts import text_for_embedding
from api.memory.events.schemas import EventRead
from api.web.mcp.backend import Backend

# Enough of a memory or of a function to judge it; get_event returns the whole memory.
TEXT_CHARS = 500
SNIPPET_LINES = 40


def trimmed(text: str, limit: int = TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def snippet(source: str, lines: int = SNIPPET_LINES) -> str:
    kept = source.splitlines()
    if len(kept) <= lines:
        return source
    return "\n".join(kept[:lines]) + f"\n… ({len(kept) - lines} more lines)"


def _scopes(event: EventRead) -> dict[str, str]:
    """The scopes the event has (none are shown for an event without)."""
    found = {"user_id": event.user_id, "agent_id": event.agent_id, "session_id": event.session_id}
    return {name: value for name, value in found.items() if value is not None}


def compact_event(event: EventRead, backend: Backend) -> dict[str, Any]:
    text = text_for_embedding(event.content, backend.settings.embedding_text_fields)
    return {
        "id": str(event.id),
        "timestamp": event.timestamp.isoformat(),
        "text": trimmed(text),
        "metadata": event.metadata,
        **_scopes(event),
    }


def full_event(event: EventRead) -> dict[str, Any]:
    shown = event.model_dump(mode="json", include={"id", "timestamp", "content", "metadata"})
    return {**shown, **_scopes(event)}


def compact_hit(hit: CodeHit) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "repository": hit.repository,
        "file": hit.file_path,
        "start_line": hit.start_line,
        "end_line": hit.end_line,
        "qualified_name": hit.qualified_name,
        "kind": hit.chunk_type,
        "language": hit.language,
        "score": round(hit.score, 6),
        "snippet": snippet(hit.source_code),
    }


def compact_node(node: GraphNode | NodeMatch) -> dict[str, Any]:
    found = {
        "qualified_name": node.qualified_name,
        "kind": node.kind,
        "file": node.file_path,
        "line": node.start_line,
        "chunk_id": str(node.chunk_id) if node.chunk_id else None,
    }
    if isinstance(node, GraphNode) and (node.caller_depth or node.callee_depth):
        found["depth"] = node.depth
    return found


def compact_job(job: JobRead) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "repository": job.repository,
        "status": job.status,
        "progress": job.progress,
        "processed_files": job.processed_files,
        "total_files": job.total_files,
        "indexed_chunks": job.indexed_chunks,
        "errors": len(job.errors),
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
