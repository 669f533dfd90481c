"""Build or update the index of a corpus folder, incrementally, in bounded memory.

    corpus files ─ hashes equal the live manifest's? ─ yes → up to date (the model never loads)
        │ no
    read + clean + chunk one document at a time → documents.jsonl and span rows of a new
        build directory in ``index_dir`` (index.store.start_build)
    vectors: cached ones copied, the rest embedded batch by batch into vector files and the
        cache (index.vectorize)
    the configured store's writer makes it live (index.stores.StoreWriter), reading documents,
        spans and vectors from those files one at a time:
        local store: BM25 and FAISS beside them, manifest last, then the switch (the build
            directory becomes the live one, index.local_store)
        Milvus: rows inserted document by document; the build directory is removed after

No stage holds every text or every vector (issue 15): besides the model, a build holds one
window of texts and one batch of vectors, span offsets (24 bytes a span), BM25's postings
(12 bytes a distinct token of a chunk) and the vector index itself (1.5 KB a chunk while it is
exact). Every embedded batch is in the cache at once, so a build that was killed (or
interrupted) starts again where it stopped.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from index.chunk import chunk_document, make_splitter, split_sentences
from index.clean import CLEANING_VERSION
from index.embed import Batch, Embedder, EmbeddingCache, ProgressCallback, SentenceTransformerEmbedder
from index.errors import DocumentError, EmptyCorpusError, IndexLockedError, IndexMismatchError
from index.load import SkippedFile, check_size, corpus_files, load_document
from index.manifest import FORMAT_VERSION, Manifest
from index.metadata import apply_overrides, overrides_hash, read_overrides
from index.ocr import OcrReader, ocr_fingerprint
from index.settings import Settings
from index.store import DocumentTable, SpanTable, current_build, document_line, start_build
from index.stores import DocumentChanges, IndexContents, StageProgress, StoreWriter, open_writer
from index.types import Chunk, Sentence
from index.vectorize import Spans, embed_spans
from index.vectors import SENTENCE_ANN, index_kind

log = logging.getLogger(__name__)

# StageProgress is called with (stage name, done, total); the UI turns it into a progress bar.
# Stages, in order: "read" (files), "ocr" (pages of a file), "embed" (texts not in the cache),
# "write" (the store's own count).


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


@dataclass
class StagedCorpus:
    """The documents of a build as written to its documents.jsonl, and their spans as rows."""

    hashes: dict[str, str]  # doc id → content hash, in row order
    chunk_rows: np.ndarray  # (n, 3) int64: document row, start, end
    sentence_rows: np.ndarray
    skipped: list[SkippedFile]


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
    settings: Settings, dim: int, hashes: Mapping[str, str], chunks: int, sentences: int, metadata: str = ""
) -> Manifest:
    """The manifest of an index built from these documents (id → content hash) with these settings.

    ``metadata`` is the hash of the titles and dates set in the 知识库 tab (``index.metadata.overrides_hash``).
    """
    return Manifest(
        format_version=FORMAT_VERSION,
        model_id=settings.embedding_model,
        dim=dim,
        query_prefix=settings.query_prefix,
        passage_prefix=settings.passage_prefix,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        lexical_tokenizer=settings.lexical_tokenizer,
        documents=dict(hashes),
        chunk_count=chunks,
        sentence_count=sentences,
        cleaning_version=CLEANING_VERSION,
        dense_index=index_kind(chunks, settings.flat_max_vectors, settings.ann_index),
        sentence_index=index_kind(sentences, settings.flat_max_vectors, SENTENCE_ANN),
        metadata=metadata,
        ocr=ocr_fingerprint(settings.ocr),
    )


def is_up_to_date(previous: Manifest | None, settings: Settings, hashes: Mapping[str, str], metadata: str = "") -> bool:
    """True if the live index was built from these documents (id → hash), titles and dates, with these settings."""
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
        and previous.documents == dict(hashes)
        and previous.metadata == metadata
        and previous.ocr == ocr_fingerprint(settings.ocr)
        and previous.dense_index == index_kind(previous.chunk_count, settings.flat_max_vectors, settings.ann_index)
        and previous.sentence_index == index_kind(previous.sentence_count, settings.flat_max_vectors, SENTENCE_ANN)
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


def build_index(
    settings: Settings,
    embedder: Embedder | None = None,
    progress: StageProgress | None = None,
    force: bool = False,
    refused: Mapping[str, str] | None = None,
) -> BuildReport:
    """Build or update the index of ``settings.corpus_dir`` in the configured store.

    The build lock, and the files a build streams into, are in ``settings.index_dir`` whichever
    store holds the index.

    Args:
        settings: corpus and index folders, store, model, chunker settings.
        embedder: an already loaded model (the server passes its own); loaded on demand otherwise.
        progress: called with (stage, done, total); a terminal progress bar is shown when None.
        force: rebuild even when nothing changed.
        refused: corpus files to leave out, by document id, with the reason (reported as skipped);
            the folder watch passes the files that fail the upload checks.
    Raises:
        IndexLockedError: another build is running.
        EmptyCorpusError: no document could be read.
        ConfigError: the model cannot be loaded.
        StoreUnavailableError: the Milvus server cannot be reached.
    """
    started = time.perf_counter()
    report = progress or _terminal_progress()
    with build_lock(settings.index_dir):
        writer = open_writer(settings)
        previous = writer.live_manifest()
        files, skipped = candidate_files(settings, refused or {})
        overrides = read_overrides(settings.corpus_dir)
        metadata = overrides_hash(overrides)
        if not force and previous is not None and is_up_to_date(previous, settings, _file_hashes(files), metadata):
            return _unchanged(previous, skipped, started)
        remove_unfinished_builds(settings.index_dir)
        build = start_build(settings.index_dir)
        try:
            staged = stage_documents(
                files,
                build,
                settings,
                lambda done, total: report("read", done, total),
                overrides,
                OcrReader.from_settings(settings, report),
            )
            staged.skipped[:0] = skipped
            if not staged.hashes:
                raise EmptyCorpusError(
                    f"no readable document in {settings.corpus_dir} ({len(staged.skipped)} skipped); "
                    "add .txt, .md, .html, .pdf, .docx, .png, .jpg or .tif files and index again"
                )
            if not force and previous is not None and is_up_to_date(previous, settings, staged.hashes, metadata):
                shutil.rmtree(build, ignore_errors=True)
                return _unchanged(previous, staged.skipped, started)
            changes = _changes(previous.documents if previous else {}, staged.hashes)
            embedded = _complete_build(
                settings, writer, build, staged, previous, embedder, report, metadata, None if force else changes
            )
        finally:
            # The local store made the directory live; another store only read its files.
            if current_build(settings.index_dir) != build:
                shutil.rmtree(build, ignore_errors=True)
    return BuildReport(
        documents=len(staged.hashes),
        chunks=len(staged.chunk_rows),
        sentences=len(staged.sentence_rows),
        added=changes.added,
        changed=changes.changed,
        removed=changes.removed,
        skipped=tuple(staged.skipped),
        embedded=embedded,
        seconds=time.perf_counter() - started,
    )


def _changes(old: Mapping[str, str], new: Mapping[str, str]) -> DocumentChanges:
    """Documents added, changed and removed between two {id: content hash} maps, each sorted."""
    return DocumentChanges(
        added=tuple(sorted(set(new) - set(old))),
        changed=tuple(sorted(k for k in new if k in old and old[k] != new[k])),
        removed=tuple(sorted(set(old) - set(new))),
    )


def remove_unfinished_builds(index_dir: Path) -> None:
    """Delete build directories that have no manifest: what killed builds left (the caller
    holds the build lock, so none is being written). Complete ones are the local store's."""
    for leftover in index_dir.glob("build-*"):
        if leftover.is_dir() and not (leftover / "manifest.json").is_file():
            shutil.rmtree(leftover, ignore_errors=True)


