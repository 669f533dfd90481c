"""The store interface: all that ``qa/`` knows of an index, and how to open the configured one.

Two implementations hold the same index:

* ``index.local_store`` (``store = "faiss"``, the default): the files of ``index.store`` in
  ``index_dir`` — FAISS for vectors, bm25s for BM25, documents as JSON lines;
* ``index.milvus_store`` and ``index.milvus_writer`` (``store = "milvus"``): collections in
  Milvus — an embedded milvus-lite file, a standalone server or a cluster, reached by
  ``milvus_uri`` (the layout: ``index.milvus_client``).

What both promise, so that the answer model's features mean the same on either:

* chunk and sentence ids are integers, consecutive within a document and in text order
  (the sentence after sentence ``i`` of a document is ``i + 1``);
* vector scores are cosines of normalized vectors; lexical scores are BM25, best first,
  never negative, so a passage's score over the best one's is its relative BM25;
* ``term_weight`` is the idf of an ``index.tokens`` token over the chunks (0 for a token no
  chunk has), the same number on both stores for the same corpus;
* documents are the cleaned documents of ``index.types.Document``, with their full text.

Writing goes through a ``StoreWriter``: ``index.build`` computes the whole new state (documents,
chunks, sentences, vectors from the embedding cache, streamed to files) and the writer makes it live, either by
adding and deleting documents in place or by writing a new generation and switching to it
atomically; a build killed at any point leaves the previous index serving.

No search engine is imported here: ``open_store`` imports the configured implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from index.errors import ConfigError
from index.manifest import Manifest
from index.settings import Settings
from index.types import Chunk, Document, Sentence

STORES = ("faiss", "milvus")
# (stage, done, total), as index.build reports progress.
StageProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DocumentHead:
    """A document without its text: what lists and passages show of it."""

    doc_id: str
    title: str
    date: str | None


@dataclass(frozen=True)
class Candidates:
    """The three candidate lists of one query, best first (see ``Store.search``)."""

    dense: tuple[np.ndarray, np.ndarray]  # chunk ids, cosines
    lexical: tuple[np.ndarray, np.ndarray]  # chunk ids, BM25 scores
    sentences: tuple[np.ndarray, np.ndarray, np.ndarray]  # sentence ids, cosines, chunk ranges


@dataclass(frozen=True)
class IndexContents:
    """Everything a build produced, for a writer to make live.

    Chunk and sentence ids are positions in these lists (documents in order, each
    document's spans in text order); vectors are float32, normalized, one row per span.
    ``index.build`` passes sequences that read their items from files as they are asked for
    (documents from ``documents.jsonl``, vectors memory-mapped), so a writer that goes through
    them once, document by document, holds little of them at a time.
    """

    manifest: Manifest
    documents: Sequence[Document]
    chunks: Sequence[Chunk]
    sentences: Sequence[Sentence]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    # The build directory (index.store.start_build) whose documents.jsonl and vector files
    # these sequences read, when a streaming build wrote them there; None when all is in memory.
    directory: Path | None = None


@dataclass(frozen=True)
class DocumentChanges:
    """How the documents differ from the live index's (ids as in ``Document.doc_id``)."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]


class Store(Protocol):
    """One live index, read-only: search, fetch by id, term weights, stats."""

    manifest: Manifest  # what it was built from and with (counts, model, documents)
    tokenizer: str  # how the lexical side tokenizes (index.tokens: "bigram" or "jieba")

    def is_stale(self) -> bool:
        """True when a build has made another index live since this one was opened."""
        ...

    def search_chunks(self, query_vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` chunks nearest a query vector: (ids, cosines), best first."""
        ...

    def search_sentences(self, query_vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``n`` sentences nearest a query vector: (ids, cosines, chunk ranges), best first.

        A sentence's chunk range is (first chunk, chunk after the last) of the chunks holding it.
        """
        ...

    def search_lexical(self, text: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best chunks by BM25 for a text: (ids, scores ≥ 0), best first; none when no word matches."""
        ...

    def search(self, query_vector: np.ndarray, text: str, n: int, sentences: int) -> Candidates:
        """``search_chunks`` and ``search_lexical`` for ``n`` and ``search_sentences`` for
        ``sentences`` (none when 0), in one call: a remote store runs them at once."""
        ...

    def chunks(self, ids: Sequence[int]) -> list[Chunk]:
        """The chunks with these ids, in the same order."""
        ...

    def chunk_vectors(self, ids: Sequence[int]) -> np.ndarray:
        """Their vectors, one row per id (zeros where the store keeps none)."""
        ...

    def sentences_in(self, chunk: Chunk) -> list[Sentence]:
        """The sentences that overlap a chunk, in text order."""
        ...

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The vectors of these sentences, one row per id."""
        ...

    def chunks_holding(self, sentence: Sentence) -> list[int]:
        """Ids of the chunks that overlap a sentence (overlapping chunks can share one)."""
        ...

    def sentences_after(self, sentence: Sentence, n: int) -> list[Sentence]:
        """Up to ``n`` sentences that follow a sentence in its document, in order."""
        ...

    def document(self, doc_id: str) -> Document:
        """The document with this id (KeyError if there is none)."""
        ...

    def head(self, doc_id: str) -> DocumentHead:
        """Title and date of a document (KeyError if there is none)."""
        ...

    def heads(self) -> list[DocumentHead]:
        """Every document, in index order, without text."""
        ...

    def chunk_counts(self) -> dict[str, int]:
        """Number of chunks per document id."""
        ...

    def term_weight(self, token: str) -> float:
        """The idf of a token over the chunks; 0 for a token no chunk contains."""
        ...

    def prefetch(self, chunk_ids: Sequence[int], texts: Sequence[str]) -> None:
        """Fetch at once what answering will ask of these chunks (their sentences and vectors)
        and the term weights of these texts' tokens: a remote store then answers from what it
        fetched in one round trip; a local one has nothing to do."""
        ...


class StoreWriter(Protocol):
    """Makes a build live: in place (documents added and deleted) or as a new generation."""

    def live_manifest(self) -> Manifest | None:
        """The live index's manifest, or None when there is none."""
        ...

    def write(self, contents: IndexContents, changes: DocumentChanges | None, progress: StageProgress) -> None:
        """Make ``contents`` the live index.

        Args:
            contents: the complete new state.
            changes: how its documents differ from the live index, when that index was built
                with the same settings (a store may then add and delete only those documents);
                None to write everything anew.
            progress: called with ("write", done, total).
        """
        ...


def milvus_uri(settings: Settings) -> str:
    """The Milvus to reach: ``milvus_uri``, or ``index_dir/milvus.db`` (embedded milvus-lite) when empty."""
    return settings.milvus_uri.strip() or str(settings.index_dir / "milvus.db")


def index_location(settings: Settings) -> str:
    """Where the configured index is, for messages: the folder, or Milvus' URI and collection prefix."""
    if settings.store == "milvus":
        return f"Milvus {milvus_uri(settings)} (collections {settings.milvus_prefix}_*)"
    return str(settings.index_dir)


def check_store(name: str) -> str:
    """The store name, checked.

    Raises:
        ConfigError: it is not one of ``STORES``.
    """
    if name not in STORES:
        raise ConfigError(
            f"store 只能是 {' 或 '.join(STORES)}，不能是 {name!r}。 "
            f"store must be one of {', '.join(STORES)}, not {name!r}"
        )
    return name


def open_store(settings: Settings, mmap: bool | None = None) -> Store:
    """The live index of the configured store, opened for reading.

    Args:
        settings: which store, where, and the embedding model the index must have been built with.
        mmap: (local store) memory-map the arrays; None decides by size (index.store.load_index).
    Raises:
        IndexMissingError: there is no index yet.
        IndexMismatchError: it was built with another model or format.
        StoreUnavailableError: the Milvus server cannot be reached.
    """
    if check_store(settings.store) == "milvus":
        from index.milvus_store import MilvusStore

        return MilvusStore.open(settings)
    from index.local_store import LocalStore

    return LocalStore.open(settings, mmap=mmap)


def open_writer(settings: Settings) -> StoreWriter:
    """The writer of the configured store (nothing is created until it writes)."""
    if check_store(settings.store) == "milvus":
        from index.milvus_writer import MilvusWriter

        return MilvusWriter(settings)
    from index.local_store import LocalWriter

    return LocalWriter(settings)


def live_manifest(settings: Settings) -> Manifest | None:
    """The configured store's live manifest, or None when there is no index.

    Raises:
        StoreUnavailableError: the Milvus server cannot be reached.
    """
    return open_writer(settings).live_manifest()
