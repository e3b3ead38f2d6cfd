"""The limits on stored JSON (api/core/json_limits.py): one walk for writers, one check for
readers."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.core.json_limits import (
    MAX_JSON_DEPTH,
    MAX_JSON_VALUES,
    JsonLimitError,
    check_storable,
    json_depth,
    load_stored,
)

# Strings full of what a bracket count could trip on: brackets, quotes, backslashes, escapes.
TRICKY = st.text(alphabet='{}[]"\\/:,abc\n\t\u00e9\u20ac', max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TRICKY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY, inner, max_size=4),
    max_leaves=40,
)


def chain(depth: int, leaf: object = 1) -> object:
    value = leaf
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


def reference_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=JSON)
def test_the_depth_is_counted_right(value):
    assert json_depth(value) == reference_depth(value)
    for stop in range(4):
        assert json_depth(value, stop_above=stop) == min(reference_depth(value), stop + 1)


@settings(max_examples=100, deadline=None)
@given(value=JSON, extra=st.integers(0, MAX_JSON_DEPTH + 3))
def test_a_stored_value_is_read_back_iff_within_the_limit(value, extra):
    wrapped = chain(extra, value)
    text = json.dumps(wrapped)
    if reference_depth(wrapped) <= MAX_JSON_DEPTH:
        assert load_stored(text) == wrapped
    else:
        with pytest.raises(JsonLimitError, match="MAX_JSON_DEPTH"):
            load_stored(text)


@pytest.mark.parametrize("depth", [1, 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_values_up_to_the_limit_are_storable_and_readable(depth):
    value = {"top": chain(depth - 1)}
    assert json_depth(value) == depth
    assert check_storable(value) is value
    assert load_stored(json.dumps(value)) == value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 256, 1_000, 100_000])
def test_deeper_values_are_refused_by_writers_and_readers(depth):
    text = "[" * depth + "]" * depth
    with pytest.raises(JsonLimitError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        load_stored(text)
    if depth < 900:  # what Python's parser can build
        with pytest.raises(JsonLimitError, match="MAX_JSON_DEPTH"):
            check_storable(json.loads(text))


def test_a_deep_value_built_in_python_is_refused_without_recursion():
    value: list = []
    for _ in range(200_000):
        value = [value]
    with pytest.raises(JsonLimitError, match="MAX_JSON_DEPTH"):
        check_storable(value)


def test_brackets_inside_strings_do_not_count():
    value = {"text": "[" * 500 + "{" * 500, "quoted": '\\"[[[' * 100}
    assert load_stored(json.dumps(value)) == value


def test_the_number_of_values_is_bounded():
    assert check_storable({f"k{i}": i for i in range(MAX_JSON_VALUES - 1)})
    with pytest.raises(JsonLimitError, match="MAX_JSON_VALUES"):
        check_storable({f"k{i}": i for i in range(MAX_JSON_VALUES)})
    with pytest.raises(JsonLimitError, match="MAX_JSON_VALUES"):
        check_storable({"a": [[0] * 1000 for _ in range(MAX_JSON_VALUES // 1000)]})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused_at_any_depth(bad):
    for value in ({"n": bad}, {"a": [{"b": [1, bad]}]}):
        with pytest.raises(JsonLimitError, match="finite"):
            check_storable(value)


@pytest.mark.parametrize("value", [{"\ud800": 1}, {"a": ["x\udfff"]}])
def test_lone_surrogates_are_refused_in_keys_and_strings(value):
    with pytest.raises(JsonLimitError, match="surrogate"):
        check_storable(value)


def test_a_number_python_cannot_read_back_is_reported():
    with pytest.raises(JsonLimitError, match="not readable as JSON"):
        load_stored('{"n": ' + "9" * 5000 + "}")
