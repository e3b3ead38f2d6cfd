"""Score fusion: each list scaled to [0, 1], then weighted and summed."""

import pytest

from api.core.vectors.fusion import score_fusion

EVEN = {"vector": 0.5, "lexical": 0.5}


def test_items_found_by_both_methods_rise_and_score_gaps_count():
    fused = score_fusion(
        {"vector": [("a", 0.9), ("b", 0.8), ("c", 0.5)], "lexical": [("c", 12.0), ("d", 2.0)]},
        weights=EVEN,
    )
    # a: 0.5 x 1; b: 0.5 x 0.75; c: 0.5 x 0 + 0.5 x 1; d: nothing from lexical's lowest
    assert [item.key for item in fused] == ["a", "c", "b", "d"]  # a and c tie: a seen first
    c = fused[1]
    assert c.ranks == {"vector": 3, "lexical": 1}
    assert c.parts == {"vector": 0.0, "lexical": 0.5}
    assert fused[2].score == pytest.approx(0.375)


def test_weights_and_ties_are_deterministic():
    fused = score_fusion({"vector": [("a", 0.3)], "lexical": [("b", 9.0)]}, weights=EVEN)
    assert [item.key for item in fused] == ["a", "b"]  # a lone candidate scales to 1
    weighted = score_fusion(
        {"vector": [("a", 0.3)], "lexical": [("b", 9.0)]}, weights={"vector": 1, "lexical": 2}
    )
    assert [item.key for item in weighted] == ["b", "a"]


def test_duplicates_in_one_list_count_once():
    fused = score_fusion({"vector": [("a", 1.0), ("a", 0.0), ("b", 0.0)]}, weights=EVEN)
    assert fused[0].ranks == {"vector": 1}
    assert fused[0].score == pytest.approx(0.5)


def test_empty_lists():
    assert score_fusion({"vector": [], "lexical": []}, weights=EVEN) == []
