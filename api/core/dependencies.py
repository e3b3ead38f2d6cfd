"""Typed dependencies shared by routers: settings, metrics, search tuning, paging.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, and
a thread hand-off per dependency cost a search request about a millisecond on two cores.
"""

import json
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from api.core.config import Settings
from api.core.errors import InvalidInput
from api.core.metrics import Metrics
from api.core.vectors.schemas import SearchTuning


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_search_tuning(request: Request) -> SearchTuning:
    tuning: SearchTuning = request.app.state.search_tuning
    return tuning


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
TuningDep = Annotated[SearchTuning, Depends(get_search_tuning)]


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


Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
# Deep offsets make PostgreSQL read and drop every skipped row: bounded, and filters do the rest.
MAX_OFFSET = 100_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]
IncludeEmbedding = Annotated[
    bool, Query(description="Return each event's vector (left out by default).")
]
