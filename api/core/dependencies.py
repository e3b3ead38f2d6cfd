"""Typed dependencies shared by routers: settings, embedders, metrics, parsed query filters.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, and
a thread hand-off per dependency cost a search request about a millisecond on two cores.
"""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import ValidationError

from api.core.config import Settings
from api.core.errors import InvalidInput, invalid_fields
from api.core.metrics import Metrics
from api.embeddings.factory import Embedders
from api.embeddings.protocol import Embedder
from api.memory.events.schemas import EventFilters


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_text_embedder(request: Request) -> Embedder:
    embedder: Embedder = request.state.embedders.text
    return embedder


async def get_embedders(request: Request) -> Embedders:
    embedders: Embedders = request.state.embedders
    return embedders


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EmbedderDep = Annotated[Embedder, Depends(get_text_embedder)]
EmbeddersDep = Annotated[Embedders, Depends(get_embedders)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def parse_json_object(raw: str | None, *, name: str) -> dict[str, Any] | None:
    """A JSON object passed as a query-string parameter, or a clear 422."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput(f"{name} is nested too deeply to parse.") from exc
    if not isinstance(value, dict):
        raise InvalidInput(f'{name} must be a JSON object such as {{"project": "x"}}.')
    return value


def make_filters(
    metadata: dict[str, Any] | None, ts_start: datetime | None, ts_end: datetime | None
) -> EventFilters:
    try:
        return EventFilters(metadata=metadata, ts_start=ts_start, ts_end=ts_end)
    except ValidationError as exc:
        raise invalid_fields(exc, whole="query") from exc


async def query_filters(
    filter_metadata: Annotated[
        str | None,
        Query(description='Metadata containment filter as a JSON object, e.g. {"type": "note"}.'),
    ] = None,
    ts_start: Annotated[
        datetime | None, Query(description="Earliest timestamp (ISO 8601).")
    ] = None,
    ts_end: Annotated[datetime | None, Query(description="Latest timestamp (ISO 8601).")] = None,
) -> EventFilters:
    metadata = parse_json_object(filter_metadata, name="filter_metadata")
    return make_filters(metadata, ts_start, ts_end)


QueryFilters = Annotated[EventFilters, Depends(query_filters)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
# Deep offsets make PostgreSQL read and drop every skipped row: bounded, and filters do the rest.
MAX_OFFSET = 100_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]
IncludeEmbedding = Annotated[
    bool, Query(description="Return each event's vector (left out by default).")
]
