"""Service routes: health, readiness and Prometheus metrics."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from api.core.dependencies import MetricsDep
from api.ops.health import service

router = APIRouter(tags=["service"])

# A degraded service answers 503 with the same report as a healthy one, not an error body.
DEGRADED: dict[int | str, dict[str, Any]] = {
    503: {"description": "Degraded: the same report, naming the failing check."}
}


@router.get("/health", responses=DEGRADED)
async def health(request: Request) -> JSONResponse:
    """Database reachable and migrated, models loaded, lexical ranking, versions (503: degraded)."""
    healthy, report = await service.health_report(
        getattr(request.state, "pool", None),
        getattr(request.state, "embedders", None),
        head=request.app.state.schema_head,
        lexical_ranking=request.app.state.search_tuning.lexical_ranking,
    )
    return JSONResponse(report, status_code=200 if healthy else 503)


@router.get("/readiness", responses=DEGRADED)
async def readiness(request: Request) -> JSONResponse:
    """Whether the service can take requests now (the primary answers), and each read
    replica's state and lag (a replica that is down or behind is skipped, never a reason to be
    unready)."""
    ready, report = await service.readiness(
        getattr(request.state, "pool", None), getattr(request.state, "replicas", None)
    )
    return JSONResponse(report, status_code=200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, metrics: MetricsDep) -> Response:
    """Prometheus metrics in the text exposition format."""
    body = await service.render_metrics(getattr(request.state, "pool", None), metrics)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
