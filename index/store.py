"""The index on disk: a directory of plain files, swapped in atomically.

Layout of ``<index_dir>``::

    CURRENT              name of the live build directory (replaced atomically)
    .lock                held while a build runs
    build-<stamp>/       one complete build:
        manifest.json        format version, model, chunker, per-document hashes
        documents.jsonl      cleaned documents (text, title, date, hash)
        chunks.npy           int64 rows (document row, start, end)
        sentences.npy        int64 rows (document row, start, end)
        sentence_vectors.npy float32, normalized, one row per sentence
        dense.faiss          FAISS inner-product index over chunk vectors
        bm25/                bm25s index over chunk tokens

A new build is written beside the live one and ``CURRENT`` is replaced by
rename, so a build killed at any point leaves the previous index loadable.
No pickle anywhere.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from index.errors import IndexMismatchError, IndexMissingError
from index.lexical import LexicalIndex
from index.types import Chunk, Document, Sentence

FORMAT_VERSION = 1
CURRENT = "CURRENT"


@dataclass(frozen=True)
class Manifest:
    """What an index was built from and with."""

    format_version: int
    model_id: str
    dim: int
    query_prefix: str
    passage_prefix: str
    chunk_size: int
    chunk_overlap: int
    lexical_tokenizer: str
    documents: dict[str, str]  # doc id → content hash
    chunk_count: int
    sentence_count: int
    cleaning_version: int = 0
    built_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))


@dataclass
class IndexData:
    """Everything a built index holds, in memory."""

    manifest: Manifest
    documents: list[Document]
    chunks: list[Chunk]
    sentences: list[Sentence]
    sentence_vectors: np.ndarray
    dense: faiss.Index
    lexical: LexicalIndex
    build_dir: Path | None = None
    _doc_rows: dict[str, int] = field(default_factory=dict, repr=False)
    _sentence_starts: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _sentence_firsts: dict[str, int] = field(default_factory=dict, repr=False)
    _chunk_starts: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _chunk_firsts: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._doc_rows = {d.doc_id: i for i, d in enumerate(self.documents)}
        for s in self.sentences:
            self._sentence_firsts.setdefault(s.doc_id, s.sentence_id)
            self._sentence_starts.setdefault(s.doc_id, []).append(s.start)
        for c in self.chunks:
            self._chunk_firsts.setdefault(c.doc_id, c.chunk_id)
            self._chunk_starts.setdefault(c.doc_id, []).append(c.start)

    def document(self, doc_id: str) -> Document:
        """The document with this id."""
        return self.documents[self._doc_rows[doc_id]]

    def sentences_in(self, chunk: Chunk) -> list[Sentence]:
        """The sentences that overlap a chunk, in order."""
        starts = self._sentence_starts.get(chunk.doc_id, [])
        first = self._sentence_firsts.get(chunk.doc_id, 0)
        lo = max(bisect.bisect_right(starts, chunk.start) - 1, 0)
        hi = bisect.bisect_left(starts, chunk.end)
        found = [self.sentences[first + i] for i in range(lo, hi)]
        return [s for s in found if s.end > chunk.start and s.start < chunk.end]

    def chunks_containing(self, sentence: Sentence) -> list[int]:
        """Ids of the chunks that overlap a sentence (overlapping chunks can share one)."""
        starts = self._chunk_starts.get(sentence.doc_id, [])
        first = self._chunk_firsts.get(sentence.doc_id, 0)
        hi = bisect.bisect_left(starts, sentence.end)
        ids = []
        for i in range(hi - 1, -1, -1):
            chunk = self.chunks[first + i]
            if chunk.end > sentence.start:
                ids.append(chunk.chunk_id)
            elif chunk.end <= sentence.start and i < hi - 2:
                break
        return sorted(ids)


def current_build(index_dir: Path) -> Path | None:
    """The live build directory, or None if there is no complete index."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    build = index_dir / pointer.read_text(encoding="utf-8").strip()
    return build if (build / "manifest.json").is_file() else None


def read_manifest(index_dir: Path) -> Manifest | None:
    """The live build's manifest, or None if there is no index."""
    build = current_build(index_dir)
    if build is None:
        return None
    return Manifest(**json.loads((build / "manifest.json").read_text(encoding="utf-8")))


