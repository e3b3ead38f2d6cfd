"""The asynchronous `Embedder`: micro-batching, a worker thread, and a query cache.

Callers put requests on a queue; one background task takes the first request, waits up to
`max_wait_ms` for more (stopping early at about `batch_size` texts), and encodes each kind (query,
document) in one model call on a dedicated thread. Batched encoding is ~4x faster per text than
one at a time, and the event loop never blocks on the model.

No request holds the model for long: queries go ahead of every document waiting, and a
document request of more than `batch_size` texts is queued as slices of `batch_size`, shortest
texts together (the order the model's own encode batches them in, so no slice pads short texts
to a long one's length). A search's query embedding then waits for at most one slice, not for
a whole batch write or a repository's chunks.

The worker starts on `start()`, or by itself on the first call (so a test can use a bare
service); it then belongs to that event loop. After `aclose()` every call raises `RuntimeError`.
"""

import asyncio
import functools
import itertools
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import structlog

from api.core.metrics import Metrics
from api.embeddings.protocol import Encoder, Matrix, TextKind, Vector

log = structlog.get_logger(__name__)


@dataclass
class _Request:
    texts: list[str]
    kind: TextKind
    future: "asyncio.Future[Matrix]" = field(repr=False)


# Queued first to last: queries, documents, then aclose()'s stop.
_PRIORITY = {"query": 0, "document": 1}
_STOP_PRIORITY = 2


class _Queue:
    """Requests by priority, first come first served within one (`seq` breaks ties, so two
    requests are never compared)."""

    def __init__(self) -> None:
        self._items: asyncio.PriorityQueue[tuple[int, int, _Request | None]] = (
            asyncio.PriorityQueue()
        )
        self._seq = itertools.count()

    def put(self, request: _Request | None) -> None:
        priority = _STOP_PRIORITY if request is None else _PRIORITY[request.kind]
        self._items.put_nowait((priority, next(self._seq), request))

    async def get(self) -> _Request | None:
        return (await self._items.get())[2]

    def get_nowait(self) -> _Request | None:
        return self._items.get_nowait()[2]

    def empty(self) -> bool:
        return self._items.empty()


