"""Pure logic of the events and search domains: embedding text, vectors, ids, v1 parameters."""

import base64
import json
import time

import numpy as np
import pytest

from api.core.errors import InvalidInput
from api.core.ids import uuid7
from api.embeddings.exceptions import InvalidEmbedding
from api.embeddings.texts import text_for_embedding
from api.embeddings.vectors import checked_vector
from api.memory.search.router import parse_vector_query

FIELDS = ("text", "body", "message", "content", "title")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"title": "T", "text": "main"}, "main"),
        ({"text": "  ", "body": "from body"}, "from body"),
        ({"message": "m", "title": "t"}, "m"),
        ({"role": "tool", "args": {"path": "a.py", "flags": ["x", 1]}}, "tool\na.py\nx"),
        ({"count": 3, "ok": True}, '{"count":3,"ok":true}'),
    ],
)
def test_text_for_embedding(content, expected):
    assert text_for_embedding(content, FIELDS) == expected


def test_text_fields_are_configurable():
    assert text_for_embedding({"text": "a", "summary": "b"}, ("summary",)) == "b"


def test_checked_vector():
    assert checked_vector([1.0, 0.0], 2).dtype == np.float32
    with pytest.raises(InvalidEmbedding, match="has 3 dimensions; .* 2-dimensional"):
        checked_vector([1.0, 2.0, 3.0], 2)
    with pytest.raises(InvalidEmbedding, match="float32"):
        checked_vector([1e39, 0.0], 2)
    with pytest.raises(InvalidEmbedding, match="all zeros"):
        checked_vector([0.0, 0.0], 2)


def test_uuid7_is_time_ordered_and_versioned():
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert first.version == 7 and second.version == 7
    assert first.variant == "specified in RFC 4122"
    assert first < second
    assert len({uuid7() for _ in range(1000)}) == 1000


def test_vector_query_forms():
    vector = [0.25, -1, 3]
    as_json = json.dumps(vector)
    assert parse_vector_query(as_json) == ([0.25, -1.0, 3.0], None)
    assert parse_vector_query(base64.b64encode(as_json.encode()).decode()) == (
        [0.25, -1.0, 3.0],
        None,
    )
    assert parse_vector_query("what did we decide") == (None, "what did we decide")
    assert parse_vector_query("") == (None, None)
    with pytest.raises(InvalidInput, match="numbers"):
        parse_vector_query("[true, 1]")
    with pytest.raises(InvalidInput, match="JSON array"):
        parse_vector_query("[1, 2")
