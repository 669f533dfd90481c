"""Hybrid retrieval: dense (FAISS) and lexical (BM25) candidates, fused into top-k Hits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.embed import Embedder
from index.store import IndexData
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
    """Searches one loaded index with one embedding model."""

    def __init__(self, data: IndexData, embedder: Embedder, fusion: FusionConfig = DEFAULT_FUSION) -> None:
        self.data = data
        self.embedder = embedder
        self.fusion = fusion

    def dense(self, query_vector: np.ndarray, n: int = CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (chunk ids, cosine scores) by vector similarity."""
        return self.data.chunk_search().search(query_vector, n)

    def sentence_dense(self, query_vector: np.ndarray, n: int = CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (chunk ids, cosine of the chunk's best sentence).

        Sentences are searched best first, ``SENTENCES_PER_CHUNK`` per wanted chunk, more if
        their chunks repeat; each chunk scores as its best sentence. With exact search this
        is the same list as scoring every sentence.
        """
        search = self.data.sentence_search()
        total = len(search)
        wanted = min(total, n * SENTENCES_PER_CHUNK)
        while True:
            sentence_ids, scores = search.search(query_vector, wanted)
            best = best_chunk_scores(sentence_ids, scores, self.data.sentence_chunks, n)
            if len(best) >= n or wanted >= total:
                break
            wanted = min(total, wanted * 4)
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
        lists = {
            "dense": self.dense(query_vector),
            "lexical": self.data.lexical.search(topic_words(query), CANDIDATES),
        }
        if self.fusion.sentence_weight or self.fusion.method == "sentence":
            lists["sentence"] = self.sentence_dense(query_vector)
        fused = self._fuse(lists)
        dense_ids, dense_scores = lists["dense"]
        lexical_ids, lexical_scores = lists["lexical"]
        dense_of = dict(zip(dense_ids.tolist(), dense_scores.tolist()))
        lexical_of = dict(zip(lexical_ids.tolist(), lexical_scores.tolist()))
        hits = []
        for chunk_id, score in fuse.top(fused, k):
            chunk = self.data.chunks[chunk_id]
            doc = self.data.document(chunk.doc_id)
            hits.append(
                Hit(
                    chunk_id=chunk_id,
                    doc_id=chunk.doc_id,
                    title=doc.title,
                    date=doc.date,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    score=round(float(score), 6),
                    dense_score=float(dense_of.get(chunk_id, self._cosine(query_vector, chunk_id))),
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

    def _cosine(self, query_vector: np.ndarray, chunk_id: int) -> float:
        """Cosine of a chunk outside the dense candidates."""
        if self.data.chunk_vectors is not None:
            return float(self.data.chunk_vectors[int(chunk_id)] @ query_vector)
        try:
            return float(self.data.dense.reconstruct(int(chunk_id)) @ query_vector)
        except RuntimeError:
            return 0.0


def best_chunk_scores(
    sentence_ids: np.ndarray, scores: np.ndarray, sentence_chunks: np.ndarray, n: int
) -> dict[int, float]:
    """Chunk id → score of its best sentence, for the first n chunks met in sentence order.

    Args:
        sentence_ids: sentences, best first.
        scores: their scores.
        sentence_chunks: per sentence, (first chunk, chunk after the last) overlapping it.
        n: how many chunks to collect.
    """
    best: dict[int, float] = {}
    ranges = np.asarray(sentence_chunks[np.asarray(sentence_ids, dtype=np.int64)]).reshape(-1, 2).tolist()
    for (first, stop), score in zip(ranges, scores.tolist()):
        for chunk_id in range(first, stop):
            best.setdefault(chunk_id, score)
        if len(best) >= n:
            break
    return dict(list(best.items())[:n])
