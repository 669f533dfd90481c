"""Fusion of dense and lexical candidate lists: pure functions on ids and scores.

Two methods, both measured on the dev set (README, "Retrieval"):
- ``rrf``: weighted reciprocal rank fusion, ``sum_i w_i / (RRF_K + rank_i)``;
- ``weighted``: weighted sum of min-max normalized scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The usual RRF constant (Cormack et al. 2009); small changes do not move the dev figures.
RRF_K = 60


def rrf(ranked_lists: Sequence[Sequence[int]], weights: Sequence[float], k: int = RRF_K) -> dict[int, float]:
    """Weighted reciprocal rank fusion.

    Args:
        ranked_lists: candidate ids per retriever, best first.
        weights: one weight per retriever.
        k: the rank offset.
    Returns:
        id → fused score (higher is better).
    """
    if len(ranked_lists) != len(weights):
        raise ValueError(f"{len(ranked_lists)} ranked lists but {len(weights)} weights")
    fused: dict[int, float] = {}
    for ids, weight in zip(ranked_lists, weights):
        for rank, item in enumerate(ids, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def min_max(scores: np.ndarray) -> np.ndarray:
    """Scale scores to [0, 1]; a constant list maps to ones."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    low, high = scores.min(), scores.max()
    if high - low < 1e-12:
        return np.ones_like(scores)
    return (scores - low) / (high - low)


def weighted(
    id_lists: Sequence[Sequence[int]], score_lists: Sequence[np.ndarray], weights: Sequence[float]
) -> dict[int, float]:
    """Weighted sum of min-max normalized scores; an id missing from a list scores 0 there.

    Returns:
        id → fused score (higher is better).
    """
    if not (len(id_lists) == len(score_lists) == len(weights)):
        raise ValueError("id_lists, score_lists and weights must have the same length")
    fused: dict[int, float] = {}
    for ids, scores, weight in zip(id_lists, score_lists, weights):
        for item, score in zip(ids, min_max(scores)):
            fused[item] = fused.get(item, 0.0) + weight * float(score)
    return fused


def top(fused: dict[int, float], k: int) -> list[tuple[int, float]]:
    """The k best (id, score) pairs, ties broken by id for stable output."""
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
