"""Runs the evaluation sets through the API: load, then every method on every query.

For each set: load its documents (timed); compute the Python BM25 baseline over the same
documents; put every query's embeddings in the service's cache (one vector search per model),
so the latencies that follow are search, not model inference; then for each query run every
method in turn (interleaved, so the machine's drift weighs on all methods alike), timing each
request from the client. Shared by `make eval` and tests/eval/test_retrieval_floor.py.
"""

import logging
import time
from collections import defaultdict
from typing import Any

import httpx

from scripts.eval.bm25 import BM25
from scripts.eval.scoring import latency, means
from scripts.eval.sets import EvalSet

log = logging.getLogger("eval")
BASELINE = "bm25"


def baseline(eval_set: EvalSet) -> dict[str, float]:
    indexes = {scope: BM25(documents) for scope, documents in eval_set.documents.items()}
    return means(
        eval_set.score(indexes[query.scope].top(query.text), query.answers)
        for query in eval_set.queries
    )


async def evaluate(client: httpx.AsyncClient, eval_set: EvalSet) -> dict[str, Any]:
    """The set's scores and latencies per method, as one JSON-ready dict."""
    started = time.perf_counter()
    loaded = await eval_set.load(client)
    load_s = time.perf_counter() - started
    log.info("%s: loaded %s in %.0f s", eval_set.name, loaded, load_s)
    for query in eval_set.queries:
        await eval_set.warm(client, query)
    scores: dict[str, list[dict[str, float]]] = defaultdict(list)
    timings: dict[str, list[float]] = defaultdict(list)
    for query in eval_set.queries:
        for method in eval_set.methods:
            sent = time.perf_counter()
            ranked = await eval_set.search(client, method, query)
            timings[method].append((time.perf_counter() - sent) * 1000)
            scores[method].append(eval_set.score(ranked, query.answers))
    methods: dict[str, dict[str, float]] = {BASELINE: baseline(eval_set)}
    for method in eval_set.methods:
        methods[method] = {**means(scores[method]), **latency(timings[method])}
    log.info("%s: %d queries in %.0f s", eval_set.name, len(eval_set.queries), _since(started))
    return {
        "set": eval_set.kind,
        "split": eval_set.split,
        "sources": eval_set.sources,
        "queries": len(eval_set.queries),
        "documents": eval_set.document_count,
        "loaded": loaded,
        "load_s": round(load_s, 1),
        "total_s": round(_since(started), 1),
        "methods": methods,
    }


def _since(started: float) -> float:
    return time.perf_counter() - started
