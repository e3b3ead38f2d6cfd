"""The lifespan and the worker refuse a database they cannot serve; health, readiness and
metrics report truth."""

import pytest
from asgi_lifespan import LifespanManager

from api.core.errors import StartupError
from api.core.migrations import downgrade, head_revision, upgrade
from api.main import create_app
from workers.__main__ import run as run_worker


async def test_refuses_unmigrated_database(scratch_url, settings, embedders):
    app = create_app(settings, embedders=embedders, database_url=scratch_url)
    with pytest.raises(StartupError, match="make migrate-up"):
        async with LifespanManager(app):
            pass


async def test_refuses_database_behind_head(scratch_url, settings, embedders):
    upgrade(scratch_url, "0002_events")
    app = create_app(settings, embedders=embedders, database_url=scratch_url)
    with pytest.raises(StartupError, match="0002_events"):
        async with LifespanManager(app):
            pass


async def test_worker_refuses_database_behind_head(scratch_url, settings):
    upgrade(scratch_url, "0002_events")
    behind = settings.model_copy(update={"database_url": scratch_url})
    with pytest.raises(StartupError, match="0002_events"):
        await run_worker(behind)


async def test_refuses_dimension_mismatch(database_url, settings, embedders):
    wrong = settings.model_copy(update={"embedding_dimension": 768})
    app = create_app(wrong, embedders=embedders, database_url=database_url)
    with pytest.raises(StartupError, match="EMBEDDING_DIMENSION=384"):
        async with LifespanManager(app):
            pass


async def test_health_reports_database_models_and_versions(client, embedders):
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["database"]["at_head"] is True
    assert body["database"]["schema_revision"] == head_revision()
    assert body["versions"]["postgres"].startswith("18")
    assert body["versions"]["pgvector"].startswith("0.8")
    models = body["services"]["embeddings"]
    assert models["loaded"] is True
    assert models["dimension"] == 384
    assert models["text_model"] == embedders.text.model_name


async def test_health_is_503_when_schema_moves_behind(client, database_url):
    downgrade(database_url, "0002_events")
    try:
        response = await client.get("/health")
        assert response.status_code == 503
        assert response.json()["database"]["at_head"] is False
        assert response.json()["status"] == "degraded"
    finally:
        upgrade(database_url, "head")


async def test_readiness(client):
    response = await client.get("/readiness")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_metrics_expose_requests_and_embedding_batches(client):
    await client.post("/v1/events", json={"content": {"text": "measure me"}})
    await client.post("/v1/search", json={"query": "measure", "mode": "vector"})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'mnemolite_http_request_duration_seconds_count{method="POST",route="/v1/events"' in text
    assert "mnemolite_embedding_batch_size_count" in text
    assert "mnemolite_embedding_batch_duration_seconds_bucket" in text
    assert 'mnemolite_search_duration_seconds_count{mode="vector"}' in text
