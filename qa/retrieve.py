"""Hybrid retrieval: dense (FAISS) and lexical (BM25) candidates, fused into top-k Hits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.embed import Embedder
from index.store import IndexData
from qa import fuse
from qa.types import Hit

# Each retriever contributes this many candidates to the fusion.
CANDIDATES = 50


@dataclass(frozen=True)
class FusionConfig:
    """How dense and lexical lists are combined (chosen on the dev set, README "Retrieval")."""

    method: str = "rrf"  # "rrf" | "weighted" | "dense" | "lexical"
    dense_weight: float = 1.0
    lexical_weight: float = 0.5


DEFAULT_FUSION = FusionConfig()


class Retriever:
    """Searches one loaded index with one embedding model."""

    def __init__(self, data: IndexData, embedder: Embedder, fusion: FusionConfig = DEFAULT_FUSION) -> None:
        self.data = data
        self.embedder = embedder
        self.fusion = fusion

    def dense(self, query_vector: np.ndarray, n: int = CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (chunk ids, cosine scores) by vector similarity."""
        if self.data.dense.ntotal == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores, ids = self.data.dense.search(query_vector.reshape(1, -1).astype(np.float32), min(n, self.data.dense.ntotal))
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def search(self, query: str, k: int, query_vector: np.ndarray | None = None) -> list[Hit]:
        """The k best chunks for a query, best first.

        Args:
            query: the question text (the lexical side tokenizes it).
            k: how many hits to return.
            query_vector: the query's embedding, if already computed.
        """
        if query_vector is None:
            query_vector = self.embedder.embed_query(query)
        dense_ids, dense_scores = self.dense(query_vector)
        lexical_ids, lexical_scores = self.data.lexical.search(query, CANDIDATES)
        fused = self._fuse(dense_ids, dense_scores, lexical_ids, lexical_scores)
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

    def _fuse(self, dense_ids, dense_scores, lexical_ids, lexical_scores) -> dict[int, float]:
        method = self.fusion.method
        if method == "dense":
            return dict(zip(dense_ids.tolist(), dense_scores.tolist()))
        if method == "lexical":
            return dict(zip(lexical_ids.tolist(), lexical_scores.tolist()))
        weights = (self.fusion.dense_weight, self.fusion.lexical_weight)
        if method == "weighted":
            return fuse.weighted((dense_ids.tolist(), lexical_ids.tolist()), (dense_scores, lexical_scores), weights)
        return fuse.rrf((dense_ids.tolist(), lexical_ids.tolist()), weights)

    def _cosine(self, query_vector: np.ndarray, chunk_id: int) -> float:
        """Cosine of a chunk outside the dense candidates (exact indexes can reconstruct vectors)."""
        try:
            return float(self.data.dense.reconstruct(int(chunk_id)) @ query_vector)
        except RuntimeError:
            return 0.0
