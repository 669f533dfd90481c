"""Hybrid retrieval: dense and lexical (BM25) candidates from the store, fused into top-k Hits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.embed import Embedder
from index.stores import Store
from qa import fuse
from qa.query import topic_words
from qa.types import Hit

# Each retriever contributes this many candidates to the fusion.
CANDIDATES = 50
# Sentences searched per chunk wanted: a chunk holds ≈ 7.5 sentences on the real corpus and
# the best ones cluster in few chunks; 4 fills 50 chunks in one search for every dev question.
SENTENCES_PER_CHUNK = 4


@dataclass(frozen=True)
class FusionConfig:
    """How dense and lexical lists are combined (chosen on the dev set, README "Retrieval")."""

    method: str = "weighted"  # "rrf" | "weighted" | "dense" | "sentence" | "lexical"
    dense_weight: float = 0.3
    lexical_weight: float = 1.0
    # Chunks ranked by their best-matching sentence (sentence vectors are in the index anyway):
    # the strongest single signal on the dev set, far ahead of whole-chunk vectors.
    sentence_weight: float = 1.5


DEFAULT_FUSION = FusionConfig()


class Retriever:
    """Searches one store (index.stores) with one embedding model."""

    def __init__(self, store: Store, embedder: Embedder, fusion: FusionConfig = DEFAULT_FUSION) -> None:
        self.store = store
        self.embedder = embedder
        self.fusion = fusion

    def dense(self, query_vector: np.ndarray, n: int = CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (chunk ids, cosine scores) by vector similarity."""
        return self.store.search_chunks(query_vector, n)

    def sentence_dense(self, query_vector: np.ndarray, n: int = CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (chunk ids, cosine of the chunk's best sentence).

        Sentences are searched best first, ``SENTENCES_PER_CHUNK`` per wanted chunk, more if
        their chunks repeat; each chunk scores as its best sentence. With exact search this
        is the same list as scoring every sentence.
        """
        wanted = min(self.store.manifest.sentence_count, n * SENTENCES_PER_CHUNK)
        _, scores, ranges = self.store.search_sentences(query_vector, wanted)
        return self._chunks_of_sentences(query_vector, n, wanted, scores, ranges)

    def _chunks_of_sentences(
        self, query_vector: np.ndarray, n: int, wanted: int, scores: np.ndarray, ranges: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The first n chunks of found sentences; more sentences are searched while too few chunks come out."""
        total = self.store.manifest.sentence_count
        while True:
            best = best_chunk_scores(ranges, scores, n)
            if len(best) >= n or wanted >= total:
                break
            wanted = min(total, wanted * 4)
            _, scores, ranges = self.store.search_sentences(query_vector, wanted)
        ids = list(best)
        return np.array(ids, dtype=np.int64), np.array([best[i] for i in ids], dtype=np.float32)

    def search(self, query: str, k: int, query_vector: np.ndarray | None = None) -> list[Hit]:
        """The k best chunks for a query, best first.

        Args:
            query: the question text (the lexical side tokenizes it).
            k: how many hits to return.
            query_vector: the query's embedding, if already computed.
        """
        if query_vector is None:
            query_vector = self.embedder.embed_query(query)
        use_sentences = bool(self.fusion.sentence_weight or self.fusion.method == "sentence")
        wanted = min(self.store.manifest.sentence_count, CANDIDATES * SENTENCES_PER_CHUNK) if use_sentences else 0
        found = self.store.search(query_vector, topic_words(query), CANDIDATES, wanted)
        lists = {"dense": found.dense, "lexical": found.lexical}
        if use_sentences:
            _, scores, ranges = found.sentences
            lists["sentence"] = self._chunks_of_sentences(query_vector, CANDIDATES, wanted, scores, ranges)
        fused = self._fuse(lists)
        dense_ids, dense_scores = lists["dense"]
        lexical_ids, lexical_scores = lists["lexical"]
        dense_of = dict(zip(dense_ids.tolist(), dense_scores.tolist()))
        lexical_of = dict(zip(lexical_ids.tolist(), lexical_scores.tolist()))
        best = fuse.top(fused, k)
        chunks = self.store.chunks([chunk_id for chunk_id, _ in best])
        # Chunks outside the dense candidates get their cosine from their stored vector.
        outside = [chunk_id for chunk_id, _ in best if chunk_id not in dense_of]
        if outside:
            vectors = self.store.chunk_vectors(outside)
            dense_of.update((chunk_id, float(vector @ query_vector)) for chunk_id, vector in zip(outside, vectors))
        hits = []
        for (chunk_id, score), chunk in zip(best, chunks):
            head = self.store.head(chunk.doc_id)
            hits.append(
                Hit(
                    chunk_id=chunk_id,
                    doc_id=chunk.doc_id,
                    title=head.title,
                    date=head.date,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    score=round(float(score), 6),
                    dense_score=float(dense_of[chunk_id]),
                    lexical_score=float(lexical_of.get(chunk_id, 0.0)),
                )
            )
        return hits

    def _fuse(self, lists: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[int, float]:
        method = self.fusion.method
        if method in lists:
            ids, scores = lists[method]
            return dict(zip(ids.tolist(), scores.tolist()))
        weight_of = {
            "dense": self.fusion.dense_weight,
            "lexical": self.fusion.lexical_weight,
            "sentence": self.fusion.sentence_weight,
        }
        names = [name for name in lists if weight_of[name]]
        ranked = [lists[name][0].tolist() for name in names]
        weights = [weight_of[name] for name in names]
        if method == "weighted":
            return fuse.weighted(ranked, [lists[name][1] for name in names], weights)
        return fuse.rrf(ranked, weights)


def best_chunk_scores(chunk_ranges: np.ndarray, scores: np.ndarray, n: int) -> dict[int, float]:
    """Chunk id → score of its best sentence, for the first n chunks met in sentence order.

    Args:
        chunk_ranges: per sentence, best first, (first chunk, chunk after the last) overlapping it.
        scores: the sentences' scores.
        n: how many chunks to collect.
    """
    best: dict[int, float] = {}
    ranges = np.asarray(chunk_ranges).reshape(-1, 2).tolist()
    for (first, stop), score in zip(ranges, np.asarray(scores).tolist()):
        for chunk_id in range(first, stop):
            best.setdefault(chunk_id, score)
        if len(best) >= n:
            break
    return dict(list(best.items())[:n])
