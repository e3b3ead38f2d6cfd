"""Retrieval quality as a tested property: the small evaluation sets of `make eval`.

The sets of `python -m scripts.eval --small` (scripts/eval/): one installed package per code
split (docstrings removed, each docstring's first sentence the query), 200 man pages per
known-item split, and LoCoMo's conversation conv-30 when the dataset is on the machine (the man
pages and LoCoMo are skipped, with a message, where they are missing). They run through the HTTP
API of an in-process app with the packaged model, on the test database.

Two properties: no method drops more than MARGIN below the figure recorded for it, and hybrid
search ranks at least as well as the best single method.
"""

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.main import create_app
from scripts.eval.catalog import build_sets
from scripts.eval.harness import BASELINE, evaluate
from scripts.eval.locomo import DEFAULT_DIR

pytestmark = pytest.mark.real_model

MARGIN = 0.03
# Measured on the small sets by `python -m scripts.eval --small` (this test measures the same
# code and LoCoMo figures): vector search as before issue 14 (2026-12-02), lexical and hybrid
# with BM25 and score fusion (2026-12-02, 22:52 UTC). Raise them when the ranking improves;
# lowering one needs a reason.
RECORDED: dict[tuple[str, str], dict[str, float]] = {
    ("code/tuning", "MRR@10"): {
        "lexical": 0.556,
        "vector": 0.552,
        "vector_code": 0.580,
        "hybrid": 0.650,
    },
    ("code/test", "MRR@10"): {
        "lexical": 0.779,
        "vector": 0.673,
        "vector_code": 0.628,
        "hybrid": 0.760,
    },
    ("known_item/tuning", "MRR@10"): {"lexical": 0.849, "vector": 0.838, "hybrid": 0.935},
    ("known_item/test", "MRR@10"): {"lexical": 0.881, "vector": 0.899, "hybrid": 0.908},
    ("locomo/tuning", "turn R@10"): {"lexical": 0.716, "vector": 0.506, "hybrid": 0.704},
    ("locomo/tuning", "session R@10"): {"lexical": 0.938, "vector": 0.840, "hybrid": 0.963},
}


@pytest.fixture(scope="module")
async def results(settings, real_embedders, database_url) -> dict[str, dict]:
    sets = build_sets(small=True, locomo_dir=DEFAULT_DIR)
    real = settings.model_copy(update={"embedding_mode": "real"})
    app = create_app(real, embedders=real_embedders, database_url=database_url)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            found = {eval_set.name: await evaluate(client, eval_set) for eval_set in sets}
    for name, result in found.items():
        print(name, result["methods"])  # the figures to record, with -s
    return found


def test_no_method_below_its_recorded_figure(results):
    assert {"code/tuning", "code/test"} <= set(results), "the code sets always exist"
    drops = []
    for (name, metric), figures in RECORDED.items():
        if name not in results:
            continue  # its data is not on this machine
        for method, recorded in figures.items():
            measured = results[name]["methods"][method][metric]
            if measured < recorded - MARGIN:
                drops.append(f"{name} {method} {metric}: {measured:.3f} < {recorded:.3f}")
    assert not drops, drops


# Not yet true, which this marker records: with BM25 and score fusion hybrid leads on four of
# the six figures, but on code/test (one package, requests) it is 0.760 against lexical's 0.779
# and on LoCoMo's conv-30 turn R@10 0.704 against lexical's 0.716. Strict, so the test fails
# once the ranking makes it pass: remove the marker then, and the property is guarded.
@pytest.mark.xfail(strict=True, reason="issue 14: hybrid is below lexical search on two sets")
def test_hybrid_ranks_at_least_as_well_as_the_best_single_method(results):
    behind = []
    for (name, metric), _ in RECORDED.items():
        if name not in results:
            continue
        methods = results[name]["methods"]
        singles = {m: row[metric] for m, row in methods.items() if m not in (BASELINE, "hybrid")}
        best = max(singles, key=singles.__getitem__)
        if methods["hybrid"][metric] < singles[best]:
            behind.append(
                f"{name} {metric}: hybrid {methods['hybrid'][metric]:.3f} < {best} "
                f"{singles[best]:.3f}"
            )
    assert not behind, behind
