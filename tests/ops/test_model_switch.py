"""`make switch-model`: every row re-embedded, columns resized, indexes rebuilt, resumable."""

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import pytest
from asgi_lifespan import LifespanManager

from api.core.database import init_connection
from api.core.errors import StartupError
from api.core.migrations import head_revision, upgrade
from api.embeddings.factory import Embedders, build_embedders
from api.embeddings.protocol import Matrix
from api.embeddings.texts import text_for_embedding
from api.main import create_app
from api.ops.model_switch import service
from api.ops.model_switch.repository import VECTOR_COLUMNS

ROOT = Path(__file__).resolve().parents[2]

EVENTS = [{"content": {"text": f"note {i}: the billing migration step {i}"}} for i in range(7)]
EVENTS.append({"content": {"text": "ERR-4312 crashed the nightly deploy"}, "metadata": {"p": 1}})
CODE = {
    "billing/invoice.py": '''\
def compute_invoice_total(lines):
    """Sum the invoice lines with tax."""
    return sum(line.amount * 1.2 for line in lines)


def send_invoice(invoice):
    return compute_invoice_total(invoice.lines)
''',
    "billing/refund.py": "def refund_payment(payment):\n    return payment.amount\n",
}


@pytest.fixture
async def scratch(scratch_url, settings, embedders) -> str:
    """A database migrated at 384-d holding events and indexed code."""
    upgrade(scratch_url)
    async with serving(settings, scratch_url, embedders) as client:
        response = await client.post("/v1/events/batch", json={"events": EVENTS})
        assert response.status_code == 201, response.text
        files = [{"path": path, "content": text} for path, text in CODE.items()]
        response = await client.post("/v1/code/index", json={"repository": "acme", "files": files})
        assert response.status_code == 201, response.text
        # Chunks indexed without embeddings have nothing to convert and stay without.
        plain = {"repository": "plain", "files": files[:1], "generate_embeddings": False}
        response = await client.post("/v1/code/index", json=plain)
        assert response.status_code == 201, response.text
    return scratch_url


