"""The model switch is global: every tenant's rows are converted, even two rows sharing an id."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from api.core.database import init_connection, set_tenant
from api.core.migrations import head_revision, upgrade
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.embeddings.factory import Embedders, build_embedders
from api.ops.model_switch import service


@pytest.fixture
async def embedders_256(settings) -> AsyncIterator[Embedders]:
    built = build_embedders(settings.model_copy(update={"embedding_dimension": 256}))
    await built.start()
    yield built
    await built.aclose()


async def test_every_tenant_is_switched_even_with_a_shared_id(scratch_url, settings, embedders_256):
    upgrade(scratch_url)
    conn = await asyncpg.connect(scratch_url)
    await init_connection(conn)
    try:
        other = await conn.fetchval("INSERT INTO tenants (name) VALUES ('other') RETURNING id")
        shared = uuid.uuid4()
        # One export imported into two tenants gives two rows with one id, and texts may differ.
        for tenant, text in ((DEFAULT_TENANT_ID, "default's note"), (other, "other's note")):
            await set_tenant(conn, tenant)
            await conn.execute(
                "INSERT INTO events (id, content, embedding) VALUES "
                "($1, jsonb_build_object('text', $2::text), array_fill(0.5, ARRAY[384])::vector)",
                shared,
                text,
            )
        await set_tenant(conn, None, all_tenants=True)  # as scripts/switch_model.py does

        result = await service.switch_model(
            conn,
            embedders_256,
            head=head_revision(),
            text_fields=settings.embedding_text_fields,
            hnsw_m=settings.hnsw_m,
            hnsw_ef_construction=settings.hnsw_ef_construction,
        )
        assert (result.events, result.embedded_events, result.dimension) == (2, 2, 256)
        rows = await conn.fetch(
            "SELECT content->>'text' AS text, embedding FROM events ORDER BY tenant_id"
        )
        expected = await embedders_256.text.embed_documents([row["text"] for row in rows])
        for row, vector in zip(rows, expected, strict=True):
            stored = row["embedding"].to_list()
            assert len(stored) == 256
            assert stored == pytest.approx(list(vector), abs=1e-6)
    finally:
        await conn.close()
