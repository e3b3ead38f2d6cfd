"""What an evaluation set is: queries with their right answers, the documents they search, and
how the set is loaded into the service and searched through its API.

Two shapes: a `CodeSet` (repositories of source files, searched by the code search API) and an
`EventSet` (events, searched by POST /v1/search within one session each). Both keep the plain
text of every document, by scope, for the Python BM25 baseline.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from scripts.eval import client as api
from scripts.eval.scoring import known_item

Scorer = Callable[[Sequence[str], frozenset[str]], dict[str, float]]


@dataclass(frozen=True)
class Query:
    text: str
    scope: str  # the repository or session it searches, and nothing else
    answers: frozenset[str]  # keys of the right documents


@dataclass
class EvalSet:
    """Queries and documents of one set and split; subclasses say how they reach the API."""

    kind: str  # "code", "known_item" or "locomo"
    split: str  # "tuning" or "test"
    sources: list[str]  # packages, man sections or conversations
    queries: list[Query]
    documents: dict[str, list[tuple[str, str]]]  # scope -> [(key, text)], for BM25
    score: Scorer = known_item
    methods: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.split}"

    @property
    def document_count(self) -> int:
        return sum(len(docs) for docs in self.documents.values())

    async def load(self, client: httpx.AsyncClient) -> dict[str, int]:
        raise NotImplementedError

    async def warm(self, client: httpx.AsyncClient, query: Query) -> None:
        """Put the query's embeddings in the service's cache (latency is then search alone)."""
        raise NotImplementedError

    async def search(self, client: httpx.AsyncClient, method: str, query: Query) -> list[str]:
        raise NotImplementedError


@dataclass
class CodeSet(EvalSet):
    files: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # repository -> files
    methods: tuple[str, ...] = api.CODE_METHODS

    async def load(self, client: httpx.AsyncClient) -> dict[str, int]:
        totals = {"files": 0, "chunks": 0}
        for repository, files in self.files.items():
            indexed = await api.index_repository(client, repository, files)
            totals = {name: totals[name] + indexed[name] for name in totals}
        return totals

    async def warm(self, client: httpx.AsyncClient, query: Query) -> None:
        for method in ("vector", "vector_code"):  # the text and the code model
            await api.code_search(client, method, query.text, query.scope, k=1)

    async def search(self, client: httpx.AsyncClient, method: str, query: Query) -> list[str]:
        return await api.code_search(client, method, query.text, query.scope)


@dataclass
class EventSet(EvalSet):
    events: list[dict[str, Any]] = field(default_factory=list)  # POST /v1/events bodies
    key_field: str = "key"  # the metadata field that identifies an answer
    methods: tuple[str, ...] = api.EVENT_METHODS

    async def load(self, client: httpx.AsyncClient) -> dict[str, int]:
        await api.post_events(client, self.events)
        return {"events": len(self.events)}

    async def warm(self, client: httpx.AsyncClient, query: Query) -> None:
        await self.search(client, "vector", query)

    async def search(self, client: httpx.AsyncClient, method: str, query: Query) -> list[str]:
        return await api.event_search(
            client, method, query.text, session_id=query.scope, key_field=self.key_field
        )
