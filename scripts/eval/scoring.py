"""Ranking metrics of the evaluation sets, from a ranked list of answer keys.

A ranked list holds one key per result, in the order returned (a function split into several
chunks may appear more than once: the first appearance counts, at its rank as returned).
"""

from collections.abc import Iterable, Sequence

import numpy as np

K = 10


def reciprocal_rank(ranked: Sequence[str], answers: frozenset[str], k: int = K) -> float:
    for rank, key in enumerate(ranked[:k], start=1):
        if key in answers:
            return 1 / rank
    return 0.0


def hit(ranked: Sequence[str], answers: frozenset[str], k: int) -> float:
    """1 when any answer is in the top k (recall@k of a question, as LoCoMo's peers count it)."""
    return 1.0 if answers.intersection(ranked[:k]) else 0.0


def known_item(ranked: Sequence[str], answers: frozenset[str]) -> dict[str, float]:
    """MRR@10 and recall@10 (one right answer: recall@10 is whether it is in the top 10)."""
    return {"MRR@10": reciprocal_rank(ranked, answers), "R@10": hit(ranked, answers, K)}


def session_of(dia_id: str) -> str:
    """LoCoMo's `D3:5` (session 3, turn 5) belongs to session `D3`."""
    return dia_id.split(":", 1)[0]


def locomo(ranked: Sequence[str], answers: frozenset[str]) -> dict[str, float]:
    """Turn-level and session-level recall at 5 and 10 (the README of the dataset's folder)."""
    sessions = [session_of(key) for key in ranked]
    evidence_sessions = frozenset(session_of(key) for key in answers)
    return {
        "turn R@5": hit(ranked, answers, 5),
        "turn R@10": hit(ranked, answers, 10),
        "session R@5": hit(sessions, evidence_sessions, 5),
        "session R@10": hit(sessions, evidence_sessions, 10),
    }


def means(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the queries, rounded for reports."""
    rows = list(rows)
    if not rows:
        return {}
    return {name: round(float(np.mean([row[name] for row in rows])), 4) for name in rows[0]}


def latency(milliseconds: Sequence[float]) -> dict[str, float]:
    if not milliseconds:
        return {}
    return {
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 1),
        "p95_ms": round(float(np.percentile(milliseconds, 95)), 1),
    }
