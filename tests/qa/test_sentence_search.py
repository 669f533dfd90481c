"""Sentence-level dense search: the same chunk list as scoring every sentence, at any index kind."""

from __future__ import annotations

import numpy as np

from index.local_store import LocalStore
from index.vectors import build_vector_index
from qa.retrieve import Retriever, best_chunk_scores
from tests.index.test_store_large import tiny_index


def every_sentence(data, query, n):
    """The former brute-force implementation: all sentences, best first, until n chunks."""
    scores = data.sentence_vectors @ query
    best = {}
    for sentence_id in np.lexsort((np.arange(len(scores)), -scores)):
        for chunk_id in data.chunks_containing(data.sentences[int(sentence_id)]):
            best.setdefault(chunk_id, float(scores[sentence_id]))
        if len(best) >= n:
            break
    return list(best.items())[:n]


def test_sentence_search_matches_scoring_every_sentence():
    data = tiny_index()
    retriever = Retriever(LocalStore(data), embedder=None)
    rng = np.random.default_rng(3)
    for _ in range(20):
        query = rng.standard_normal(8).astype(np.float32)
        query /= np.linalg.norm(query)
        for n in (1, 3, len(data.chunks)):
            ids, scores = retriever.sentence_dense(query, n)
            expected = every_sentence(data, query, n)
            assert ids.tolist() == [c for c, _ in expected]
            assert np.allclose(scores, [s for _, s in expected], atol=1e-6)


def test_an_approximate_sentence_index_is_re_ranked_to_exact_cosines():
    data = tiny_index()
    data.sentence_ann = build_vector_index(data.sentence_vectors, "hnsw", threads=1)
    query = data.sentence_vectors[2]
    ids, scores = Retriever(LocalStore(data), embedder=None).sentence_dense(query, 2)
    assert ids.tolist()[0] in data.chunks_containing(data.sentences[2])
    assert scores[0] == np.float32(1.0) or abs(scores[0] - 1.0) < 1e-5


def test_best_chunk_scores_keeps_the_first_score_of_each_chunk_and_stops_at_n():
    ranges = np.array([[0, 2], [1, 2], [3, 4], [4, 5]])
    best = best_chunk_scores(ranges[[1, 0, 2, 3]], np.array([0.9, 0.8, 0.7, 0.6]), n=3)
    assert best == {1: 0.9, 0: 0.8, 3: 0.7}
