"""Dify wants scores in [0, 1]: the fused scores scaled by the largest score each fusion can give."""

from __future__ import annotations

import pytest

from qa.fuse import RRF_K, rrf, weighted
from qa.retrieve import DEFAULT_FUSION, FusionConfig
from ui.dify_api import relevance


def test_the_best_possible_weighted_score_is_one_and_the_worst_zero():
    weights = [DEFAULT_FUSION.dense_weight, DEFAULT_FUSION.lexical_weight, DEFAULT_FUSION.sentence_weight]
    # Chunk 7 is first in every list, chunk 9 last in every list.
    fused = weighted([[7, 8, 9]] * 3, [[0.9, 0.5, 0.1]] * 3, weights)
    assert relevance(fused[7], DEFAULT_FUSION) == 1.0
    assert relevance(fused[9], DEFAULT_FUSION) == 0.0
    assert 0.0 < relevance(fused[8], DEFAULT_FUSION) < 1.0


def test_rrf_scores_are_scaled_by_the_score_of_rank_one_everywhere():
    fusion = FusionConfig(method="rrf")
    weights = [fusion.dense_weight, fusion.lexical_weight, fusion.sentence_weight]
    fused = rrf([[1, 2]] * 3, weights)
    assert relevance(fused[1], fusion) == 1.0
    assert relevance(fused[2], fusion) == pytest.approx((RRF_K + 1) / (RRF_K + 2), abs=1e-4)


@pytest.mark.parametrize(("score", "expected"), [(-0.2, 0.0), (0.42, 0.42), (3.5, 1.0)])
def test_a_single_retrievers_score_is_clipped(score, expected):
    assert relevance(score, FusionConfig(method="dense")) == expected
