"""Build or update the index of a corpus folder, incrementally.

Every document is re-read and re-chunked (cheap); vectors come from the
embedding cache whenever the text is unchanged, so only new or changed text
costs model calls. When nothing changed at all the build stops before the model
is even loaded.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from index.chunk import chunk_document, make_splitter, split_sentences
from index.clean import CLEANING_VERSION
from index.embed import Embedder, EmbeddingCache, ProgressCallback, SentenceTransformerEmbedder, embed_with_cache
from index.errors import EmptyCorpusError, IndexLockedError, IndexMismatchError
from index.load import SkippedFile, load_corpus
from index.manifest import FLAT, FORMAT_VERSION, Manifest
from index.metadata import apply_overrides, overrides_hash, read_overrides
from index.ocr import OcrReader, ocr_fingerprint
from index.settings import Settings
from index.stores import DocumentChanges, IndexContents, StageProgress, open_writer
from index.types import Chunk, Document, Sentence
from index.vectors import SENTENCE_ANN, build_vector_index, index_kind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for the person who ran it."""

    documents: int
    chunks: int
    sentences: int
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]
    embedded: int  # texts that needed the model (the rest came from the cache)
    seconds: float
    up_to_date: bool = False


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's lock file for the duration of a build.

    Raises:
        IndexLockedError: another process holds it.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock.seek(0)
            owner = lock.read().strip() or "another process"
            raise IndexLockedError(
                f"the index in {index_dir} is being built by {owner}; wait for it to finish and try again"
            ) from exc
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)


def manifest_for(
    settings: Settings, dim: int, documents: list[Document], chunks: int, sentences: int, metadata: str = ""
) -> Manifest:
    """The manifest of an index built from these documents with these settings (``metadata``: overrides_hash)."""
    return Manifest(
        format_version=FORMAT_VERSION,
        model_id=settings.embedding_model,
        dim=dim,
        query_prefix=settings.query_prefix,
        passage_prefix=settings.passage_prefix,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        lexical_tokenizer=settings.lexical_tokenizer,
        documents={d.doc_id: d.content_hash for d in documents},
        chunk_count=chunks,
        sentence_count=sentences,
        cleaning_version=CLEANING_VERSION,
        dense_index=index_kind(chunks, settings.flat_max_vectors, settings.ann_index),
        sentence_index=index_kind(sentences, settings.flat_max_vectors, SENTENCE_ANN),
        metadata=metadata,
        ocr=ocr_fingerprint(settings.ocr),
    )


def same_build_settings(previous: Manifest, manifest: Manifest) -> bool:
    """True if two manifests differ at most in their documents (and titles, dates, counts):
    the same model, prefixes, chunker, tokenizer, cleaning, OCR and format."""
    keys = (
        "format_version",
        "model_id",
        "dim",
        "query_prefix",
        "passage_prefix",
        "chunk_size",
        "chunk_overlap",
        "lexical_tokenizer",
        "cleaning_version",
        "ocr",  # scanned pages read another way: texts differ under the same file hashes
    )
    return all(getattr(previous, key) == getattr(manifest, key) for key in keys)


def is_up_to_date(previous: Manifest | None, settings: Settings, documents: list[Document], metadata: str = "") -> bool:
    """True if the live index was built from exactly these documents, titles and dates, with these settings."""
    if previous is None:
        return False
    return (
        previous.format_version == FORMAT_VERSION
        and previous.model_id == settings.embedding_model
        and previous.query_prefix == settings.query_prefix
        and previous.passage_prefix == settings.passage_prefix
        and previous.chunk_size == settings.chunk_size
        and previous.chunk_overlap == settings.chunk_overlap
        and previous.lexical_tokenizer == settings.lexical_tokenizer
        and previous.cleaning_version == CLEANING_VERSION
        and previous.documents == {d.doc_id: d.content_hash for d in documents}
        and previous.metadata == metadata
        and previous.ocr == ocr_fingerprint(settings.ocr)
        and previous.dense_index == index_kind(previous.chunk_count, settings.flat_max_vectors, settings.ann_index)
        and previous.sentence_index == index_kind(previous.sentence_count, settings.flat_max_vectors, SENTENCE_ANN)
    )


