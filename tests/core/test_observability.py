"""/metrics, JSON logs with request and job ids, and the Grafana dashboard that reads them.

The session's metrics are shared by every test, so counters are compared before and after.
"""

import io
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from api.code.jobs import repository as jobs_repository
from api.core.config import Settings
from api.core.database import create_pool, set_tenant
from api.core.log_setup import configure_logging
from api.core.metrics import create_metrics
from api.core.migrations import upgrade
from api.embeddings.factory import Embedders
from api.main import create_app
from api.ops.health import service as health_service
from tests.support.jobs import wait_for_job
from tests.support.repos import module
from tests.support.servers import uvicorn_server

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "mnemolite-dashboard.json"
# Labels Prometheus adds to every series it scrapes; the dashboard may select on them.
TARGET_LABELS = {"instance", "job"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


# --- metrics -----------------------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_and_known_method(client):
    before = await scrape(client)
    for _ in range(2):
        assert (await client.get(f"/v1/events/{uuid.uuid4()}")).status_code == 404
    weird = await client.request("BREW", "/v1/events")
    assert (await client.get("/static/favicon.svg")).status_code == 200
    assert (await client.get("/no/such/page")).status_code == 404
    after = await scrape(client)

    name = "mnemolite_http_request_duration_seconds_count"
    labels = {"method": "GET", "route": "/v1/events/{event_id}", "status": "404"}
    assert value(after, name, **labels) - value(before, name, **labels) == 2
    # An invented method is one label value, whatever the client sends.
    other = {"method": "OTHER", "route": "/v1/events", "status": str(weird.status_code)}
    assert value(after, name, **other) - value(before, name, **other) == 1
    assert not any("BREW" in str(key) for key in after)
    # Files under a mount share one series, as do paths that match no route.
    for route, status in (("/static/{path}", "200"), ("unmatched", "404")):
        labels = {"method": "GET", "route": route, "status": status}
        assert value(after, name, **labels) - value(before, name, **labels) == 1, route


async def test_event_search_latency_is_observed_per_mode(client):
    await client.post("/v1/events", json={"content": {"text": "observability of search"}})
    before = await scrape(client)
    for mode in ("hybrid", "vector", "lexical"):
        response = await client.post("/v1/search", json={"query": "search", "mode": mode})
        assert response.status_code == 200, response.text
    assert (await client.post("/v1/search", json={"metadata": {"x": 1}})).status_code == 200
    after = await scrape(client)
    for mode in ("hybrid", "vector", "lexical", "filter"):
        name = "mnemolite_search_duration_seconds_count"
        assert value(after, name, mode=mode) - value(before, name, mode=mode) == 1, mode


async def test_code_search_latency_is_observed_per_mode(client):
    indexed = await client.post(
        "/v1/code/index", json={"repository": "observed", "files": [module(1), module(2)]}
    )
    assert indexed.status_code in (200, 201), indexed.text
    before = await scrape(client)
    for mode in ("hybrid", "lexical", "vector"):
        response = await client.post(f"/v1/code/search/{mode}", json={"query": "handler"})
        assert response.status_code == 200, response.text
    after = await scrape(client)
    for mode in ("hybrid", "lexical", "vector"):
        name = "mnemolite_code_search_duration_seconds_count"
        assert value(after, name, mode=mode) - value(before, name, mode=mode) == 1, mode
        bucket = "mnemolite_code_search_duration_seconds_bucket"
        assert value(after, bucket, mode=mode, le="+Inf") >= 1


async def test_embedding_batches_and_queue_depth(client):
    before = await scrape(client)
    events = [{"content": {"text": f"batch member {i}"}} for i in range(5)]
    assert (await client.post("/v1/events/batch", json={"events": events})).status_code == 201
    after = await scrape(client)
    count = "mnemolite_embedding_batch_size_count"
    total = "mnemolite_embedding_batch_size_sum"
    assert value(after, count, model="mock") > value(before, count, model="mock")
    assert value(after, total, model="mock") - value(before, total, model="mock") >= 5
    duration = "mnemolite_embedding_batch_duration_seconds_count"
    assert value(after, duration, model="mock") > value(before, duration, model="mock")
    # Nothing waits once every request has been answered.
    assert value(after, "mnemolite_embedding_queue_depth", model="mock") == 0
    assert ("mnemolite_embedding_queue_depth", frozenset({("model", "mock")})) in after


async def test_index_job_metrics_count_jobs_files_and_chunks(client, conn):
    before = await scrape(client)
    files = [module(i) for i in range(3)] + [{"path": "assets/x.bin", "content": "a\x00b"}]
    queued = await client.post("/v1/code/index/jobs", json={"repository": "jobs", "files": files})
    assert queued.status_code == 202, queued.text
    job = await wait_for_job(client, queued.json()["id"])
    assert job["status"] == "succeeded", job

    # A stored request that no longer validates fails its job (it used to stay `running`).
    broken = await jobs_repository.enqueue(conn, "broken", {"repository": "", "files": []})
    failed = await wait_for_job(client, str(broken.id))
    assert failed["status"] == "failed"

    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("mnemolite_index_jobs_finished_total", status="succeeded") == 1
    assert delta("mnemolite_index_jobs_finished_total", status="failed") == 1
    assert delta("mnemolite_index_job_duration_seconds_count", status="succeeded") == 1
    assert delta("mnemolite_index_job_duration_seconds_count", status="failed") == 1
    assert delta("mnemolite_index_job_files_total", result="indexed") == 3
    assert delta("mnemolite_index_job_files_total", result="skipped") == 1
    assert delta("mnemolite_index_job_chunks_total") == job["indexed_chunks"] > 0


async def test_pool_gauges_are_sane_and_acquire_waits_are_timed(client, settings):
    before = await scrape(client)
    assert (await client.get("/v1/events")).status_code == 200
    after = await scrape(client)
    size = value(after, "mnemolite_db_pool_size")
    idle = value(after, "mnemolite_db_pool_idle_connections")
    in_use = value(after, "mnemolite_db_pool_in_use_connections")
    assert 0 <= in_use <= size <= value(after, "mnemolite_db_pool_max_size")
    assert in_use + idle == size
    assert value(after, "mnemolite_db_pool_min_size") == settings.db_pool_min_size
    assert value(after, "mnemolite_db_pool_max_size") == settings.db_pool_max_size
    waits = "mnemolite_db_pool_acquire_duration_seconds_count"
    assert value(after, waits) > value(before, waits)


async def test_build_info_names_version_models_and_dimension(client):
    import api

    after = await scrape(client)
    labels = {
        "version": api.__version__,
        "text_model": "mock",
        "code_model": "mock",
        "dimension": "384",
    }
    assert value(after, "mnemolite_build_info", **labels) == 1


@pytest.fixture
async def idle_app(
    scratch_url: str, settings: Settings, embedders: Embedders
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """An app on its own database with no worker, so a queued job stays queued."""
    upgrade(scratch_url)
    quiet = settings.model_copy(update={"index_worker_in_process": False})
    app = create_app(quiet, embedders=embedders, database_url=scratch_url, metrics=create_metrics())
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, app


async def test_queue_gauges_read_queued_and_running_jobs_from_the_database(
    idle_app, scratch_url, settings
):
    client, _ = idle_app
    empty = await scrape(client)
    assert value(empty, "mnemolite_index_jobs", status="queued") == 0
    assert value(empty, "mnemolite_index_jobs", status="running") == 0

    for repository in ("first", "second"):
        body = {"repository": repository, "files": [module(1)]}
        assert (await client.post("/v1/code/index/jobs", json=body)).status_code == 202
    queued = await scrape(client)
    assert value(queued, "mnemolite_index_jobs", status="queued") == 2
    assert value(queued, "mnemolite_index_jobs", status="running") == 0
    assert value(queued, "mnemolite_index_jobs_oldest_age_seconds", status="queued") > 0

    # A worker in another process claims one: the API's gauges see it through the database.
    pool = await create_pool(scratch_url, settings)
    try:
        async with pool.acquire() as conn:
            await set_tenant(conn, None, all_tenants=True)  # the claim spans tenants
            claimed = await jobs_repository.claim(
                conn, "elsewhere", lease_seconds=60, max_attempts=3
            )
            assert claimed is not None
    finally:
        await pool.close()
    claimed = await scrape(client)
    assert value(claimed, "mnemolite_index_jobs", status="queued") == 1
    assert value(claimed, "mnemolite_index_jobs", status="running") == 1
    assert value(claimed, "mnemolite_index_jobs_oldest_age_seconds", status="running") >= 0


async def test_job_gauges_are_dropped_when_the_database_cannot_answer(
    idle_app, scratch_url, settings
):
    client, app = idle_app
    metrics = app.state.metrics
    assert value(await scrape(client), "mnemolite_index_jobs", status="queued") == 0
    # A pool that can no longer connect, as after the database went away.
    pool = await create_pool(scratch_url, settings)
    await pool.close()
    body = await health_service.render_metrics(pool, metrics)
    assert b'mnemolite_index_jobs{status="queued"}' not in body
    assert b"mnemolite_db_pool_in_use_connections 0.0" in body
    # The next scrape with a working database brings them back.
    assert value(await scrape(client), "mnemolite_index_jobs", status="queued") == 0


# --- logs --------------------------------------------------------------------------------------


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """JSON lines at info into a buffer for one test, then the session's configuration again."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    previous = structlog.get_config()
    buffer = io.StringIO()
    configure_logging("info", "json", stream=buffer)
    try:
        yield buffer
    finally:
        structlog.configure(**previous)
        root.handlers, root.level = handlers, level


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line must be a JSON object: no unstructured text in JSON mode."""
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


async def test_every_log_line_of_a_request_carries_its_request_id(client, json_logs):
    response = await client.get(f"/v1/events/{uuid.uuid4()}", headers={"X-Request-ID": "req-1"})
    assert response.headers["x-request-id"] == "req-1"
    access = [e for e in lines(json_logs) if e["event"] == "http_request"]
    assert access == [
        {
            "event": "http_request",
            "method": "GET",
            "path": access[0]["path"],
            "route": "/v1/events/{event_id}",
            "status": 404,
            "duration_ms": access[0]["duration_ms"],
            "request_id": "req-1",
            "level": "info",
            "timestamp": access[0]["timestamp"],
        }
    ]

    # Without the header an id is made up, returned, and logged.
    response = await client.get("/readiness")
    generated = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    # Probes are logged at debug, so they do not bury the traffic at info.
    assert not [e for e in lines(json_logs) if e.get("request_id") == generated]

    # stdlib loggers (uvicorn's) are JSON too, and carry the id inside a request.
    logging.getLogger("uvicorn.error").warning("plain %s", "stdlib")
    logging.getLogger("uvicorn.access").warning("never shown")
    last = lines(json_logs)[-1]
    assert last["event"] == "plain stdlib" and last["logger"] == "uvicorn.error"
    assert "never shown" not in json_logs.getvalue()


async def test_job_logs_carry_the_job_id_and_the_queueing_request_id(client, json_logs):
    body = {"repository": "logged", "files": [module(1)]}
    response = await client.post(
        "/v1/code/index/jobs", json=body, headers={"X-Request-ID": "queue-it"}
    )
    job_id = response.json()["id"]
    await wait_for_job(client, job_id)
    entries = lines(json_logs)
    queued = [e for e in entries if e["event"] == "index_job_queued"]
    assert queued and queued[0]["job_id"] == job_id and queued[0]["request_id"] == "queue-it"
    worker = [e for e in entries if e["event"] in ("index_job_started", "index_job_succeeded")]
    assert [e["event"] for e in worker] == ["index_job_started", "index_job_succeeded"]
    for entry in worker:
        assert entry["job_id"] == job_id and entry["request_id"] == "queue-it"


async def test_an_unexpected_error_is_logged_and_answered_with_the_request_id(
    app, json_logs, monkeypatch
):
    async def broken(pool: Any, replicas: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(health_service, "readiness", broken)
    # No raise_app_exceptions: the middleware answers, nothing escapes to the server.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/readiness", headers={"X-Request-ID": "fails"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "detail": "Unexpected server error."}
    assert response.headers["x-request-id"] == "fails"
    errors = [e for e in lines(json_logs) if e["event"] == "unhandled_error"]
    assert len(errors) == 1 and errors[0]["request_id"] == "fails"
    assert "RuntimeError: boom" in errors[0]["exception"]
    assert errors[0]["level"] == "error"


def test_uvicorn_in_json_mode_writes_only_json_lines_and_no_access_log_of_its_own(
    database_url, tmp_path
):
    """The Docker command (`uvicorn api.main:app`), as a real process."""
    log_path = tmp_path / "server.log"
    with uvicorn_server(database_url, log_path, LOG_FORMAT="json", LOG_LEVEL="info") as url:
        reply = httpx.get(f"{url}/v1/events", headers={"X-Request-ID": "from-uvicorn"})
        assert reply.headers["x-request-id"] == "from-uvicorn"
    text = log_path.read_text()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(e["event"] == "Application startup complete." for e in entries)
    ours = [e for e in entries if e.get("request_id") == "from-uvicorn"]
    assert [e["event"] for e in ours] == ["http_request"]
    assert ours[0]["route"] == "/v1/events" and ours[0]["status"] == 200
    assert "HTTP/1.1" not in text  # uvicorn's access line: `"GET /v1/events HTTP/1.1" 200`


# --- Grafana -----------------------------------------------------------------------------------


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert {i["name"] for i in dashboard["__inputs"]} == {"DS_PROMETHEUS"}
    exprs = []
    ids = []
    for panel in dashboard["panels"]:
        ids.append(panel["id"])
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            exprs.append(target["expr"])
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for variable in dashboard["templating"]["list"]:
        exprs.append(variable["definition"])
    return exprs


def exposed(text: str) -> dict[str, set[str]]:
    """Sample names /metrics can show, with their labels (from HELP/TYPE, even before use)."""
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        suffixes = {
            "histogram": ("_bucket", "_count", "_sum"),
            "counter": ("_total",),
            "info": ("_info",),
        }.get(family.type, ("",))
        labels = {key for sample in family.samples for key in sample.labels}
        for suffix in suffixes:
            names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


async def test_the_grafana_dashboard_uses_only_exposed_metrics_and_labels(client):
    # Traffic first, so labelled series have samples to show their label names.
    await client.post("/v1/events", json={"content": {"text": "dashboard"}})
    await client.post("/v1/search", json={"query": "dashboard"})
    await client.post("/v1/code/search/lexical", json={"query": "dashboard"})
    text = (await client.get("/metrics")).text
    available = exposed(text)

    used: set[str] = set()
    for expr in dashboard_expressions():
        for name in re.findall(r"\bmnemolite_[a-z0-9_]+", expr):
            assert name in available, f"{name} (in `{expr}`) is not exposed by /metrics"
            used.add(name)
        for name, selector in re.findall(r"\b(mnemolite_[a-z0-9_]+)\{([^}]*)\}", expr):
            keys = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
            unknown = keys - available[name] - TARGET_LABELS
            assert not unknown, f"{name} has no label {unknown} (in `{expr}`)"

    families = {
        "mnemolite_http_request_duration_seconds_bucket",
        "mnemolite_search_duration_seconds_bucket",
        "mnemolite_code_search_duration_seconds_bucket",
        "mnemolite_embedding_batch_size_bucket",
        "mnemolite_embedding_batch_duration_seconds_bucket",
        "mnemolite_embedding_queue_depth",
        "mnemolite_index_jobs",
        "mnemolite_index_jobs_finished_total",
        "mnemolite_index_job_duration_seconds_bucket",
        "mnemolite_db_pool_in_use_connections",
        "mnemolite_db_pool_size",
    }
    assert families <= used, f"panels missing for {families - used}"


def test_every_metric_is_documented_in_the_operations_guide():
    guide = (ROOT / "docs" / "operations.md").read_text()
    section = guide.split("## Observability", 1)[1].split("\n## ", 1)[0]
    suffixes = {"counter": "_total", "info": "_info"}  # listed as /metrics shows them
    families = list(create_metrics().registry.collect())
    assert families, "no metrics registered"
    for family in families:
        name = family.name + suffixes.get(family.type, "")
        assert f"`{name}`" in section, f"{name} is missing from docs/operations.md"
