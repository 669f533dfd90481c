"""Vector search of every kind against brute-force numpy top-k, on seeded clustered vectors."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from index.vectors import ANN_KINDS, FLAT, VectorIndex, build_vector_index, configure_search, index_kind, top_n

DIM = 32


def clustered(count: int, seed: int = 0, clusters: int = 40) -> np.ndarray:
    """Unit vectors around random centres (like sentence embeddings: clumped, not uniform)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIM)).astype(np.float32)
    vectors = centres[rng.integers(clusters, size=count)] + 0.35 * rng.standard_normal((count, DIM)).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ query
    return np.lexsort((np.arange(len(scores)), -scores))[:k].tolist()


@pytest.mark.parametrize("kind", [FLAT, *ANN_KINDS])
def test_every_kind_finds_the_exact_top_10_with_exact_scores(kind):
    both = clustered(6030)  # queries come from the same clusters as the data, as real questions do
    vectors, queries = both[:6000], both[6000:]
    search = VectorIndex(vectors, build_vector_index(vectors, kind, threads=1))
    assert search.kind == kind
    found = 0
    for query in queries:
        ids, scores = search.search(query, 10)
        expected = brute_force(vectors, query, 10)
        assert np.allclose(scores, vectors[ids] @ query, atol=1e-5)  # re-ranked: exact cosines
        assert list(scores) == sorted(scores, reverse=True)
        if kind == FLAT:
            assert ids.tolist() == expected
        found += len(set(ids.tolist()) & set(expected))
    assert found / (10 * len(queries)) >= 0.95


def test_brute_force_without_a_faiss_index_breaks_ties_by_position():
    vectors = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8]], dtype=np.float32)
    ids, scores = VectorIndex(vectors).search(np.array([1, 0], dtype=np.float32), 3)
    assert ids.tolist() == [0, 2, 3]
    assert scores.tolist() == pytest.approx([1.0, 1.0, 0.6])


def test_top_n_keeps_every_tie_at_the_cut_in_position_order():
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1], dtype=np.float32)
    ids, values = top_n(scores, 3)
    assert ids.tolist() == [1, 0, 2]
    assert values.tolist() == pytest.approx([0.9, 0.5, 0.5])


def test_asking_for_more_than_there_is_returns_all_and_empty_returns_nothing():
    vectors = clustered(5)
    ids, _ = VectorIndex(vectors, build_vector_index(vectors, FLAT)).search(vectors[0], 50)
    assert sorted(ids.tolist()) == [0, 1, 2, 3, 4]
    empty = VectorIndex(np.zeros((0, DIM), dtype=np.float32))
    assert len(empty.search(vectors[0], 10)[0]) == 0


def test_index_kind_is_flat_up_to_the_threshold_then_the_configured_kind():
    assert index_kind(50_000, 50_000, "ivf-pq") == FLAT
    assert index_kind(50_001, 50_000, "hnsw") == "hnsw"
    with pytest.raises(ValueError, match="ann_index must be one of"):
        index_kind(10, 5, "annoy")


@pytest.mark.parametrize("kind", ANN_KINDS)
def test_an_index_read_back_searches_as_before(kind, tmp_path):
    both = clustered(3001, seed=2)
    vectors, query = both[:3000], both[3000]
    index = build_vector_index(vectors, kind, threads=1)
    faiss.write_index(index, str(tmp_path / "v.faiss"))
    loaded = faiss.read_index(str(tmp_path / "v.faiss"))
    configure_search(loaded)
    assert (
        VectorIndex(vectors, loaded).search(query, 10)[0].tolist()
        == VectorIndex(vectors, index).search(query, 10)[0].tolist()
    )
