"""The evaluation harness's pure logic (scripts/eval/): no database, no model."""

import ast

from scripts.eval.bm25 import BM25
from scripts.eval.client import code_request
from scripts.eval.docstrings import function_units, strip_docstrings
from scripts.eval.known_items import sections, usable
from scripts.eval.locomo import conversation_set
from scripts.eval.sampling import balanced_sample
from scripts.eval.scoring import known_item, locomo, reciprocal_rank

SOURCE = '''
class Box:
    """A box of things."""

    @property
    def size(self):
        """Return how many things the box holds."""
        return 3

    def one(self): "Short docstring on the same line, a query too"


if True:
    def guarded():
        """Docstring inside an if block is removed too."""

        def inner():
            """The nested helper is part of its parent's chunk."""
        return inner
'''


def test_docstrings_go_and_their_sentences_become_queries():
    stripped, queries = strip_docstrings(SOURCE)
    ast.parse(stripped)  # still valid Python
    assert '"""' not in stripped and '"Short' not in stripped
    assert queries == {
        "Box.size": "Return how many things the box holds",
        "Box.one": "Short docstring on the same line, a query too",
        "guarded": "Docstring inside an if block is removed too",
        "guarded.inner": "The nested helper is part of its parent's chunk",
    }


def test_function_units_are_the_chunks_of_the_index():
    units = {unit.qualified_name: unit.source for unit in function_units(SOURCE)}
    assert set(units) == {"Box.size", "Box.one", "guarded"}  # inner is inside guarded's chunk
    assert units["Box.size"].lstrip().startswith("@property")


def test_bm25_ranks_the_document_with_the_rare_terms_first():
    index = BM25(
        [
            ("a", "open the file and read it"),
            ("b", "the socket reads the packet"),
            ("c", "the the the file"),
        ]
    )
    assert index.top("read a file")[0] == "a"
    assert index.top("packet socket") == ["b"]
    assert index.top("nothing matches") == []


def test_balanced_sample_is_deterministic_and_shares_fairly():
    groups = {"big": list(range(100)), "small": list(range(100, 103)), "empty": []}
    picked = balanced_sample(groups, 20)
    assert picked == balanced_sample(groups, 20)
    assert len(picked) == 20
    assert [x for x in picked if x >= 100] == [100, 101, 102]  # its whole share, the rest to big
    assert len(balanced_sample(groups, 1000)) == 103


def test_scores():
    assert reciprocal_rank(["x", "y", "a"], frozenset({"a"})) == 1 / 3
    assert known_item(["x"] * 10 + ["a"], frozenset({"a"})) == {"MRR@10": 0.0, "R@10": 0.0}
    ranked = ["D2:1", "D1:9", "D3:3", "D3:4", "D3:5", "D4:1"]
    scores = locomo(ranked, frozenset({"D4:1", "D1:2"}))
    assert scores == {"turn R@5": 0.0, "turn R@10": 1.0, "session R@5": 1.0, "session R@10": 1.0}


def test_man_page_sections_and_usable_queries():
    text = "OPEN(2)  header\nNAME\n   open - open a file\nDESCRIPTION\n   One.\n   Two.\n"
    assert sections(text) == {"NAME": ["open - open a file"], "DESCRIPTION": ["One.", "Two."]}
    assert usable("open and possibly create a file", "The open() system call opens it.")
    assert not usable("opens the file", "The call opens the file named.")  # a substring
    assert not usable("a file", "anything")  # too short


def test_locomo_conversation():
    sample = {
        "sample_id": "conv-x",
        "conversation": {
            "speaker_a": "Ann",
            "session_2_date_time": "1:56 pm on 8 May, 2023",
            "session_2": [{"speaker": "Ann", "dia_id": "D2:1", "text": "Hi"}],
            "session_1_date_time": "not a date",
            "session_1": [{"speaker": "Bob", "dia_id": "D1:1", "text": "Hello"}],
        },
        "qa": [
            {"question": "Who?", "evidence": ["D1:1; D2:1", "D9:9"], "category": 1},
            {"question": "Trick?", "evidence": ["D1:1"], "category": 5},
            {"question": "Lost?", "evidence": ["D7:1"], "category": 2},
        ],
    }
    events, queries, documents = conversation_set(sample)
    assert [e["content"]["text"] for e in events] == ["Bob: Hello", "Ann: Hi"]  # session order
    assert "timestamp" not in events[0] and events[1]["timestamp"] == "2023-05-08T13:56:01Z"
    assert {e["session_id"] for e in events} == {"locomo-conv-x"}
    assert [(q.text, q.answers) for q in queries] == [("Who?", frozenset({"D1:1", "D2:1"}))]
    assert documents == [("D1:1", "Bob: Hello"), ("D2:1", "Ann: Hi")]


def test_code_requests_follow_the_api():
    path, body = code_request("vector_code", "q", "repo")
    assert path == "/v1/code/search/vector" and body["embedding_domain"] == "CODE"
    assert code_request("hybrid", "q", "repo")[1]["top_k"] == 10
    assert code_request("lexical", "q", "repo") == (
        "/v1/code/search/lexical",
        {"query": "q", "filters": {"repository": "repo"}, "limit": 10},
    )