def build_index(
    settings: Settings,
    embedder: Embedder | None = None,
    progress: StageProgress | None = None,
    force: bool = False,
) -> BuildReport:
    """Build or update the index of ``settings.corpus_dir`` in the configured store.

    The build lock is held in ``settings.index_dir`` whichever store holds the index.

    Args:
        settings: corpus and index folders, model, chunker settings.
        embedder: an already loaded model (the server passes its own); loaded on demand otherwise.
        progress: called with (stage, done, total); a terminal progress bar is shown when None.
        force: rebuild even when nothing changed.
    Raises:
        IndexLockedError: another build is running.
        ConfigError: the model cannot be loaded.
        StoreUnavailableError: the Milvus server cannot be reached.
    """
    started = time.perf_counter()
    report = progress or _terminal_progress()
    with build_lock(settings.index_dir):
        documents, skipped = load_corpus(
            settings.corpus_dir,
            max_bytes=settings.max_document_mb * 2**20,
            ocr=OcrReader.from_settings(settings, report),
        )
        if not documents:
            raise EmptyCorpusError(
                f"no readable document in {settings.corpus_dir} ({len(skipped)} skipped); "
                "add .txt, .md, .html, .pdf, .docx, .png, .jpg or .tif files and index again"
            )
        overrides = read_overrides(settings.corpus_dir)
        documents = apply_overrides(documents, overrides)
        metadata = overrides_hash(overrides)
        writer = open_writer(settings)
        previous = writer.live_manifest()
        old_hashes = previous.documents if previous else {}
        new_hashes = {d.doc_id: d.content_hash for d in documents}
        added = tuple(sorted(set(new_hashes) - set(old_hashes)))
        removed = tuple(sorted(set(old_hashes) - set(new_hashes)))
        changed = tuple(sorted(k for k in new_hashes if k in old_hashes and old_hashes[k] != new_hashes[k]))
        if not force and previous is not None and is_up_to_date(previous, settings, documents, metadata):
            return BuildReport(
                len(documents),
                previous.chunk_count,
                previous.sentence_count,
                (),
                (),
                (),
                tuple(skipped),
                0,
                time.perf_counter() - started,
                up_to_date=True,
            )
        chunks, sentences = split_corpus(documents, settings)
        cache = EmbeddingCache(
            settings.cache_dir / "embeddings.sqlite", settings.embedding_model, settings.passage_prefix
        )
        try:
            lazy = _LazyEmbedder(settings, embedder)
            chunk_vectors, embedded_chunks = embed_with_cache(
                lazy, cache, [c.text for c in chunks], lambda d, t: report("chunks", d, t)
            )
            sentence_vectors, embedded_sentences = embed_with_cache(
                lazy, cache, [s.text for s in sentences], lambda d, t: report("sentences", d, t)
            )
        finally:
            cache.close()
        dim = chunk_vectors.shape[1] or lazy.dim
        if previous and previous.model_id == settings.embedding_model and previous.dim != dim:
            raise IndexMismatchError(f"model dimension changed from {previous.dim} to {dim}; rebuild with --force")
        manifest = manifest_for(settings, dim, documents, len(chunks), len(sentences), metadata)
        contents = IndexContents(
            manifest, documents, chunks, sentences, chunk_vectors.reshape(-1, dim), sentence_vectors
        )
        same_settings = not force and previous is not None and same_build_settings(previous, manifest)
        changes = DocumentChanges(added, changed, removed) if same_settings else None
        writer.write(contents, changes, report)
    return BuildReport(
        documents=len(documents),
        chunks=len(chunks),
        sentences=len(sentences),
        added=added,
        changed=changed,
        removed=removed,
        skipped=tuple(skipped),
        embedded=embedded_chunks + embedded_sentences,
        seconds=time.perf_counter() - started,
    )


def split_corpus(documents: list[Document], settings: Settings) -> tuple[list[Chunk], list[Sentence]]:
    """Chunks and sentences of all documents, with global ids in document order."""
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    for doc in documents:
        chunks.extend(chunk_document(doc, splitter, first_id=len(chunks)))
        sentences.extend(split_sentences(doc, first_id=len(sentences)))
    return chunks, sentences


def flat_index(vectors: np.ndarray, dim: int) -> faiss.Index:
    """Exact inner-product search over normalized vectors (cosine similarity)."""
    return build_vector_index(np.asarray(vectors, dtype=np.float32).reshape(-1, dim), FLAT)


class _LazyEmbedder:
    """Loads the model only when a text is missing from the cache."""

    def __init__(self, settings: Settings, embedder: Embedder | None) -> None:
        self.settings = settings
        self._embedder = embedder
        self.model_id = settings.embedding_model

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = SentenceTransformerEmbedder(self.settings)
        return self._embedder

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed_query(text)

    def embed_documents(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        return self.embedder.embed_documents(texts, progress)


def _terminal_progress() -> StageProgress:
    """A tqdm bar per stage on a terminal; silent when stderr is a pipe."""
    bars: dict[str, tqdm] = {}
    quiet = not sys.stderr.isatty()

    def report(stage: str, done: int, total: int) -> None:
        if quiet or stage == "write":
            return
        bar = bars.get(stage)
        if bar is not None and (done < bar.n or total != bar.total):  # OCR: a bar per file
            bar.close()
            bar = None
        if bar is None:
            desc, unit = ("OCR", "page") if stage == "ocr" else (f"embedding {stage}", "text")
            bar = bars[stage] = tqdm(total=total, desc=desc, unit=unit)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return report
