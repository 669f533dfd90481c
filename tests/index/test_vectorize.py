"""Streaming span vectors through the cache to disk (real model, real SQLite, real files)."""

from __future__ import annotations

import numpy as np
import pytest

from index import vectorize
from index.embed import EmbeddingCache
from index.store import VectorFile
from index.types import Document
from index.vectorize import Spans, embed_spans, span_texts
from tests.conftest import CORPUS

pytestmark = pytest.mark.slow

TEXT = (CORPUS / "002_88d20b9e249d40e3.txt").read_text(encoding="utf-8")[:3000]


def documents(*texts: str) -> list[Document]:
    return [Document(f"d{i}.txt", f"d{i}", None, None, t, f"h{i}") for i, t in enumerate(texts)]


def sentence_rows(docs: list[Document]) -> np.ndarray:
    """Rows of the lines of each document (as spans)."""
    rows = []
    for d, doc in enumerate(docs):
        start = 0
        for line in doc.text.split("\n"):
            if line.strip():
                rows.append((d, start, start + len(line)))
            start += len(line) + 1
    return np.array(rows, dtype=np.int64)


def chunk_rows(docs: list[Document], size: int = 400) -> np.ndarray:
    return np.array(
        [(d, s, min(s + size, len(doc.text))) for d, doc in enumerate(docs) for s in range(0, len(doc.text), size)],
        dtype=np.int64,
    )


class Untouchable:
    """An embedder that must not be asked anything (every text is cached)."""

    model_id = "untouchable"

    @property
    def dim(self):
        raise AssertionError("the model was asked for its dimension")

    def embed_batches(self, texts):
        raise AssertionError(f"the model was asked to embed {len(texts)} texts")


class StopsAfter:
    """The real embedder, interrupted after ``batches`` batches (as a killed build would be)."""

    def __init__(self, embedder, batches: int):
        self.embedder, self.batches = embedder, batches
        self.model_id, self.dim = embedder.model_id, embedder.dim

    def embed_batches(self, texts):
        for n, batch in enumerate(self.embedder.embed_batches(texts)):
            if n == self.batches:
                raise KeyboardInterrupt
            yield batch


def test_vectors_on_disk_are_the_models_and_a_second_run_needs_no_model(embedder, tmp_path):
    docs = documents(TEXT)
    kinds = [Spans(chunk_rows(docs), tmp_path / "c.npy"), Spans(sentence_rows(docs), tmp_path / "s.npy")]
    cache = EmbeddingCache(tmp_path / "cache.sqlite", embedder.model_id, embedder.passage_prefix)
    progress = []
    done = embed_spans(kinds, docs, cache, embedder, lambda d, t: progress.append((d, t)))
    total = len(kinds[0].rows) + len(kinds[1].rows)
    assert done.dim == embedder.dim and done.rows == total and 0 < done.texts <= total
    assert progress[0] == (0, total) and progress[-1] == (total, total)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    for kind in kinds:
        expected = embedder.embed_documents(span_texts(kind.rows, docs))
        assert (np.load(kind.path) * expected).sum(axis=1).min() >= 0.9999

    again = [Spans(k.rows, tmp_path / f"again-{k.path.name}") for k in kinds]
    assert embed_spans(again, docs, cache, Untouchable()).texts == 0
    for first, second in zip(kinds, again):
        assert np.array_equal(np.load(first.path), np.load(second.path))
    cache.close()


def test_a_text_repeated_in_later_windows_is_embedded_once(embedder, tmp_path, monkeypatch):
    monkeypatch.setattr(vectorize, "WINDOW_TEXTS", 8)
    lines = "\n".join(f"第{n}条：驻村工作队协助落实扶贫政策，编号{n}。" for n in range(12))
    docs = documents(lines, lines)  # the second document repeats the first
    kinds = [Spans(sentence_rows(docs), tmp_path / "s.npy")]
    cache = EmbeddingCache(tmp_path / "cache.sqlite", embedder.model_id, embedder.passage_prefix)
    done = embed_spans(kinds, docs, cache, embedder)
    assert done.rows == 24 and done.texts == 12
    vectors = np.load(kinds[0].path)
    assert np.array_equal(vectors[:12], vectors[12:])
    cache.close()


def test_an_interrupted_run_keeps_every_finished_batch(embedder, tmp_path, monkeypatch):
    monkeypatch.setattr("index.embed.MAX_BATCH_TOKENS", 256)  # many small batches
    docs = documents(TEXT)
    rows = sentence_rows(docs)
    cache = EmbeddingCache(tmp_path / "cache.sqlite", embedder.model_id, embedder.passage_prefix)
    with pytest.raises(KeyboardInterrupt):
        embed_spans([Spans(rows, tmp_path / "s.npy")], docs, cache, StopsAfter(embedder, 3))
    kept = len(cache.get_many(list(dict.fromkeys(span_texts(rows, docs)))))
    assert kept >= 3
    resumed = embed_spans([Spans(rows, tmp_path / "s2.npy")], docs, cache, embedder)
    assert resumed.texts == len(set(span_texts(rows, docs))) - kept
    cache.close()


def test_a_vector_file_is_an_npy_array_written_row_by_row(tmp_path):
    file = VectorFile(tmp_path / "v.npy", rows=5, dim=3)
    file.write([3, 4], np.array([[3, 3, 3], [4, 4, 4]]))
    file.write([0, 2, 1], np.array([[0, 0, 0], [2, 2, 2], [1, 1, 1]]))
    file.close()
    loaded = np.load(tmp_path / "v.npy")
    assert loaded.dtype == np.float32 and loaded.tolist() == [[float(i)] * 3 for i in range(5)]