def candidate_files(settings: Settings, refused: Mapping[str, str]) -> tuple[list[tuple[str, Path]], list[SkippedFile]]:
    """The corpus files to read, and those left out (refused, or larger than ``max_document_mb``)."""
    max_bytes = settings.max_document_mb * 2**20
    files, skipped = [], []
    for doc_id, path in corpus_files(settings.corpus_dir):
        if doc_id in refused:
            skipped.append(SkippedFile(doc_id, refused[doc_id]))
            continue
        try:
            check_size(doc_id, path.stat().st_size, max_bytes)
        except (DocumentError, OSError) as exc:
            log.warning("skipped %s", exc)
            skipped.append(SkippedFile(doc_id, str(exc)))
            continue
        files.append((doc_id, path))
    return files, skipped


def _file_hashes(files: Iterable[tuple[str, Path]]) -> dict[str, str]:
    """Content hashes of the files' bytes (what the manifest records), or {} if one cannot be read."""
    hashes = {}
    for doc_id, path in files:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as data:
                while block := data.read(1 << 20):
                    digest.update(block)
        except OSError:
            return {}  # the full read reports it
        hashes[doc_id] = digest.hexdigest()
    return hashes


def _unchanged(previous: Manifest, skipped: Sequence[SkippedFile], started: float) -> BuildReport:
    return BuildReport(
        len(previous.documents),
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


def stage_documents(
    files: Sequence[tuple[str, Path]],
    build: Path,
    settings: Settings,
    progress: Callable[[int, int], None] = lambda done, total: None,
    overrides: dict[str, dict[str, str]] | None = None,
    ocr: OcrReader | None = None,
) -> StagedCorpus:
    """Read, clean and split the files one at a time into ``build/documents.jsonl`` and span rows.

    Unreadable files are skipped with the reason; only span offsets stay in memory. ``overrides``
    (``index.metadata.read_overrides``) replace the titles and dates the cleaner found. ``ocr``
    reads scanned PDF pages and pictures (None: no OCR); each document keeps its page starts
    and OCR pages, so the spans read back from the build carry their page.
    """
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    hashes: dict[str, str] = {}
    chunk_parts, sentence_parts = [np.empty((0, 3), np.int64)], [np.empty((0, 3), np.int64)]
    skipped: list[SkippedFile] = []
    with open(build / "documents.jsonl", "w", encoding="utf-8") as out:
        for done, (doc_id, path) in enumerate(files):
            progress(done, len(files))
            try:
                doc = load_document(path, doc_id, ocr=ocr)
            except (DocumentError, OSError) as exc:
                log.warning("skipped %s", exc)
                skipped.append(SkippedFile(doc_id, str(exc)))
                continue
            (doc,) = apply_overrides([doc], overrides or {})
            row = len(hashes)
            out.write(document_line(doc))
            hashes[doc_id] = doc.content_hash
            chunk_parts.append(_rows(row, chunk_document(doc, splitter)))
            sentence_parts.append(_rows(row, split_sentences(doc)))
        progress(len(files), len(files))
    return StagedCorpus(hashes, np.concatenate(chunk_parts), np.concatenate(sentence_parts), skipped)


def _rows(doc_row: int, spans: Sequence[Chunk] | Sequence[Sentence]) -> np.ndarray:
    return np.array([(doc_row, s.start, s.end) for s in spans], dtype=np.int64).reshape(-1, 3)


def _complete_build(
    settings: Settings,
    writer: StoreWriter,
    build: Path,
    staged: StagedCorpus,
    previous: Manifest | None,
    embedder: Embedder | None,
    report: StageProgress,
    metadata: str = "",
    changes: DocumentChanges | None = None,
) -> int:
    """Vectors and manifest for a staged build, then the store's writer makes it live; returns texts embedded.

    ``changes`` (None with ``--force``) reach the writer only if the live index was built with
    the same settings, so that a store may add and delete just those documents.
    """
    documents = DocumentTable(build / "documents.jsonl")
    chunk_path, sentence_path = build / "chunk_vectors.npy", build / "sentence_vectors.npy"
    cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", settings.embedding_model, settings.passage_prefix)
    try:
        embedded = embed_spans(
            [Spans(staged.chunk_rows, chunk_path), Spans(staged.sentence_rows, sentence_path)],
            documents,
            cache,
            _LazyEmbedder(settings, embedder),
            lambda done, total: report("embed", done, total),
        )
    finally:
        cache.close()
    dim = embedded.dim
    if previous and previous.model_id == settings.embedding_model and previous.dim != dim:
        raise IndexMismatchError(f"model dimension changed from {previous.dim} to {dim}; rebuild with --force")
    manifest = manifest_for(settings, dim, staged.hashes, len(staged.chunk_rows), len(staged.sentence_rows), metadata)
    contents = IndexContents(
        manifest,
        documents,
        SpanTable(staged.chunk_rows, documents, Chunk),
        SpanTable(staged.sentence_rows, documents, Sentence),
        np.load(chunk_path, mmap_mode="r", allow_pickle=False),
        np.load(sentence_path, mmap_mode="r", allow_pickle=False),
        directory=build,
    )
    same_settings = previous is not None and same_build_settings(previous, manifest)
    writer.write(contents, changes if same_settings else None, report)
    return embedded.texts


class _LazyEmbedder:
    """Loads the model only when a text is missing from the cache."""

    def __init__(self, settings: Settings, embedder: Embedder | None) -> None:
        self.settings = settings
        self._embedder = embedder
        self.model_id = settings.embedding_model

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = SentenceTransformerEmbedder(self.settings, passages_only=True)
        return self._embedder

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed_query(text)

    def embed_documents(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        return self.embedder.embed_documents(texts, progress)

    def embed_batches(self, texts: Sequence[str]) -> Iterator[Batch]:
        return self.embedder.embed_batches(texts)


def _terminal_progress() -> StageProgress:
    """A tqdm bar (count, rate and time left) per stage on a terminal; silent when stderr is a pipe."""
    bars: dict[str, tqdm] = {}
    quiet = not sys.stderr.isatty()
    names = {"read": "reading files", "ocr": "OCR", "embed": "embedding texts"}

    def report(stage: str, done: int, total: int) -> None:
        if quiet or stage not in names or total <= 0:
            return
        bar = bars.get(stage)
        if bar is not None and (done < bar.n or total != bar.total):  # OCR: a bar per file
            bar.close()
            bar = None
        if bar is None:
            unit = "page" if stage == "ocr" else "file" if stage == "read" else "text"
            bar = bars[stage] = tqdm(total=total, desc=names[stage], unit=unit, smoothing=0.1)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return report
