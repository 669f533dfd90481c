"""Inner-product search over unit vectors: exact at small sizes, approximate at large ones.

Up to ``Settings.flat_max_vectors`` vectors a search is exact (brute force). Above it
an approximate FAISS index (``Settings.ann_index``) proposes ``RERANK_FACTOR`` times
more candidates than asked for, and those are re-scored with the exact vectors, which
stay on disk (memory-mapped): the index in RAM holds only compressed codes, and the
scores returned are always exact cosines.

Kinds (bench/README.md, "Scale", for the measurements behind the constants):

* ``ivf-sq8``: inverted lists over 8-bit scalar-quantized vectors (``dim`` bytes), the
  default for chunk vectors;
* ``ivf-pq``: inverted lists over product-quantized codes, ``dim / 4`` bytes a vector
  (96 for e5-small), always used for sentence vectors (≈ 7 per chunk);
* ``hnsw``: an HNSW graph over 8-bit scalar-quantized vectors (``dim`` bytes + links).
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from index.manifest import FLAT

ANN_KINDS = ("ivf-sq8", "ivf-pq", "hnsw")
SENTENCE_ANN = "ivf-pq"
# Candidates taken from the approximate index per hit wanted, then re-scored exactly, and
# inverted lists probed per query. On the synthetic 10^5-chunk corpus (bench/README.md,
# "Scale") 4x candidates and 16 lists gave sentence recall@10 1.000 against exact search
# (2x: 0.977) in 1.8 ms; 8x and 24 lists cost up to 4x the time for nothing more.
RERANK_FACTOR = 4
MIN_CANDIDATES = 100
# Lists probed, by kind. At 10^6 chunks (1,024 lists) chunk recall@10 with SQ8 codes was
# 0.928 / 0.961 / 0.990 at 16 / 32 / 64 probes for 1.2 / 1.7 / 2.9 ms; PQ codes bound the
# sentence recall instead (0.883 at 16 probes, 0.886 at 32 for twice the time).
NPROBE = {"ivf-sq8": 32, "ivf-pq": 16}
HNSW_EF_SEARCH = 96
HNSW_LINKS = 24
HNSW_EF_CONSTRUCTION = 64
# Vectors used to train a quantizer: enough per inverted list for k-means, bounded in time.
TRAIN_PER_LIST = 48
KMEANS_ITERATIONS = 12
MAX_TRAIN = 200_000
ADD_BATCH = 65_536


def index_kind(count: int, flat_max_vectors: int, ann_index: str) -> str:
    """ "flat" for up to ``flat_max_vectors`` vectors, else ``ann_index`` (checked).

    Chunk vectors use the configured ``ann_index``; sentence vectors (≈ 7 per chunk)
    always use ``SENTENCE_ANN``, the only kind small enough for them at 10^6 chunks.
    """
    if ann_index not in ANN_KINDS:
        raise ValueError(f"ann_index must be one of {ANN_KINDS}, not {ann_index!r}")
    return FLAT if count <= flat_max_vectors else ann_index


def inverted_lists(count: int) -> int:
    """Number of IVF lists: a power of two near sqrt(count).

    FAISS suggests 4–16·sqrt(n); at 7.5·10^6 sentence vectors that makes assigning them
    take 15+ minutes on 2 cores, while sqrt(n) lists with ``NPROBE`` probes keep chunk
    recall@10 ≥ 0.95 after re-ranking (sentences' PQ codes: 0.88 at 10^6 chunks;
    bench/README.md, "Scale").
    """
    return int(2 ** round(math.log2(max(math.sqrt(max(count, 1)), 16))))


def build_vector_index(vectors: np.ndarray, kind: str, seed: int = 0, threads: int = 2) -> faiss.Index:
    """A FAISS index of the given kind over unit vectors (rows may be a memory map).

    Args:
        vectors: float32 array (n, dim), rows normalized.
        kind: ``flat`` or one of ``ANN_KINDS``.
        seed: seeds the training sample, so a rebuild gives the same index.
        threads: OpenMP threads for training and adding (searches use one).
    """
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(1, threads))
    try:
        return _build(vectors, kind, seed)
    finally:
        faiss.omp_set_num_threads(previous)


def _build(vectors: np.ndarray, kind: str, seed: int) -> faiss.Index:
    count, dim = vectors.shape
    if kind == FLAT:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        # L2 on unit vectors ranks like the inner product, and HNSW's neighbour selection
        # assumes a metric; candidates are re-ranked by exact cosine anyway.
        # faiss's stub types the second argument as a ScalarQuantizer; the constructor takes its
        # QuantizerType, an int (IndexHNSWSQ(int d, ScalarQuantizer::QuantizerType, int M, MetricType)).
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, HNSW_LINKS, faiss.METRIC_L2)  # type: ignore[arg-type]
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    elif kind in ("ivf-pq", "ivf-sq8"):
        lists = inverted_lists(count)
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "ivf-pq":
            index = faiss.IndexIVFPQ(quantizer, dim, lists, _pq_subquantizers(dim), 8, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
        index.cp.niter = KMEANS_ITERATIONS
    else:
        raise ValueError(f"unknown vector index kind {kind!r}; use {FLAT!r} or one of {ANN_KINDS}")
    if not index.is_trained:
        index.train(_training_sample(vectors, kind, seed))
    for begin in range(0, count, ADD_BATCH):
        index.add(np.ascontiguousarray(vectors[begin : begin + ADD_BATCH], dtype=np.float32))
    configure_search(index)
    return index


def _pq_subquantizers(dim: int) -> int:
    """4 dimensions per 8-bit sub-quantizer: 96 bytes a vector for 384 dimensions.

    48 bytes (8 dimensions each) ranked e5's tightly clustered vectors too coarsely:
    recall@10 against exact search 0.80 at 10^5 chunks even after re-ranking 100.
    """
    for m in (dim // 4, dim // 2, dim):
        if m and dim % m == 0:
            return m
    return 1


def _training_sample(vectors: np.ndarray, kind: str, seed: int) -> np.ndarray:
    count = len(vectors)
    wanted = count if kind == "hnsw" else inverted_lists(count) * TRAIN_PER_LIST
    wanted = min(count, max(wanted, 10_000), MAX_TRAIN)
    rows = np.sort(np.random.default_rng(seed).choice(count, size=wanted, replace=False))
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


def configure_search(index: faiss.Index) -> None:
    """Set the search-time parameters (not all are kept by ``faiss.write_index``)."""
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = NPROBE[describe(index)]


def is_exact(index: faiss.Index) -> bool:
    """True if the index scores every vector exactly (a flat index)."""
    return isinstance(index, faiss.IndexFlat)


def describe(index: faiss.Index | None) -> str:
    """The kind name of an index (``flat`` when there is no separate index)."""
    if index is None or is_exact(index):
        return FLAT
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    return "ivf-pq" if isinstance(index, faiss.IndexIVFPQ) else "ivf-sq8"


class VectorIndex:
    """Top-n search over unit vectors, best first, with exact cosine scores.

    Args:
        vectors: the exact vectors (an array or memory map), or None when ``index`` is
            a flat FAISS index that holds them.
        index: None (brute force over ``vectors``), a flat FAISS index, or an approximate
            one whose candidates are re-scored with ``vectors``.
    """

    def __init__(self, vectors: np.ndarray | None, index: faiss.Index | None = None) -> None:
        if vectors is None and index is None:
            raise ValueError("VectorIndex needs vectors, an index, or both")
        self.vectors = vectors
        self.index = index
        self.kind = describe(index)

    def __len__(self) -> int:
        if self.index is not None:
            return int(self.index.ntotal)
        assert self.vectors is not None  # __init__ refuses neither
        return len(self.vectors)

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` nearest (ids, cosine scores); ties go to the lower id."""
        n = min(n, len(self))
        if n <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if self.index is None:
            return top_n(np.asarray(self.vectors @ query[0], dtype=np.float32), n)
        if is_exact(self.index) or self.vectors is None:
            scores, ids = self.index.search(query, n)
            keep = ids[0] >= 0
            return ids[0][keep].astype(np.int64), scores[0][keep]
        wanted = min(len(self), max(n * RERANK_FACTOR, MIN_CANDIDATES))
        _, candidates = self.index.search(query, wanted)
        candidates = np.sort(candidates[0][candidates[0] >= 0])  # sorted rows read a memory map in order
        exact = np.asarray(self.vectors[candidates] @ query[0], dtype=np.float32)
        ids, scores = top_n(exact, n)
        return candidates[ids], scores


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and values of the n highest scores, best first, ties by position."""
    n = min(n, len(scores))
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    if n < len(scores):
        part = np.argpartition(-scores, n - 1)[:n]
        # Every score equal to the n-th belongs in the candidate set so ties resolve by position.
        threshold = scores[part].min()
        part = np.flatnonzero(scores >= threshold)
    else:
        part = np.arange(len(scores))
    order = np.lexsort((part, -scores[part]))[:n]
    best = part[order]
    return best.astype(np.int64), scores[best].astype(np.float32)
