"""Fusion functions on hand-made candidate lists."""

from __future__ import annotations

import numpy as np
import pytest

from qa.fuse import RRF_K, min_max, rrf, top, weighted


def test_rrf_adds_weighted_reciprocal_ranks():
    fused = rrf([[1, 2, 3], [3, 1]], weights=[1.0, 0.5])
    assert fused[1] == pytest.approx(1 / (RRF_K + 1) + 0.5 / (RRF_K + 2))
    assert fused[2] == pytest.approx(1 / (RRF_K + 2))
    assert fused[3] == pytest.approx(1 / (RRF_K + 3) + 0.5 / (RRF_K + 1))
    assert [i for i, _ in top(fused, 3)] == [1, 3, 2]


def test_rrf_rejects_mismatched_weights():
    with pytest.raises(ValueError, match="weights"):
        rrf([[1], [2]], weights=[1.0])


def test_weighted_normalizes_each_list():
    fused = weighted([[10, 11], [11, 12]], [np.array([0.9, 0.7]), np.array([8.0, 2.0])], [1.0, 1.0])
    assert fused == pytest.approx({10: 1.0, 11: 1.0, 12: 0.0})


def test_min_max_of_constant_scores_is_ones():
    assert min_max(np.array([3.0, 3.0])).tolist() == [1.0, 1.0]
    assert min_max(np.array([])).size == 0


def test_top_breaks_ties_by_id():
    assert top({5: 1.0, 2: 1.0, 9: 0.5}, 2) == [(2, 1.0), (5, 1.0)]
