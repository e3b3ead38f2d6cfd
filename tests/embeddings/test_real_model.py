"""The packaged all-MiniLM-L6-v2, loaded once through build_embedders (offline, ~10 s)."""

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from api.core.config import DEFAULT_MODEL, Settings
from api.core.metrics import Metrics, create_metrics
from api.embeddings.factory import Embedders, build_embedders

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def metrics() -> Metrics:
    return create_metrics()


@pytest.fixture(scope="module")
async def embedders(metrics: Metrics) -> AsyncIterator[Embedders]:
    settings = Settings(
        _env_file=None,
        embedding_mode="real",
        embedding_model=DEFAULT_MODEL,
        code_embedding_model=DEFAULT_MODEL,
        embedding_dimension=384,
        embedding_device="cpu",
    )
    # As in the lifespan: the load blocks for seconds, so it runs in a thread.
    built = await asyncio.to_thread(build_embedders, settings, metrics)
    await built.start()
    yield built
    await built.aclose()


def test_one_model_for_text_and_code(embedders: Embedders) -> None:
    assert embedders.shared
    assert embedders.text.model_name == DEFAULT_MODEL
    assert embedders.text.dimension == 384


async def test_cat_is_closer_to_kitten_than_to_car(embedders: Embedders) -> None:
    cat, kitten, car = await asyncio.gather(
        embedders.text.embed_query("cat"),
        embedders.text.embed_query("kitten"),
        embedders.text.embed_query("car"),
    )
    for vector in (cat, kitten, car):
        assert vector.shape == (384,)
        assert vector.dtype == np.float32
        assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-4)
    assert float(cat @ kitten) > float(cat @ car)


async def test_documents_match_queries_for_a_model_without_prefixes(embedders: Embedders) -> None:
    documents = await embedders.code.embed_documents(["def add(a, b): return a + b", "cat"])
    assert documents.shape == (2, 384)
    query = await embedders.code.embed_query("cat")
    np.testing.assert_allclose(documents[1], query, atol=1e-5)


async def test_identical_queries_hit_the_cache(embedders: Embedders, metrics: Metrics) -> None:
    service = embedders.text
    before = service.stats()
    first = await service.embed_query("what did we decide about the billing migration?")
    second = await service.embed_query("what did we decide about the billing migration?")
    after = service.stats()
    np.testing.assert_array_equal(first, second)
    assert after["cache_misses"] - before["cache_misses"] == 1
    assert after["cache_hits"] - before["cache_hits"] == 1
    assert after["texts_encoded"] - before["texts_encoded"] == 1
    hits = metrics.registry.get_sample_value(
        "mnemolite_embedding_query_cache_total", {"model": DEFAULT_MODEL, "result": "hit"}
    )
    assert hits is not None and hits >= 1


async def test_concurrent_documents_are_batched(embedders: Embedders) -> None:
    service = embedders.text
    before = service.stats()
    texts = [f"event number {i} about the deployment" for i in range(16)]
    results = await asyncio.gather(*(service.embed_documents([t]) for t in texts))
    after = service.stats()
    assert after["batches"] - before["batches"] < len(texts)
    alone = await service.embed_documents(texts[:1])
    np.testing.assert_allclose(results[0], alone, atol=1e-5)