def check_compatible(manifest: Manifest, model_id: str) -> None:
    """Raise IndexMismatchError if the index cannot serve queries embedded with ``model_id``."""
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index was written in format {manifest.format_version}, this version reads format "
            f"{FORMAT_VERSION}; rebuild it with `policyqa index`"
        )
    if manifest.model_id != model_id:
        raise IndexMismatchError(
            f"the index was built with the embedding model {manifest.model_id!r} but {model_id!r} is "
            "configured; rebuild it with `policyqa index` or configure the index's model"
        )


def write_index(index_dir: Path, data: IndexData) -> Path:
    """Write a complete build beside the live one, then make it live. Returns the build dir."""
    index_dir.mkdir(parents=True, exist_ok=True)
    build = index_dir / f"build-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    build.mkdir()
    rows = {d.doc_id: i for i, d in enumerate(data.documents)}
    with open(build / "documents.jsonl", "w", encoding="utf-8") as out:
        for doc in data.documents:
            out.write(json.dumps(asdict(doc), ensure_ascii=False) + "\n")
    np.save(build / "chunks.npy", _span_rows(data.chunks, rows), allow_pickle=False)
    np.save(build / "sentences.npy", _span_rows(data.sentences, rows), allow_pickle=False)
    np.save(build / "sentence_vectors.npy", data.sentence_vectors.astype(np.float32), allow_pickle=False)
    faiss.write_index(data.dense, str(build / "dense.faiss"))
    data.lexical.save(build / "bm25")
    # The manifest is written last: a build directory without one is incomplete.
    _write_durably(build / "manifest.json", json.dumps(asdict(data.manifest), ensure_ascii=False, indent=1))
    _fsync_dir(build)
    _write_durably(index_dir / (CURRENT + ".tmp"), build.name)
    os.replace(index_dir / (CURRENT + ".tmp"), index_dir / CURRENT)
    _fsync_dir(index_dir)
    remove_stale_builds(index_dir)
    return build


def remove_stale_builds(index_dir: Path) -> None:
    """Delete build directories other than the live one (leftovers of killed builds included)."""
    live = current_build(index_dir)
    for path in index_dir.glob("build-*"):
        if path.is_dir() and path != live:
            shutil.rmtree(path, ignore_errors=True)


def load_index(index_dir: Path, model_id: str | None = None, mmap: bool = False) -> IndexData:
    """Load the live build of an index.

    Args:
        index_dir: the index directory.
        model_id: when given, the index must have been built with this model.
        mmap: memory-map the large arrays instead of reading them.
    Raises:
        IndexMissingError: there is no complete index in ``index_dir``.
        IndexMismatchError: the index was built with another model or format.
    """
    build = current_build(index_dir)
    if build is None:
        raise IndexMissingError(f"no index in {index_dir}; build one with `policyqa index`")
    manifest = Manifest(**json.loads((build / "manifest.json").read_text(encoding="utf-8")))
    check_compatible(manifest, model_id or manifest.model_id)
    documents = [
        Document(**json.loads(line))
        for line in (build / "documents.jsonl").read_text(encoding="utf-8").splitlines()
        if line
    ]
    mode = "r" if mmap else None
    chunk_rows = np.load(build / "chunks.npy", mmap_mode=mode, allow_pickle=False)
    sentence_rows = np.load(build / "sentences.npy", mmap_mode=mode, allow_pickle=False)
    return IndexData(
        manifest=manifest,
        documents=documents,
        chunks=[Chunk(i, *_span(documents, row)) for i, row in enumerate(chunk_rows)],
        sentences=[Sentence(i, *_span(documents, row)) for i, row in enumerate(sentence_rows)],
        sentence_vectors=np.load(build / "sentence_vectors.npy", mmap_mode=mode, allow_pickle=False),
        dense=faiss.read_index(str(build / "dense.faiss")),
        lexical=LexicalIndex.load(build / "bm25", manifest.lexical_tokenizer, mmap=mmap),
        build_dir=build,
    )


def _span_rows(spans: list[Chunk] | list[Sentence], rows: dict[str, int]) -> np.ndarray:
    return np.array([(rows[s.doc_id], s.start, s.end) for s in spans], dtype=np.int64).reshape(-1, 3)


def _span(documents: list[Document], row: np.ndarray) -> tuple[str, int, int, str]:
    doc = documents[int(row[0])]
    start, end = int(row[1]), int(row[2])
    return doc.doc_id, start, end, doc.text[start:end]


def _write_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
