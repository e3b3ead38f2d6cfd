"""Deterministic sampling with an equal share per source, so no large source dominates a set."""

import random
from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")
SEED = 14  # the issue that asked for this harness; fixed, so every run draws the same queries


def balanced_sample(groups: Mapping[str, Sequence[T]], total: int, seed: int = SEED) -> list[T]:
    """Up to `total` items, an equal share from each group (in the groups' given order); a group
    with fewer items than its share gives the rest to the others. Items keep their group order."""
    quotas = dict.fromkeys(groups, 0)
    left = total
    open_groups = [name for name in groups if groups[name]]
    while left > 0 and open_groups:
        share = max(1, left // len(open_groups))
        for name in list(open_groups):
            grant = min(share, len(groups[name]) - quotas[name], left)
            quotas[name] += grant
            left -= grant
            if quotas[name] == len(groups[name]):
                open_groups.remove(name)
            if left == 0:
                break
    picked: list[T] = []
    for name, items in groups.items():
        rng = random.Random(f"{seed}:{name}")
        chosen = sorted(rng.sample(range(len(items)), quotas[name]))
        picked.extend(items[index] for index in chosen)
    return picked
