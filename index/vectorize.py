"""Vectors for every chunk and sentence of a build, streamed to disk through the embedding cache.

    span rows (document row, start, end) + the build's documents.jsonl
      1. window by window (``WINDOW_TEXTS`` texts): cached vectors → the vector files;
         the rows still missing are noted (8 bytes each)
      2. the missing rows of every kind merged in text order (document, then offset),
         window by window: a text repeated in the corpus is embedded once; each batch is
         written to the vector files and committed to the cache as it finishes
      → one ``index.store.VectorFile`` per kind of span (chunks, sentences)

Merging the kinds by offset keeps the work per row even over the run (a chunk costs about
as much as 7 sentences, and each stretch of text has both), so the progress bar's time left
is right from the start and a build killed at 50 % has done about half of the work. Chunks
first, then sentences, had the first half of the rows hold 70 % of the tokens.

Nothing here holds more than a window of texts and one batch of vectors, so memory does
not grow with the corpus; and since every finished batch is in the cache, a build that is
killed re-embeds only what it had not finished (issue 15; README, "Indexing").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.embed import Embedder, EmbeddingCache
from index.store import VectorFile
from index.types import Document

# Texts read, looked up in the cache and sorted by length at a time. Larger windows pad
# batches a little less; 1 024 texts of 500 characters are ≈ 1.5 MB of text.
WINDOW_TEXTS = 1024
# (texts done, texts to embed) → None, after each batch.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Spans:
    """One kind of span to embed: its rows and the file its vectors go to."""

    rows: np.ndarray  # (n, 3) int64: document row, start, end
    path: Path


@dataclass(frozen=True)
class Embedded:
    """What ``embed_spans`` did."""

    dim: int
    texts: int  # texts that needed the model (the rest came from the cache)
    rows: int  # spans whose vector was not in the cache when the build began


def span_texts(rows: np.ndarray, documents: Sequence[Document]) -> list[str]:
    """The texts of span rows (document row, start, end)."""
    return [documents[int(doc)].text[int(start) : int(end)] for doc, start, end in rows]


def embed_spans(
    kinds: Sequence[Spans],
    documents: Sequence[Document],
    cache: EmbeddingCache,
    embedder: Embedder,
    progress: Progress = lambda done, total: None,
) -> Embedded:
    """Write the vector of every span into its kind's file.

    Args:
        kinds: the spans, one entry per vector file.
        documents: by document row (a ``DocumentTable`` reads them from disk as needed).
        cache: vectors by text; every batch computed here is added to it at once.
        embedder: computes what the cache does not have; asked for nothing (so a lazy
            one never loads its model) when every text is cached.
        progress: called with (rows done, rows to embed) at the start and after each batch.
    Returns:
        The vectors' dimension and how much had to be embedded.
    """
    dim = _dimension(kinds, documents, cache, embedder)
    files = [VectorFile(kind.path, len(kind.rows), dim) for kind in kinds]
    try:
        missing = [_fill_from_cache(kind, file, documents, cache) for kind, file in zip(kinds, files)]
        todo = _in_text_order(kinds, missing)
        counts = [0, 0]  # rows done, texts embedded
        progress(0, len(todo))
        for begin in range(0, len(todo), WINDOW_TEXTS):
            window = todo[begin : begin + WINDOW_TEXTS]
            _embed_window(
                kinds, files, window, documents, cache, embedder, counts, lambda: progress(counts[0], len(todo))
            )
    finally:
        for file in files:
            file.close()
    return Embedded(dim=dim, texts=counts[1], rows=len(todo))


def _dimension(kinds: Sequence[Spans], documents: Sequence[Document], cache: EmbeddingCache, embedder: Embedder) -> int:
    """From a cached vector when there is one (the model then stays unloaded), else from the model."""
    for kind in kinds:
        found = cache.get_many(span_texts(kind.rows[:WINDOW_TEXTS], documents))
        if found:
            return len(next(iter(found.values())))
    return int(embedder.dim)


def _fill_from_cache(kind: Spans, file: VectorFile, documents: Sequence[Document], cache: EmbeddingCache) -> np.ndarray:
    """Write the cached vectors of a kind's spans; returns the rows still missing."""
    gaps = [np.empty(0, dtype=np.int64)]
    for begin in range(0, len(kind.rows), WINDOW_TEXTS):
        texts = span_texts(kind.rows[begin : begin + WINDOW_TEXTS], documents)
        found = cache.get_many(texts)
        if found:
            positions = sorted(found)
            file.write([begin + i for i in positions], np.stack([found[i] for i in positions]))
        gaps.append(np.array([begin + i for i in range(len(texts)) if i not in found], dtype=np.int64))
    return np.concatenate(gaps)


def _in_text_order(kinds: Sequence[Spans], missing: Sequence[np.ndarray]) -> np.ndarray:
    """(kind, row) pairs of the missing rows, ordered by document, then start offset, then kind."""
    pairs = np.concatenate(
        [np.column_stack([np.full(len(rows), k, dtype=np.int64), rows]) for k, rows in enumerate(missing)]
        + [np.empty((0, 2), dtype=np.int64)]
    )
    if not len(pairs):
        return pairs
    positions = np.concatenate([kind.rows[rows, :2] for kind, rows in zip(kinds, missing)])
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0], positions[:, 1], positions[:, 0]))]


def _embed_window(
    kinds: Sequence[Spans],
    files: Sequence[VectorFile],
    pairs: np.ndarray,
    documents: Sequence[Document],
    cache: EmbeddingCache,
    embedder: Embedder,
    counts: list[int],
    progress: Callable[[], None],
) -> None:
    """Embed the texts of some missing (kind, row) pairs, batch by batch, writing each batch at once.

    ``counts`` (rows done, texts embedded) is updated and ``progress`` called after each batch.
    """
    where: dict[str, list[tuple[int, int]]] = {}
    for k, kind in enumerate(kinds):
        rows = pairs[pairs[:, 0] == k, 1]
        for row, text in zip(rows.tolist(), span_texts(kind.rows[rows], documents)):
            where.setdefault(text, []).append((k, row))
    unique = list(where)
    # A text repeated in an earlier window (a document copied into another) is cached by now.
    found = cache.get_many(unique)
    if found:
        _write(files, where, [unique[i] for i in found], np.stack(list(found.values())))
        counts[0] += sum(len(where[unique[i]]) for i in found)
        progress()
    fresh = [text for i, text in enumerate(unique) if i not in found]
    if not fresh:
        return
    for positions, vectors in embedder.embed_batches(fresh):
        texts = [fresh[p] for p in positions]
        _write(files, where, texts, vectors)
        cache.put_many(texts, vectors)
        counts[0] += sum(len(where[text]) for text in texts)
        counts[1] += len(texts)
        progress()


def _write(
    files: Sequence[VectorFile], where: dict[str, list[tuple[int, int]]], texts: list[str], vectors: np.ndarray
) -> None:
    """Write each text's vector to every (kind, row) that has this text, in row order per file."""
    for k, file in enumerate(files):
        placed = sorted((row, i) for i, text in enumerate(texts) for kind, row in where[text] if kind == k)
        if placed:
            file.write([row for row, _ in placed], np.asarray(vectors)[[i for _, i in placed]])
