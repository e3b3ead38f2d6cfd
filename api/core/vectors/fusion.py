"""Fusion of scored candidate lists into one ranking: pure logic, no database."""

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


@dataclass
class Fused(Generic[Key]):
    key: Key
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)  # 1-based rank in each list
    parts: dict[str, float] = field(default_factory=dict)  # each list's share of `score`


def score_fusion(
    lists: Mapping[str, Sequence[tuple[Key, float]]], *, weights: Mapping[str, float]
) -> list[Fused[Key]]:
    """Fuse lists of (key, score), higher scores better, best first in each list.

    Each list's scores are scaled to [0, 1] over its own candidates (min-max; a list whose
    scores are all equal gives each 1), and a key's fused score is the weighted sum of its
    scaled scores; a key missing from a list gets nothing from it. Unlike reciprocal rank
    fusion, how far apart two candidates score counts, not only their order: on the tuning
    splits of `make eval` this ranked better than every weighting of RRF tried
    (scripts/eval/fusion.py; figures in docs/benchmarks.md). A key repeated in one list counts
    at its first place. Ties keep the order of first appearance, so the result is
    deterministic.
    """
    fused: dict[Key, Fused[Key]] = {}
    for name, scored in lists.items():
        if not scored:
            continue
        weight = weights[name]
        low = min(score for _, score in scored)
        high = max(score for _, score in scored)
        for rank, (key, score) in enumerate(scored, start=1):
            entry = fused.setdefault(key, Fused(key))
            if name in entry.ranks:
                continue
            scaled = 1.0 if high == low else (score - low) / (high - low)
            entry.ranks[name] = rank
            entry.parts[name] = weight * scaled
            entry.score += weight * scaled
    order = {key: position for position, key in enumerate(fused)}
    return sorted(fused.values(), key=lambda item: (-item.score, order[item.key]))
