"""EmbeddingService (micro-batching, cache, threading, errors) and build_embedders."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import numpy as np
import pytest

from api.core.config import Settings
from api.core.metrics import create_metrics
from api.embeddings import factory
from api.embeddings.exceptions import EmbeddingConfigError
from api.embeddings.factory import Embedders, build_embedders
from api.embeddings.mock import MockEncoder
from api.embeddings.protocol import Matrix, TextKind
from api.embeddings.service import EmbeddingService

DIM = 16


class CountingEncoder:
    """A MockEncoder that records every call (texts, kind, thread) and can be slow or fail."""

    def __init__(self, dimension: int = DIM, *, delay: float = 0.0, name: str = "counting") -> None:
        self._inner = MockEncoder(dimension, model_name=name)
        self.delay = delay
        self.fail_on: str | None = None
        self.calls: list[tuple[list[str], TextKind, int]] = []

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def encode(self, texts: Sequence[str], *, kind: TextKind) -> Matrix:
        self.calls.append((list(texts), kind, threading.get_ident()))
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError(f"model exploded on {self.fail_on!r}")
        return self._inner.encode(texts, kind=kind)


ServiceFactory = Callable[..., Awaitable[EmbeddingService]]


@pytest.fixture
async def make_service() -> AsyncIterator[ServiceFactory]:
    services: list[EmbeddingService] = []

    async def make(encoder: CountingEncoder, **options: object) -> EmbeddingService:
        kwargs: dict[str, object] = {"batch_size": 64, "max_wait_ms": 20, "cache_size": 8}
        kwargs.update(options)
        service = EmbeddingService(encoder, **kwargs)  # type: ignore[arg-type]
        await service.start()
        services.append(service)
        return service

    yield make
    for service in services:
        await service.aclose()


def _reference(texts: list[str], kind: TextKind = "document") -> Matrix:
    return MockEncoder(DIM, model_name="counting").encode(texts, kind=kind)


async def test_concurrent_callers_are_coalesced(make_service: ServiceFactory) -> None:
    encoder = CountingEncoder()
    service = await make_service(encoder, cache_size=0)
    queries = [f"query number {i}" for i in range(10)]
    documents = [[f"doc {i} a", f"doc {i} b"] for i in range(10)]

    results = await asyncio.gather(
        *(service.embed_query(q) for q in queries),
        *(service.embed_documents(d) for d in documents),
    )

    assert len(encoder.calls) < 20
    assert len(encoder.calls) <= 4  # one query batch and one document batch, give or take
    for texts, kind, _ in encoder.calls:
        expected = set(queries) if kind == "query" else {t for d in documents for t in d}
        assert set(texts) <= expected  # a model call never mixes queries and documents
    for query, vector in zip(queries, results[:10], strict=True):
        np.testing.assert_array_equal(vector, _reference([query], "query")[0])
    for docs, matrix in zip(documents, results[10:], strict=True):
        np.testing.assert_array_equal(matrix, _reference(docs))


async def test_batch_size_bounds_every_model_call_and_slices_a_large_request(
    make_service: ServiceFactory,
) -> None:
    encoder = CountingEncoder()
    service = await make_service(encoder, batch_size=4)
    await asyncio.gather(*(service.embed_documents([f"t{i}"]) for i in range(12)))
    assert all(len(texts) <= 4 for texts, _, _ in encoder.calls)
    assert len(encoder.calls) >= 3

    encoder.calls.clear()
    big = [f"text {'x' * (i % 7)} {i}" for i in range(30)]
    np.testing.assert_array_equal(await service.embed_documents(big), _reference(big))
    sizes = [len(texts) for texts, _, _ in encoder.calls]
    assert sizes == [4] * 7 + [2]
    # Shortest texts together: no slice holds a text shorter than one of an earlier slice.
    lengths = [[len(t) for t in texts] for texts, _, _ in encoder.calls]
    assert all(max(a) <= min(b) for a, b in zip(lengths, lengths[1:], strict=False))


async def test_a_query_waits_for_one_slice_not_for_a_whole_batch_write(
    make_service: ServiceFactory,
) -> None:
    encoder = CountingEncoder(delay=0.02)
    service = await make_service(encoder, batch_size=4, max_wait_ms=0, cache_size=0)
    write = asyncio.create_task(service.embed_documents([f"doc {i}" for i in range(40)]))
    await asyncio.sleep(0.03)  # the first slice is being encoded
    await service.embed_query("asked meanwhile")
    assert not write.done()
    kinds = [kind for _, kind, _ in encoder.calls]
    assert kinds.index("query") <= 2  # after the slice under way, before the nine waiting
    await write
    assert [kind for _, kind, _ in encoder.calls].count("document") == 10


async def test_encode_runs_off_the_event_loop(make_service: ServiceFactory) -> None:
    encoder = CountingEncoder(delay=0.2)
    service = await make_service(encoder, max_wait_ms=0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    await service.embed_documents(["slow"])
    ticking.cancel()
    assert encoder.calls[0][2] != threading.get_ident()
    assert ticks >= 5  # the loop kept running while the model "worked" for 200 ms


async def test_query_cache_hits_and_evicts_least_recently_used(
    make_service: ServiceFactory,
) -> None:
    encoder = CountingEncoder()
    metrics = create_metrics()
    service = await make_service(encoder, cache_size=2, metrics=metrics)

    first = await service.embed_query("alpha")
    again = await service.embed_query("alpha")
    np.testing.assert_array_equal(first, again)
    assert len(encoder.calls) == 1
    assert service.stats()["cache_hits"] == 1
    assert service.stats()["cache_misses"] == 1

    await service.embed_query("beta")
    await service.embed_query("alpha")  # alpha is now the most recent
    await service.embed_query("gamma")  # evicts beta
    assert service.stats()["cache_entries"] == 2
    calls = len(encoder.calls)
    await service.embed_query("alpha")
    assert len(encoder.calls) == calls
    await service.embed_query("beta")
    assert len(encoder.calls) == calls + 1

    sample = metrics.registry.get_sample_value
    labels = {"model": "counting"}
    assert sample("mnemolite_embedding_query_cache_total", {**labels, "result": "hit"}) == 3
    assert sample("mnemolite_embedding_query_cache_total", {**labels, "result": "miss"}) == 4


async def test_cached_vectors_cannot_be_corrupted_by_callers(make_service: ServiceFactory) -> None:
    service = await make_service(CountingEncoder())
    vector = await service.embed_query("alpha")
    expected = vector.copy()
    vector[:] = 0
    np.testing.assert_array_equal(await service.embed_query("alpha"), expected)


async def test_cache_size_zero_disables_the_cache(make_service: ServiceFactory) -> None:
    encoder = CountingEncoder()
    service = await make_service(encoder, cache_size=0, max_wait_ms=0)
    await service.embed_query("alpha")
    await service.embed_query("alpha")
    assert len(encoder.calls) == 2
    assert service.stats()["cache_entries"] == 0


async def test_encoder_error_reaches_every_caller_of_the_batch(
    make_service: ServiceFactory,
) -> None:
    encoder = CountingEncoder()
    encoder.fail_on = "boom"
    service = await make_service(encoder)

    results = await asyncio.gather(
        service.embed_documents(["fine"]),
        service.embed_documents(["boom"]),
        service.embed_documents(["also fine"]),
        return_exceptions=True,
    )
    assert len(encoder.calls) == 1
    assert all(isinstance(r, RuntimeError) and "exploded" in str(r) for r in results)

    encoder.fail_on = None
    np.testing.assert_array_equal(await service.embed_documents(["fine"]), _reference(["fine"]))


async def test_wrong_encoder_output_shape_is_an_error_not_a_bad_slice(
    make_service: ServiceFactory,
) -> None:
    encoder = CountingEncoder()
    encoder.encode = lambda texts, *, kind: np.zeros((1, DIM), np.float32)  # type: ignore[method-assign]
    service = await make_service(encoder)
    with pytest.raises(ValueError, match="shape"):
        await service.embed_documents(["a", "b"])


async def test_empty_documents_skip_the_model(make_service: ServiceFactory) -> None:
    encoder = CountingEncoder()
    service = await make_service(encoder)
    out = await service.embed_documents([])
    assert out.shape == (0, DIM)
    assert out.dtype == np.float32
    assert encoder.calls == []


async def test_metrics_record_batches_and_drain_the_queue(make_service: ServiceFactory) -> None:
    metrics = create_metrics()
    service = await make_service(CountingEncoder(), metrics=metrics)
    await asyncio.gather(*(service.embed_documents([f"d{i}"]) for i in range(5)))
    sample = metrics.registry.get_sample_value
    labels = {"model": "counting"}
    assert sample("mnemolite_embedding_batch_size_sum", labels) == 5
    assert (sample("mnemolite_embedding_batch_duration_seconds_count", labels) or 0) >= 1
    assert sample("mnemolite_embedding_queue_depth", labels) == 0
    assert service.stats()["texts_encoded"] == 5


async def test_auto_start_and_closed_service() -> None:
    service = EmbeddingService(CountingEncoder(), batch_size=8, max_wait_ms=1, cache_size=4)
    assert (await service.embed_documents(["works without start()"])).shape == (1, DIM)
    await service.start()  # idempotent: the lifespan may start embedders a test already started
    assert (await service.embed_documents(["still one worker"])).shape == (1, DIM)
    await service.aclose()
    await service.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await service.embed_documents(["too late"])


async def test_aclose_finishes_requests_already_queued() -> None:
    encoder = CountingEncoder(delay=0.05)
    service = EmbeddingService(encoder, batch_size=1, max_wait_ms=0, cache_size=0)
    pending = [asyncio.create_task(service.embed_documents([f"d{i}"])) for i in range(3)]
    await asyncio.sleep(0)
    await service.aclose()
    assert [task.result().shape for task in pending] == [(1, DIM)] * 3


def _settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"embedding_mode": "mock", "embedding_dimension": DIM}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


async def test_build_mock_embedders_share_one_service() -> None:
    embedders = build_embedders(_settings(), create_metrics())
    assert embedders.shared
    assert embedders.text.dimension == DIM
    await embedders.start()
    vector = await embedders.code.embed_query("hello")
    assert vector.shape == (DIM,)
    await embedders.aclose()


def test_encoder_override_dimension_is_checked() -> None:
    embedders = build_embedders(_settings(), encoder_override=CountingEncoder())
    assert embedders.text.encoder.model_name == "counting"
    with pytest.raises(EmbeddingConfigError, match="EMBEDDING_DIMENSION"):
        build_embedders(_settings(), encoder_override=CountingEncoder(dimension=DIM + 1))


@pytest.fixture
def fake_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the real model load: any name loads a CountingEncoder of the given dimensions."""
    loads: list[str] = []
    dims = {"acme/text": DIM, "acme/code": DIM, "acme/wide": DIM * 2}

    def load(model_name: str, **_: object) -> CountingEncoder:
        loads.append(model_name)
        if model_name not in dims:
            raise OSError(f"{model_name} is not in the local cache")
        return CountingEncoder(dims[model_name], name=model_name)

    monkeypatch.setattr(factory.SentenceTransformerEncoder, "load", load)
    return loads