@asynccontextmanager
async def serving(
    settings, url: str, embedders: Embedders | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on `url` with these settings (embedders built from them when not given)."""
    app = create_app(settings, embedders=embedders, database_url=url)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    return conn


@pytest.fixture
async def db(scratch) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(scratch)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def embedders_256(settings) -> AsyncIterator[Embedders]:
    service_256 = build_embedders(settings.model_copy(update={"embedding_dimension": 256}))
    await service_256.start()
    yield service_256
    await service_256.aclose()


async def switch(conn, embedders, settings, **options):
    return await service.switch_model(
        conn,
        embedders,
        head=head_revision(),
        text_fields=settings.embedding_text_fields,
        hnsw_m=settings.hnsw_m,
        hnsw_ef_construction=settings.hnsw_ef_construction,
        **options,
    )


async def ids(conn) -> tuple[list, list]:
    events = [r["id"] for r in await conn.fetch("SELECT id FROM events ORDER BY id")]
    chunks = [r["id"] for r in await conn.fetch("SELECT id FROM code_chunks ORDER BY id")]
    return events, chunks


async def dimensions(conn) -> dict[str, int]:
    rows = await conn.fetch(
        """
        SELECT attrelid::regclass::text || '.' || attname AS name, atttypmod AS dimension
        FROM pg_attribute
        WHERE attrelid IN ('events'::regclass, 'code_chunks'::regclass)
          AND attname LIKE 'embedding%' AND NOT attisdropped
        """
    )
    return {row["name"]: row["dimension"] for row in rows}


async def hnsw_indexes(conn) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE indexdef LIKE '%USING hnsw%'"
    )
    return {row["indexname"]: row["indexdef"] for row in rows}


EXPECTED_COLUMNS = {"events.embedding", "code_chunks.embedding_text", "code_chunks.embedding_code"}


async def test_switch_to_256_keeps_every_row_and_the_app_serves_it(
    db, scratch, settings, embedders_256
):
    before = await ids(db)
    assert len(before[0]) == 8 and len(before[1]) == 5
    assert set((await dimensions(db)).values()) == {384}

    result = await switch(db, embedders_256, settings, batch_size=3)
    assert (result.old_dimension, result.dimension) == (384, 256)
    assert result.events == 8 and result.embedded_events == 8
    assert result.embedded_chunk_texts == result.embedded_chunk_codes == 3
    assert (
        await db.fetchval(
            "SELECT count(*) FROM code_chunks WHERE repository = 'plain' "
            "AND embedding_text IS NULL AND embedding_code IS NULL"
        )
        == 2
    )
    assert not result.resumed

    assert await ids(db) == before
    assert await dimensions(db) == dict.fromkeys(EXPECTED_COLUMNS, 256)
    indexes = await hnsw_indexes(db)
    assert set(indexes) == {column.index for column in VECTOR_COLUMNS}
    for column in VECTOR_COLUMNS:
        definition = indexes[column.index]
        assert f"({column.column} vector_cosine_ops)" in definition
        assert "m='16'" in definition and "ef_construction='64'" in definition
    storage = await db.fetchval(
        "SELECT attstorage FROM pg_attribute WHERE attrelid = 'events'::regclass "
        "AND attname = 'embedding'"
    )
    assert storage == b"m"  # in the row, as the migrations set it

    # The vectors are the new model's.
    for row in await db.fetch("SELECT content, embedding FROM events"):
        text = text_for_embedding(row["content"], settings.embedding_text_fields)
        expected = (await embedders_256.text.embed_documents([text]))[0]
        assert np.allclose(row["embedding"].to_numpy(), expected, atol=1e-6)

    # The app configured for 256 starts (its schema check passes) and finds what was stored.
    settings_256 = settings.model_copy(update={"embedding_dimension": 256, "database_url": scratch})
    async with serving(settings_256, scratch) as client:
        found = await client.post("/v1/search", json={"query": "ERR-4312 deploy", "mode": "vector"})
        assert found.status_code == 200, found.text
        assert found.json()["data"][0]["content"]["text"].startswith("ERR-4312")
        code = await client.post(
            "/v1/code/search/vector",
            json={"query": "compute invoice total", "embedding_domain": "TEXT", "limit": 3},
        )
        assert code.status_code == 200, code.text
        assert code.json()["results"][0]["name"] == "compute_invoice_total"

    # And the app configured for the old size refuses to start, naming the setting.
    with pytest.raises(StartupError, match="EMBEDDING_DIMENSION=256"):
        async with serving(settings, scratch):
            pass


class FailingAfter:
    """An embedder that works for `calls` batches, then fails like a crashed run."""

    def __init__(self, inner, calls: int) -> None:
        self.inner = inner
        self.calls = calls

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        if self.calls <= 0:
            raise RuntimeError("simulated crash")
        self.calls -= 1
        return await self.inner.embed_documents(texts)


async def test_an_interrupted_switch_leaves_the_old_columns_and_resumes(
    db, scratch, settings, embedders, embedders_256
):
    old_vectors = await db.fetch("SELECT id, embedding::text FROM events ORDER BY id")
    failing = FailingAfter(embedders_256.text, calls=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        await switch(db, Embedders(text=failing, code=failing), settings, batch_size=3)  # type: ignore[arg-type]

    # The old columns are intact and the app as configured before still works.
    assert await db.fetch("SELECT id, embedding::text FROM events ORDER BY id") == old_vectors
    dims = await dimensions(db)
    assert {name: dims[name] for name in EXPECTED_COLUMNS} == dict.fromkeys(EXPECTED_COLUMNS, 384)
    assert dims["events.embedding_next"] == 256
    assert await db.fetchval("SELECT count(embedding_next) FROM events") == 6
    async with serving(settings, scratch, embedders) as client:
        found = await client.post("/v1/search", json={"query": "ERR-4312", "mode": "vector"})
        assert found.json()["data"][0]["content"]["text"].startswith("ERR-4312")

    result = await switch(db, embedders_256, settings, batch_size=3)
    assert result.resumed
    assert result.embedded_events == 2  # the six converted before the crash are kept
    assert await dimensions(db) == dict.fromkeys(EXPECTED_COLUMNS, 256)
    assert len((await ids(db))[0]) == 8


async def test_a_rerun_with_other_models_starts_over(db, settings, embedders_256):
    failing = FailingAfter(embedders_256.text, calls=1)
    with pytest.raises(RuntimeError):
        await switch(db, Embedders(text=failing, code=failing), settings, batch_size=3)  # type: ignore[arg-type]

    embedders_128 = build_embedders(settings.model_copy(update={"embedding_dimension": 128}))
    try:
        result = await switch(db, embedders_128, settings)
    finally:
        await embedders_128.aclose()
    assert not result.resumed and result.embedded_events == 8
    assert await dimensions(db) == dict.fromkeys(EXPECTED_COLUMNS, 128)


async def test_abandon_drops_the_new_columns(db, settings, embedders_256):
    failing = FailingAfter(embedders_256.text, calls=1)
    with pytest.raises(RuntimeError):
        await switch(db, Embedders(text=failing, code=failing), settings, batch_size=3)  # type: ignore[arg-type]
    dropped = await service.abandon(db)
    assert sorted(dropped) == sorted(f"{c.table}.{c.new_column}" for c in VECTOR_COLUMNS)
    assert await dimensions(db) == dict.fromkeys(EXPECTED_COLUMNS, 384)
    assert await service.abandon(db) == []


async def test_refuses_while_the_service_is_running(db, scratch, settings, embedders):
    async with serving(settings, scratch, embedders):
        with pytest.raises(service.SwitchError, match="stop it"):
            await service.ensure_service_stopped(db, grace_seconds=0.2)
    await service.ensure_service_stopped(db)  # stopped: no complaint


def test_the_command_switches_and_says_what_to_set(scratch):
    env = {**os.environ, "DATABASE_URL": scratch, "EMBEDDING_MODE": "mock", "LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "scripts.switch_model", "--mock", "--dimension", "256"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Switched 8 events" in done.stdout
    assert "EMBEDDING_DIMENSION=256" in done.stdout and "EMBEDDING_MODE=mock" in done.stdout

    again = subprocess.run(
        [sys.executable, "-m", "scripts.switch_model", "--dimension", "256"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2 and "--text-model is required" in again.stderr


async def test_a_busy_table_stops_the_switch_without_waiting_and_a_rerun_finishes(
    db, scratch, settings, embedders_256, monkeypatch
):
    monkeypatch.setattr(service, "LOCK_TIMEOUT_MS", 200)
    reader = await connect(scratch)
    try:
        # Another session in the middle of a transaction that read events: adding the new
        # columns would wait for it (and make every query wait behind), so the switch gives up.
        transaction = reader.transaction()
        await transaction.start()
        await reader.fetchval("SELECT count(*) FROM events")
        with pytest.raises(service.SwitchError, match="Could not lock"):
            await switch(db, embedders_256, settings)
        await transaction.rollback()
        assert set(await dimensions(db)) == EXPECTED_COLUMNS  # nothing added

        # Columns in place (an earlier run stopped), then a busy table at the swap.
        failing = FailingAfter(embedders_256.text, calls=1)
        with pytest.raises(RuntimeError):
            await switch(db, Embedders(text=failing, code=failing), settings)  # type: ignore[arg-type]
        transaction = reader.transaction()
        await transaction.start()
        await reader.fetchval("SELECT count(*) FROM events")
        with pytest.raises(service.SwitchError, match="Could not lock"):
            await switch(db, embedders_256, settings)
        await transaction.rollback()
    finally:
        await reader.close()
    dims = await dimensions(db)
    assert {name: dims[name] for name in EXPECTED_COLUMNS} == dict.fromkeys(EXPECTED_COLUMNS, 384)

    result = await switch(db, embedders_256, settings)
    assert result.resumed and result.embedded_events == 0  # all done before the swap failed
    assert await dimensions(db) == dict.fromkeys(EXPECTED_COLUMNS, 256)
