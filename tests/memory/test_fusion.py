"""Reciprocal rank fusion."""

import pytest

from api.core.vectors.fusion import reciprocal_rank_fusion


def test_items_found_by_both_methods_rise():
    fused = reciprocal_rank_fusion({"vector": ["a", "b", "c"], "lexical": ["c", "d"]}, k=60)
    assert [item.key for item in fused] == ["c", "a", "b", "d"]  # b and d tie: b seen first
    top = fused[0]
    assert top.ranks == {"vector": 3, "lexical": 1}
    assert top.score == pytest.approx(1 / 63 + 1 / 61)


def test_weights_and_ties_are_deterministic():
    fused = reciprocal_rank_fusion({"vector": ["a"], "lexical": ["b"]}, k=10)
    assert [item.key for item in fused] == ["a", "b"]  # equal scores: first seen first
    weighted = reciprocal_rank_fusion(
        {"vector": ["a"], "lexical": ["b"]}, k=10, weights={"lexical": 2.0}
    )
    assert [item.key for item in weighted] == ["b", "a"]


def test_duplicates_in_one_list_count_once():
    fused = reciprocal_rank_fusion({"vector": ["a", "a", "b"]}, k=1)
    assert fused[0].ranks == {"vector": 1}
    assert fused[0].score == pytest.approx(1 / 2)


def test_empty_rankings():
    assert reciprocal_rank_fusion({"vector": [], "lexical": []}) == []
