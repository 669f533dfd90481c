"""The default store: FAISS + bm25s + plain files in ``index_dir`` (the layout of index.store).

``LocalStore`` answers the store interface (index.stores) from a loaded ``IndexData``; every
method is the call the retriever and the evidence view made on it before the interface
existed, so answers and speed are those of the files themselves. ``LocalWriter`` builds the
FAISS and BM25 indexes of a build and writes it beside the live one (completing the directory
a streaming build filled, index.build), then swaps ``CURRENT`` (index.store.write_index): this
store rewrites the whole build on every change, which for a folder of documents takes seconds
once the vectors come from the embedding cache.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.lexical import LexicalIndex
from index.manifest import FLAT, Manifest
from index.settings import Settings
from index.store import IndexData, current_build, load_index, read_manifest, write_index
from index.stores import Candidates, DocumentChanges, DocumentHead, IndexContents, StageProgress
from index.types import Chunk, Document, Sentence
from index.vectors import build_vector_index

NO_SENTENCES = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32), np.empty((0, 2), dtype=np.int64))


class LocalStore:
    """The store interface over one loaded build (index.stores.Store)."""

    def __init__(self, data: IndexData, index_dir: Path | None = None) -> None:
        self.data = data
        self.manifest: Manifest = data.manifest
        self.tokenizer = data.lexical.method
        self.index_dir = index_dir
        self._chunk_search = data.chunk_search()
        self._sentence_search = data.sentence_search()
        self.term_weight = data.lexical.term_weight

    @classmethod
    def open(cls, settings: Settings, mmap: bool | None = None) -> LocalStore:
        """The live build of ``settings.index_dir`` (index.store.load_index, same errors)."""
        data = load_index(settings.index_dir, model_id=settings.embedding_model, mmap=mmap)
        return cls(data, settings.index_dir)

    def is_stale(self) -> bool:
        return self.index_dir is not None and current_build(self.index_dir) != self.data.build_dir

    def search_chunks(self, query_vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._chunk_search.search(query_vector, n)

    def search_sentences(self, query_vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids, scores = self._sentence_search.search(query_vector, n)
        ranges = np.asarray(self.data.sentence_chunks[np.asarray(ids, dtype=np.int64)]).reshape(-1, 2)
        return ids, scores, ranges

    def search_lexical(self, text: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.data.lexical.search(text, n)

    def search(self, query_vector: np.ndarray, text: str, n: int, sentences: int) -> Candidates:
        dense = self.search_chunks(query_vector, n)
        lexical = self.search_lexical(text, n)
        found = self.search_sentences(query_vector, sentences) if sentences else NO_SENTENCES
        return Candidates(dense, lexical, found)

    def chunks(self, ids: Sequence[int]) -> list[Chunk]:
        chunks = self.data.chunks
        return [chunks[int(i)] for i in ids]

    def chunk_vectors(self, ids: Sequence[int]) -> np.ndarray:
        data = self.data
        out = np.zeros((len(ids), data.manifest.dim), dtype=np.float32)
        for row, chunk_id in enumerate(ids):
            if data.chunk_vectors is not None:
                out[row] = data.chunk_vectors[int(chunk_id)]
                continue
            # An index that cannot give vectors back leaves zeros: the cosine counts as 0.
            with contextlib.suppress(RuntimeError):
                out[row] = data.dense.reconstruct(int(chunk_id))
        return out

    def sentences_in(self, chunk: Chunk) -> list[Sentence]:
        return self.data.sentences_in(chunk)

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return np.asarray(self.data.sentence_vectors[np.asarray(ids, dtype=np.int64)], dtype=np.float32)

    def chunks_holding(self, sentence: Sentence) -> list[int]:
        return self.data.chunks_containing(sentence)

    def sentences_after(self, sentence: Sentence, n: int) -> list[Sentence]:
        sentences = self.data.sentences
        found = []
        for next_id in range(sentence.sentence_id + 1, min(len(sentences), sentence.sentence_id + 1 + n)):
            candidate = sentences[next_id]
            if candidate.doc_id != sentence.doc_id:
                break
            found.append(candidate)
        return found

    def document(self, doc_id: str) -> Document:
        return self.data.document(doc_id)

    def head(self, doc_id: str) -> DocumentHead:
        document = self.data.document(doc_id)
        return DocumentHead(document.doc_id, document.title, document.date)

    def heads(self) -> list[DocumentHead]:
        return [DocumentHead(d.doc_id, d.title, d.date) for d in self.data.documents]

    def chunk_counts(self) -> dict[str, int]:
        return self.data.chunk_counts()

    def prefetch(self, chunk_ids: Sequence[int], texts: Sequence[str]) -> None:
        """Nothing to do: everything is in memory or memory-mapped."""


class LocalWriter:
    """Writes complete builds into ``index_dir`` and swaps them in (index.stores.StoreWriter)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def live_manifest(self) -> Manifest | None:
        return read_manifest(self.settings.index_dir)

    def write(self, contents: IndexContents, changes: DocumentChanges | None, progress: StageProgress) -> None:
        """Build the FAISS and BM25 indexes of ``contents`` and write them as the new live build.

        Every build is written whole: ``changes`` is not needed. When ``contents.directory``
        holds the build's files already (a streaming build), that directory is completed and
        becomes the live one; texts are read from it one chunk at a time for BM25.
        """
        manifest = contents.manifest
        threads = self.settings.threads
        chunk_vectors = np.asarray(contents.chunk_vectors, dtype=np.float32).reshape(-1, manifest.dim)
        data = IndexData(
            manifest=manifest,
            documents=contents.documents,
            chunks=contents.chunks,
            sentences=contents.sentences,
            sentence_vectors=contents.sentence_vectors,
            dense=build_vector_index(chunk_vectors, manifest.dense_index, threads=threads),
            lexical=LexicalIndex.build(
                (c.text for c in contents.chunks), manifest.lexical_tokenizer, len(contents.chunks)
            ),
            chunk_vectors=chunk_vectors if manifest.dense_index != FLAT else None,
            sentence_ann=(
                build_vector_index(contents.sentence_vectors, manifest.sentence_index, threads=threads)
                if manifest.sentence_index != FLAT
                else None
            ),
        )
        progress("write", 0, 1)
        write_index(self.settings.index_dir, data, contents.directory)
        progress("write", 1, 1)
