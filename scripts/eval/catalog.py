"""The sets `make eval` runs, in order, and the metrics each one reports."""

import logging
from collections.abc import Iterable
from pathlib import Path

from scripts.eval.code_sets import code_set
from scripts.eval.known_items import known_item_set
from scripts.eval.locomo import locomo_set
from scripts.eval.sets import EvalSet

log = logging.getLogger("eval")

KINDS = ("code", "known_item", "locomo")
SPLITS = ("tuning", "test")
METRICS = {
    "code": ("MRR@10", "R@10"),
    "known_item": ("MRR@10", "R@10"),
    "locomo": ("turn R@5", "turn R@10", "session R@5", "session R@10"),
}


def build_sets(*, small: bool, locomo_dir: Path, kinds: Iterable[str] = KINDS) -> list[EvalSet]:
    """Every set of `kinds`, both splits where there are two; sets whose data is missing are
    skipped (each says why in the log)."""
    sets: list[EvalSet | None] = []
    for kind in kinds:
        if kind == "code":
            sets += [code_set(split, small=small) for split in SPLITS]
        elif kind == "known_item":
            sets += [known_item_set(split, small=small) for split in SPLITS]
        elif kind == "locomo":
            sets.append(locomo_set(locomo_dir, small=small))
        else:
            raise ValueError(f"unknown set {kind!r} (one of {', '.join(KINDS)})")
    built = [eval_set for eval_set in sets if eval_set is not None]
    for eval_set in built:
        log.info(
            "%s: %d queries, %d documents",
            eval_set.name,
            len(eval_set.queries),
            eval_set.document_count,
        )
    return built