def test_real_mode_loads_a_shared_model_once(fake_loads: list[str]) -> None:
    settings = _settings(
        embedding_mode="real", embedding_model="acme/text", code_embedding_model="acme/text"
    )
    embedders = build_embedders(settings)
    assert fake_loads == ["acme/text"]
    assert embedders.text is embedders.code


def test_real_mode_with_two_models(fake_loads: list[str]) -> None:
    settings = _settings(
        embedding_mode="real", embedding_model="acme/text", code_embedding_model="acme/code"
    )
    embedders = build_embedders(settings)
    assert fake_loads == ["acme/text", "acme/code"]
    assert isinstance(embedders, Embedders)
    assert not embedders.shared
    assert embedders.code.model_name == "acme/code"


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("acme/wide", "acme/text", "EMBEDDING_MODEL"),
        ("acme/text", "acme/wide", "CODE_EMBEDDING_MODEL"),
        ("acme/text", "acme/missing", "CODE_EMBEDDING_MODEL"),
        # Known 768-d profile against 384: refused before any load.
        ("nomic-ai/nomic-embed-text-v1.5", "acme/text", "EMBEDDING_DIMENSION=768"),
    ],
)
def test_real_mode_configuration_errors_name_the_setting(
    fake_loads: list[str], text: str, code: str, message: str
) -> None:
    settings = _settings(
        embedding_mode="real",
        embedding_model=text,
        code_embedding_model=code,
        embedding_dimension=DIM if "nomic" not in text else 384,
    )
    with pytest.raises(EmbeddingConfigError, match=message):
        build_embedders(settings)
    if "nomic" in text:
        assert fake_loads == []
