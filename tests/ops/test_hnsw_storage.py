"""HNSW_STORAGE: the HNSW indexes over half-precision vectors, by migration or by
`make hnsw-storage`, and searches that walk them (and the model switch that keeps them)."""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from asgi_lifespan import LifespanManager

from api.core.config import get_settings
from api.core.database import set_tenant
from api.core.migrations import head_revision, upgrade
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.core.vectors import service as vectors
from api.core.vectors.schemas import VECTOR_TARGETS, SearchTuning
from api.embeddings.factory import build_embedders
from api.main import create_app
from api.memory.search.repository import EVENT_VECTORS
from api.ops.hnsw_storage.service import rebuild_indexes
from api.ops.model_switch import service as model_switch
from tests.ops.test_model_switch import connect, serving

ROOT = Path(__file__).resolve().parents[2]
ALL_COLUMNS = {target.name for target in VECTOR_TARGETS}
TEXTS = [f"note {i}: the heron waits by pond {i}" for i in range(20)] + ["ERR-4312 deploy crash"]


@pytest.fixture
def migrating_with_halfvec(monkeypatch) -> Any:
    """HNSW_STORAGE=halfvec for the migrations this test runs (they read get_settings())."""
    monkeypatch.setenv("HNSW_STORAGE", "halfvec")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("HNSW_STORAGE")
    get_settings.cache_clear()


@pytest.fixture
async def with_events(scratch_url, settings, embedders) -> str:
    upgrade(scratch_url)
    async with serving(settings, scratch_url, embedders) as client:
        batch = {"events": [{"content": {"text": text}} for text in TEXTS]}
        response = await client.post("/v1/events/batch", json=batch)
        assert response.status_code == 201, response.text
        files = [{"path": "billing.py", "content": "def total(lines):\n    return sum(lines)\n"}]
        response = await client.post("/v1/code/index", json={"repository": "a", "files": files})
        assert response.status_code == 201, response.text
    return scratch_url


@pytest.fixture
async def db(scratch_url) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(scratch_url)
    try:
        yield conn
    finally:
        await conn.close()


async def started_tuning(settings, url: str, embedders) -> SearchTuning:
    """The search tuning an app on `url` holds once started."""
    app = create_app(settings, embedders=embedders, database_url=url)
    async with LifespanManager(app):
        tuning: SearchTuning = app.state.search_tuning
    return tuning


async def index_definitions(conn) -> dict[str, str]:
    rows = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE indexdef ~ 'hnsw'")
    return {row["indexname"]: row["indexdef"] for row in rows}


async def walk_plan(conn, embedders, tuning: SearchTuning) -> tuple[str, list[str]]:
    """The plan of an HNSW search of the events (no exact path), and the texts it found."""
    logged: list[tuple[str, tuple[Any, ...]]] = []
    conn.add_query_logger(lambda record: logged.append((record.query, tuple(record.args))))
    await set_tenant(conn, DEFAULT_TENANT_ID)
    vector = await embedders.text.embed_query("the heron waits by pond 3")
    found = await vectors.nearest(
        conn,
        EVENT_VECTORS,
        vector,
        lambda params: "TRUE",
        filtered=False,
        k=5,
        tuning=tuning,
        columns="e.id, e.content->>'text' AS text",
    )
    await asyncio.sleep(0)  # asyncpg calls the logger soon after the statement
    (query, args) = next((q, a) for q, a in logged if "nearest AS MATERIALIZED" in q)
    async with conn.transaction():
        # A few rows: any plan is cheap. Without sorts, only an index that yields the walk's
        # order can answer it.
        await conn.execute("SET LOCAL enable_sort TO off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {query}", *args))
    assert found.strategy == "hnsw"
    return plan, [c.row["text"] for c in found.candidates if c.row is not None]