class EmbeddingService:
    def __init__(
        self,
        encoder: Encoder,
        *,
        batch_size: int = 32,
        max_wait_ms: float = 2.0,
        cache_size: int = 1024,
        metrics: Metrics | None = None,
    ) -> None:
        self._encoder = encoder
        self._batch_size = max(1, batch_size)
        self._max_wait = max(0.0, max_wait_ms) / 1000
        self._cache_size = max(0, cache_size)
        self._metrics = metrics
        self._cache: OrderedDict[str, Vector] = OrderedDict()
        # One thread: the model is not made faster by concurrent calls, and torch threads itself.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding")
        self._queue: _Queue | None = None
        self._worker: asyncio.Task[None] | None = None
        self._queued_texts = 0
        self._closed = False
        self._stats = {"cache_hits": 0, "cache_misses": 0, "batches": 0, "texts_encoded": 0}
        # Expose 0 from the start: a series that appears only under load hides an idle model.
        self._track_queue(0)

    @property
    def model_name(self) -> str:
        return self._encoder.model_name

    @property
    def dimension(self) -> int:
        return self._encoder.dimension

    @property
    def encoder(self) -> Encoder:
        return self._encoder

    def stats(self) -> dict[str, int]:
        return {
            **self._stats,
            "cache_entries": len(self._cache),
            "queued_texts": self._queued_texts,
        }

    async def start(self) -> None:
        self._ensure_worker()

    async def aclose(self) -> None:
        """Finish the requests already queued, stop the worker, release the thread."""
        if self._closed:
            return
        self._closed = True
        if self._worker is not None and self._queue is not None:
            self._queue.put(None)
            await asyncio.gather(self._worker, return_exceptions=True)
        # The worker awaited its last encode, so the thread is idle: no need to block on it.
        self._executor.shutdown(wait=False)

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        if len(texts) <= self._batch_size:
            return await self._submit(list(texts), "document")
        # Slices of batch_size, shortest texts together, all queued at once (see above).
        by_length = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        slices = [
            by_length[start : start + self._batch_size]
            for start in range(0, len(by_length), self._batch_size)
        ]
        parts = await asyncio.gather(
            *(self._submit([texts[i] for i in part], "document") for part in slices)
        )
        matrix = np.empty((len(texts), self.dimension), dtype=np.float32)
        for part, vectors in zip(slices, parts, strict=True):
            matrix[part] = vectors
        return matrix

    async def embed_query(self, text: str) -> Vector:
        cached = self._cache_get(text)
        if cached is not None:
            return cached
        vector = (await self._submit([text], "query"))[0].copy()
        if self._cache_size:
            # The copy detaches the row from its batch matrix, which would otherwise stay alive.
            self._cache[text] = vector.copy()
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector

    def _cache_get(self, text: str) -> Vector | None:
        if not self._cache_size:
            return None
        vector = self._cache.get(text)
        result = "miss" if vector is None else "hit"
        self._stats["cache_misses" if vector is None else "cache_hits"] += 1
        if self._metrics is not None:
            self._metrics.embedding_cache.labels(model=self.model_name, result=result).inc()
        if vector is None:
            return None
        self._cache.move_to_end(text)
        return vector.copy()  # callers may modify their array; the cache must not change

    def _ensure_worker(self) -> _Queue:
        if self._closed:
            raise RuntimeError(f"EmbeddingService({self.model_name}) is closed")
        loop = asyncio.get_running_loop()
        if self._worker is None or self._queue is None:
            self._queue = _Queue()
            self._worker = loop.create_task(
                self._run(self._queue), name=f"embedding-{self.model_name}"
            )
        elif self._worker.get_loop() is not loop:
            raise RuntimeError("EmbeddingService is bound to another event loop")
        elif self._worker.done():
            raise RuntimeError(f"EmbeddingService({self.model_name}) worker has stopped")
        return self._queue

    async def _submit(self, texts: list[str], kind: TextKind) -> Matrix:
        queue = self._ensure_worker()
        future: asyncio.Future[Matrix] = asyncio.get_running_loop().create_future()
        queue.put(_Request(texts, kind, future))
        self._track_queue(len(texts))
        return await future

    def _track_queue(self, delta: int) -> None:
        self._queued_texts += delta
        if self._metrics is not None:
            self._metrics.embedding_queue_depth.labels(model=self.model_name).set(
                self._queued_texts
            )

    async def _run(self, queue: _Queue) -> None:
        stopping = False
        batch: list[_Request] = []
        try:
            while not stopping:
                first = await queue.get()
                if first is None:
                    break
                self._track_queue(-len(first.texts))
                batch = [first]
                stopping = await self._collect(queue, batch)
                try:
                    for kind in ("query", "document"):
                        group = [r for r in batch if r.kind == kind and not r.future.done()]
                        if group:
                            await self._encode_group(group, kind)
                except Exception as exc:  # a bug of ours, not the model's: keep serving
                    log.exception("embedding_worker_error", model=self.model_name)
                    _fail(batch, exc)
                batch = []
        finally:
            # Only reached with work left if the task was cancelled (e.g. the loop shut down).
            while not queue.empty():
                item = queue.get_nowait()
                if item is not None:
                    self._track_queue(-len(item.texts))
                    batch.append(item)
            _fail(batch, RuntimeError(f"EmbeddingService({self.model_name}) stopped"))

    async def _collect(self, queue: _Queue, batch: list[_Request]) -> bool:
        """Add requests to `batch` for up to max_wait, stopping at about batch_size texts.

        Returns True when aclose() asked the worker to stop after this batch.
        """
        count = sum(len(request.texts) for request in batch)
        deadline = asyncio.get_running_loop().time() + self._max_wait
        while count < self._batch_size:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        item = await queue.get()
                except TimeoutError:
                    break
            if item is None:  # aclose() was called: encode what we have, then stop
                return True
            self._track_queue(-len(item.texts))
            batch.append(item)
            count += len(item.texts)
        return False

    async def _encode_group(self, group: list[_Request], kind: TextKind) -> None:
        texts = [text for request in group for text in request.texts]
        loop = asyncio.get_running_loop()
        call = functools.partial(self._encode_timed, texts, kind)
        try:
            matrix, seconds = await loop.run_in_executor(self._executor, call)
        except Exception as exc:
            log.warning(
                "embedding_batch_failed", model=self.model_name, texts=len(texts), error=repr(exc)
            )
            _fail(group, exc)
            return
        self._stats["batches"] += 1
        self._stats["texts_encoded"] += len(texts)
        if self._metrics is not None:
            self._metrics.embedding_batch_size.labels(model=self.model_name).observe(len(texts))
            self._metrics.embedding_batch_seconds.labels(model=self.model_name).observe(seconds)
        offset = 0
        for request in group:
            end = offset + len(request.texts)
            if not request.future.done():
                request.future.set_result(matrix[offset:end])
            offset = end

    def _encode_timed(self, texts: list[str], kind: TextKind) -> tuple[Matrix, float]:
        """Runs on the worker thread."""
        started = time.perf_counter()
        matrix = np.asarray(self._encoder.encode(texts, kind=kind), dtype=np.float32)
        if matrix.shape != (len(texts), self.dimension):
            raise ValueError(
                f"encoder {self.model_name} returned shape {matrix.shape}, "
                f"expected ({len(texts)}, {self.dimension})"
            )
        return matrix, time.perf_counter() - started


def _fail(requests: list[_Request], exc: BaseException) -> None:
    for request in requests:
        if not request.future.done():
            request.future.set_exception(exc)
