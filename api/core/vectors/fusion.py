"""Reciprocal rank fusion: pure logic, no database."""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


@dataclass
class Fused(Generic[Key]):
    key: Key
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)


def reciprocal_rank_fusion(
    rankings: dict[str, Sequence[Key]],
    *,
    k: int = 60,
    weights: dict[str, float] | None = None,
) -> list[Fused[Key]]:
    """Fuse ranked lists: score(d) = sum over lists of weight / (k + rank of d), ranks from 1.

    Ties keep the order of first appearance, so the result is deterministic.
    """
    fused: dict[Key, Fused[Key]] = {}
    for name, keys in rankings.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, key in enumerate(keys, start=1):
            entry = fused.setdefault(key, Fused(key))
            if name in entry.ranks:
                continue
            entry.ranks[name] = rank
            entry.score += weight / (k + rank)
    order = {key: position for position, key in enumerate(fused)}
    return sorted(fused.values(), key=lambda item: (-item.score, order[item.key]))
