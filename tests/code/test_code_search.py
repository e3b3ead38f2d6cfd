"""Code search through the API: lexical by identifier words, vector per model, hybrid fused."""

import httpx
import pytest

PROFILE_PY = '''\
def fetchUserProfile(user_id):
    """Load the profile of a user from the accounts service."""
    return accounts.get(user_id)


def send_invoice_email(invoice):
    # Retries failed SMTP deliveries with exponential backoff.
    for attempt in range(5):
        if smtp.send(invoice):
            return True
    return False
'''
CART_JS = """\
export function computeCartTotal(items) {
  return items.reduce((sum, item) => sum + item.price * item.quantity, 0);
}
"""
UTIL_GO = """\
package util

// ParseDuration reads a duration such as 5m.
func ParseDuration(s string) (int, error) { return 0, nil }

func normalizePath(p string) string { return p }
"""


async def index(client: httpx.AsyncClient, repo: str, files: dict[str, str]) -> None:
    body = {"repository": repo, "files": [{"path": p, "content": c} for p, c in files.items()]}
    response = await client.post("/v1/code/index", json=body)
    assert response.status_code == 201, response.text


@pytest.fixture
async def indexed(client):
    await index(client, "shop", {"app/profile.py": PROFILE_PY, "web/cart.js": CART_JS})
    await index(client, "tools", {"util/duration.go": UTIL_GO, "util/my_file.py": PROFILE_PY})
    return client


async def post(client: httpx.AsyncClient, path: str, body: dict) -> dict:
    response = await client.post(f"/v1/code/search/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def names(body: dict) -> list[str]:
    return [hit["qualified_name"] for hit in body["results"]]


async def test_lexical_finds_split_identifiers_and_comment_words(indexed):
    by_name = await post(
        indexed, "lexical", {"query": "user profile", "filters": {"repository": "shop"}}
    )
    assert names(by_name)[0] == "fetchUserProfile"
    by_comment = await post(
        indexed, "lexical", {"query": "retries smtp", "filters": {"repository": "shop"}}
    )
    assert names(by_comment)[0] == "send_invoice_email"
    by_camel = await post(indexed, "lexical", {"query": "cartTotal"})
    assert names(by_camel)[0] == "computeCartTotal"
    assert by_camel["total_results"] == len(by_camel["results"])
    hit = by_camel["results"][0]
    assert hit["file_path"] == "web/cart.js" and hit["language"] == "javascript"
    assert (hit["start_line"], hit["end_line"]) == (1, 3)
    assert hit["lexical_score"] > 0 and hit["rank"] == 1


async def test_lexical_matches_a_name_by_trigrams_when_no_word_matches(indexed):
    # "normalise" stems to "normalis", which no indexed word is; only name trigrams find it.
    body = await post(indexed, "lexical", {"query": "normalise"})
    assert names(body) == ["normalizePath"]


async def test_vector_search_in_each_domain(indexed):
    text = await post(
        indexed,
        "vector",
        {"query": "Load the profile of a user from the accounts service", "limit": 3},
    )
    assert names(text)[0] == "fetchUserProfile"
    assert 0 < text["results"][0]["vector_similarity"] <= 1
    code = await post(
        indexed,
        "vector",
        {"query": "items.reduce sum item.price item.quantity", "embedding_domain": "CODE"},
    )
    assert names(code)[0] == "computeCartTotal"


async def test_hybrid_fuses_three_lists_and_explains_each_result(indexed):
    body = await post(indexed, "hybrid", {"query": "user profile accounts", "top_k": 5})
    results = body["results"]
    assert results[0]["qualified_name"] == "fetchUserProfile"
    top = results[0]
    assert set(top["ranks"]) == {"lexical", "vector_text", "vector_code"}
    assert sum(top["contribution"].values()) == pytest.approx(1.0, abs=1e-3)
    assert "rrf_score" not in top
    scores = [hit["score"] for hit in results]
    assert scores == sorted(scores, reverse=True)
    assert [hit["rank"] for hit in results] == list(range(1, len(results) + 1))
    assert body["metadata"]["total_results"] == len(results)
    lexical_only = await post(indexed, "hybrid", {"query": "user profile", "enable_vector": False})
    assert all(set(hit["ranks"]) == {"lexical"} for hit in lexical_only["results"])


@pytest.mark.parametrize(
    ("filters", "expected_files"),
    [
        ({"repository": "tools"}, {"util/duration.go", "util/my_file.py"}),
        ({"language": "go"}, {"util/duration.go"}),
        ({"chunk_type": "function", "repository": "shop"}, {"app/profile.py", "web/cart.js"}),
        ({"file_path": "util/my_"}, {"util/my_file.py"}),
        ({"file_path": "util/my%"}, set()),  # LIKE wildcards in the prefix are literal
    ],
)
async def test_filters_apply_to_every_method(indexed, filters, expected_files):
    for path, body in (
        (
            "lexical",
            {"query": "user profile duration cart invoice", "filters": filters, "limit": 50},
        ),
        ("vector", {"query": "user profile duration cart", "filters": filters, "limit": 50}),
        ("hybrid", {"query": "user profile duration cart", "filters": filters, "top_k": 50}),
    ):
        found = {hit["file_path"] for hit in (await post(indexed, path, body))["results"]}
        if path == "lexical":
            assert found <= expected_files, path
        else:  # vector search returns every chunk that passes a selective filter
            assert found == expected_files, path


async def test_bad_requests(indexed):
    cases = [
        ("lexical", {"query": ""}),
        ("lexical", {"query": "x", "filters": {"owner": "me"}}),
        ("vector", {"limit": 5}),
        ("vector", {"embedding": [0.1, 0.2]}),
        ("vector", {"query": "x", "embedding_domain": "IMAGE"}),
        ("hybrid", {"query": "x", "enable_lexical": False, "enable_vector": False}),
        ("hybrid", {"query": "x", "top_k": 0}),
    ]
    for path, body in cases:
        response = await indexed.post(f"/v1/code/search/{path}", json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert {"error", "detail"} <= set(response.json())
