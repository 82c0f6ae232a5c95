"""Rank and score fusion on small hand-made rankings."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge_base.retrieval.fusion import dense_spread, reciprocal_rank_fusion, weighted_fusion


def ids(fused: list[tuple[str, float]]) -> list[str]:
    return [item for item, _ in fused]


# -- reciprocal rank fusion ---------------------------------------------------------------------
def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], [1.0, 2.0], k=10))
    assert fused["a"] == pytest.approx(1 / 11 + 2 / 12)
    assert fused["b"] == pytest.approx(1 / 12)  # missing from the second list: nothing from it
    assert fused["c"] == pytest.approx(1 / 13 + 2 / 11)
    assert ids(reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], [1.0, 2.0], k=10)) == ["c", "a", "b"]


def test_rrf_weights_decide_between_disagreeing_lists() -> None:
    rankings = [["a", "b"], ["b", "a"]]
    assert ids(reciprocal_rank_fusion(rankings, [1.0, 0.5])) == ["a", "b"]
    assert ids(reciprocal_rank_fusion(rankings, [0.5, 1.0])) == ["b", "a"]
    assert ids(reciprocal_rank_fusion(rankings, [1.0, 0.0])) == ["a", "b"]


def test_rrf_ties_keep_first_appearance() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]])  # default weights: 1 each
    assert ids(fused) == ["a", "b"] and fused[0][1] == pytest.approx(fused[1][1])
    fused = reciprocal_rank_fusion([["x"], ["y"]], [1.0, 1.0])
    assert ids(fused) == ["x", "y"]


def test_rrf_counts_a_repeated_item_once_at_its_best_rank() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "a"]], [1.0], k=1))
    assert fused == pytest.approx({"a": 1 / 2, "b": 1 / 3})


def test_rrf_empty_and_invalid_input() -> None:
    assert reciprocal_rank_fusion([], []) == []
    assert reciprocal_rank_fusion([[], []], [1.0, 1.0]) == []
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([["a"]], [1.0, 1.0])
    with pytest.raises(ValueError, match="negative"):
        reciprocal_rank_fusion([["a"]], [-1.0])
    with pytest.raises(ValueError, match="k"):
        reciprocal_rank_fusion([["a"]], [1.0], k=0)


# -- weighted score fusion ----------------------------------------------------------------------
def test_weighted_fusion_adds_max_normalised_bm25() -> None:
    fused = dict(weighted_fusion({"a": 0.80, "b": 0.78}, {"b": 12.0, "c": 6.0}, weight=0.1))
    assert fused["a"] == pytest.approx(0.80)  # BM25 did not find it
    assert fused["b"] == pytest.approx(0.78 + 0.1 * 1.0)
    assert fused["c"] == pytest.approx(0.78 + 0.1 * 0.5)  # only BM25 found it: the dense floor


def test_weighted_fusion_order_and_scale_invariance() -> None:
    dense = {"a": 0.80, "b": 0.78, "d": 0.50}
    lexical = {"b": 12.0, "c": 6.0}
    assert ids(weighted_fusion(dense, lexical, 0.1)) == ["b", "a", "c", "d"]  # c: 0.50 + 0.05
    assert ids(weighted_fusion(dense, lexical, 0.8)) == ["b", "c", "a", "d"]  # c: 0.50 + 0.4
    scaled = {k: v * 37 for k, v in lexical.items()}  # BM25's scale depends on the query
    assert dict(weighted_fusion(dense, scaled, 0.1)) == pytest.approx(dict(weighted_fusion(dense, lexical, 0.1)))
    assert ids(weighted_fusion(dense, lexical, 0.0)) == ["a", "b", "d", "c"]  # c ties d at the floor


def test_weighted_fusion_ties_keep_dense_then_lexical_order() -> None:
    assert ids(weighted_fusion({"b": 0.5, "a": 0.5}, {}, 0.2)) == ["b", "a"]
    assert ids(weighted_fusion({}, {"y": 1.0, "x": 1.0}, 0.2)) == ["y", "x"]


def test_weighted_fusion_empty_and_invalid_input() -> None:
    assert weighted_fusion({}, {}, 0.1) == []
    assert weighted_fusion({"a": 0.3}, {}, 0.1) == [("a", 0.3)]
    fused = weighted_fusion({}, {"x": 4.0, "y": 2.0}, 0.1)  # no dense scores: the floor is 0
    assert ids(fused) == ["x", "y"] and dict(fused) == pytest.approx({"x": 0.1, "y": 0.05})
    with pytest.raises(ValueError, match="negative"):
        weighted_fusion({"a": 0.3}, {"a": 1.0}, -0.1)


# -- dense spread ---------------------------------------------------------------------------------
def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_dense_spread_is_the_median_gap_between_best_and_rank_th_entry() -> None:
    vectors = np.stack([unit(1, 0), unit(1, 0.2), unit(0, 1), unit(0.2, 1)])
    entries = ["a", "a", "b", "b"]
    # Each phrasing's best entry is its own (its sibling), the second the other entry.
    gaps = [unit(1, 0) @ unit(1, 0.2) - unit(1, 0) @ unit(0.2, 1),
            unit(1, 0.2) @ unit(1, 0) - unit(1, 0.2) @ unit(0.2, 1)]
    assert dense_spread(vectors, entries, rank=2) == pytest.approx(float(np.median(gaps * 2)), abs=1e-6)
    order = [3, 0, 2, 1]  # input order does not matter
    assert dense_spread(vectors[order], [entries[i] for i in order], rank=2) == pytest.approx(
        dense_spread(vectors, entries, rank=2))


def test_dense_spread_degenerate_inputs() -> None:
    assert dense_spread(np.zeros((0, 4)), []) == 0.0
    assert dense_spread(np.stack([unit(1, 0), unit(0, 1)]), ["a", "a"]) == 0.0  # one entry
    with pytest.raises(ValueError, match="entry ids"):
        dense_spread(np.stack([unit(1, 0)]), ["a", "b"])