async def test_migrating_with_halfvec_builds_halfvec_indexes_that_searches_walk(
    migrating_with_halfvec, scratch_url, settings, embedders
):
    upgrade(scratch_url)
    conn = await connect(scratch_url)
    try:
        assert await vectors.hnsw_storage(conn) == dict.fromkeys(ALL_COLUMNS, "halfvec")
        for definition in (await index_definitions(conn)).values():
            assert "::halfvec(384)) halfvec_cosine_ops" in definition, definition
    finally:
        await conn.close()
    halfvec_settings = settings.model_copy(update={"hnsw_storage": "halfvec"})
    tuning = await started_tuning(halfvec_settings, scratch_url, embedders)
    assert tuning.halfvec_indexes == ALL_COLUMNS
    async with serving(halfvec_settings, scratch_url, embedders) as client:
        batch = {"events": [{"content": {"text": text}} for text in TEXTS]}
        assert (await client.post("/v1/events/batch", json=batch)).status_code == 201

    conn = await connect(scratch_url)
    try:
        tuning = SearchTuning(exact_max_rows=0, halfvec_indexes=frozenset(ALL_COLUMNS))
        plan, texts = await walk_plan(conn, embedders, tuning)
        assert "Index Scan using events_embedding_hnsw" in plan, plan
        assert texts[0] == "note 3: the heron waits by pond 3"
        # Ordered by the full vectors, as the index does not: the walk would not use it.
        plan, _ = await walk_plan(conn, embedders, SearchTuning(exact_max_rows=0))
        assert "events_embedding_hnsw" not in plan, plan
    finally:
        await conn.close()


async def test_rebuilding_turns_every_index_to_the_storage_asked_and_back(
    with_events, db, settings, embedders
):
    async def rebuild(storage):
        return await rebuild_indexes(
            db, storage, dimension=384, m=settings.hnsw_m, ef_construction=32
        )

    assert await vectors.hnsw_storage(db) == dict.fromkeys(ALL_COLUMNS, "vector")
    _, before = await walk_plan(db, embedders, SearchTuning(exact_max_rows=0))

    assert set(await rebuild("halfvec")) == ALL_COLUMNS
    assert await vectors.hnsw_storage(db) == dict.fromkeys(ALL_COLUMNS, "halfvec")
    assert await rebuild("halfvec") == []  # already right: nothing rebuilt
    halfvec = SearchTuning(exact_max_rows=0, halfvec_indexes=frozenset(ALL_COLUMNS))
    plan, after = await walk_plan(db, embedders, halfvec)
    assert "Index Scan using events_embedding_hnsw" in plan, plan
    assert after[0] == before[0] == "note 3: the heron waits by pond 3"

    # A run interrupted after building one new index: the rerun drops it and finishes.
    await db.execute("CREATE INDEX events_embedding_hnsw_next ON events (id)")
    assert set(await rebuild("vector")) == ALL_COLUMNS
    assert await vectors.hnsw_storage(db) == dict.fromkeys(ALL_COLUMNS, "vector")
    assert not any(name.endswith("_next") for name in await index_definitions(db))
    # The service reads what the indexes hold when it starts.
    assert (await started_tuning(settings, with_events, embedders)).halfvec_indexes == set()


async def test_rebuilding_refuses_while_the_service_runs(with_events, db, settings, embedders):
    async with serving(settings, with_events, embedders):
        with pytest.raises(model_switch.SwitchError, match="stop it before rebuilding"):
            await rebuild_indexes(db, "halfvec", dimension=384, m=16, ef_construction=32)
    assert await vectors.hnsw_storage(db) == dict.fromkeys(ALL_COLUMNS, "vector")


def test_the_command_rebuilds_and_says_what_to_keep(with_events):
    env = {
        **os.environ,
        "DATABASE_URL": with_events,
        "EMBEDDING_MODE": "mock",
        "LOG_LEVEL": "warning",
        "HNSW_STORAGE": "halfvec",
    }
    command = [sys.executable, "-m", "scripts.hnsw_storage"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "to hold halfvec" in done.stdout and "HNSW_STORAGE=halfvec" in done.stdout
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "holds halfvec already" in again.stdout


async def test_a_model_switch_builds_its_indexes_with_the_storage_asked(with_events, db, settings):
    embedders_256 = build_embedders(settings.model_copy(update={"embedding_dimension": 256}))
    await embedders_256.start()
    try:
        await model_switch.switch_model(
            db,
            embedders_256,
            head=head_revision(),
            text_fields=settings.embedding_text_fields,
            hnsw_m=settings.hnsw_m,
            hnsw_ef_construction=32,
            hnsw_storage="halfvec",
        )
    finally:
        await embedders_256.aclose()
    assert await vectors.hnsw_storage(db) == dict.fromkeys(ALL_COLUMNS, "halfvec")
    for definition in (await index_definitions(db)).values():
        assert "::halfvec(256)) halfvec_cosine_ops" in definition, definition
