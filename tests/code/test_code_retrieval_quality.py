"""Retrieval quality with the real model: hybrid must rank at least as well as each method alone.

The corpus is real code on this machine (modules of the Python standard library) with every
docstring removed; each query is the first sentence of a removed docstring, and the right
answer is the function it documented. The score is MRR@10.
"""

import sysconfig
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.main import create_app
from scripts.eval.docstrings import strip_docstrings

pytestmark = pytest.mark.real_model

MODULES = ("textwrap.py", "shlex.py", "fnmatch.py", "glob.py", "gettext.py", "calendar.py")


def corpus() -> tuple[list[dict[str, str]], dict[str, tuple[str, str]]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files, queries = [], {}
    for module in MODULES:
        source, found = strip_docstrings((stdlib / module).read_text())
        files.append({"path": f"stdlib/{module}", "content": source})
        for name, sentence in found.items():
            queries[sentence] = (f"stdlib/{module}", name)
    return files, queries


def reciprocal_rank(results: list[dict], answer: tuple[str, str]) -> float:
    for rank, hit in enumerate(results[:10], start=1):
        if (hit["file_path"], hit["qualified_name"]) == answer:
            return 1 / rank
    return 0.0


async def test_hybrid_mrr_is_at_least_each_method_alone(settings, real_embedders, database_url):
    files, queries = corpus()
    assert len(queries) >= 40, "the corpus should give a meaningful number of queries"
    real = settings.model_copy(update={"embedding_mode": "real"})
    app = create_app(real, embedders=real_embedders, database_url=database_url)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            indexed = await client.post(
                "/v1/code/index", json={"repository": "stdlib", "files": files}
            )
            assert indexed.status_code == 201, indexed.text
            scores: dict[str, list[float]] = {}
            for sentence, answer in queries.items():
                filters = {"repository": "stdlib"}
                requests = {
                    "lexical": ("lexical", {"query": sentence, "filters": filters}),
                    "vector_text": ("vector", {"query": sentence, "filters": filters}),
                    "vector_code": (
                        "vector",
                        {"query": sentence, "filters": filters, "embedding_domain": "CODE"},
                    ),
                    "hybrid": ("hybrid", {"query": sentence, "filters": filters}),
                }
                for method, (path, body) in requests.items():
                    response = await client.post(f"/v1/code/search/{path}", json=body)
                    assert response.status_code == 200, response.text
                    rr = reciprocal_rank(response.json()["results"], answer)
                    scores.setdefault(method, []).append(rr)
    mrr = {method: sum(values) / len(values) for method, values in scores.items()}
    print(f"MRR@10 over {len(queries)} queries: {mrr}")
    assert mrr["hybrid"] >= mrr["lexical"]
    assert mrr["hybrid"] >= mrr["vector_text"]
    assert mrr["hybrid"] >= mrr["vector_code"]
    assert mrr["hybrid"] > 0.2  # far above chance among hundreds of chunks
