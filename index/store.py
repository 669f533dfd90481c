"""The index on disk: a directory of plain files, swapped in atomically.

Layout of ``<index_dir>``::

    CURRENT              name of the live build directory (replaced atomically)
    .lock                held while a build runs
    build-<stamp>/       one complete build:
        manifest.json        format version, model, chunker, index kinds, per-document hashes
        documents.jsonl      cleaned documents (text, title, date, hash)
        chunks.npy           int64 rows (document row, start, end)
        sentences.npy        int64 rows (document row, start, end)
        sentence_chunks.npy  int64 rows (first chunk, chunk after the last) holding each sentence
        sentence_vectors.npy float32, normalized, one row per sentence
        dense.faiss          FAISS inner-product index over chunk vectors (flat, or approximate)
        chunk_vectors.npy    float32 chunk vectors, only when dense.faiss is approximate
        sentences.faiss      approximate index over sentence vectors, only above the flat size
        bm25/                bm25s index over chunk tokens

A new build is written beside the live one and ``CURRENT`` is replaced by
rename, so a build killed at any point leaves the previous index loadable.
``policyqa index`` fills its build directory as it goes (``start_build``; documents and
vectors are streamed into it, ``VectorFile``) and ``write_index`` completes it; a directory
left without a manifest by a killed build is removed by the next one that completes.
No pickle anywhere. Indexes written before ``sentence_chunks.npy`` and the
approximate kinds existed load unchanged (the map is computed on load).

Large indexes (more than ``LARGE_INDEX_CHUNKS`` chunks) are opened memory-mapped:
arrays, BM25 postings and exact vectors stay on disk, and document text is read
from ``documents.jsonl`` when a document is asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import InitVar, asdict, dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, overload

import faiss
import numpy as np

from index.errors import IndexMissingError
from index.lexical import LexicalIndex
from index.manifest import FLAT, Manifest, check_compatible, manifest_from
from index.types import Chunk, Document, Sentence
from index.vectors import VectorIndex, configure_search

CURRENT = "CURRENT"
# Above this many chunks an index is opened memory-mapped with text left on disk: at 10^6
# chunks it then holds 1.2 KB of RAM per chunk (bench/README.md, "Scale").
LARGE_INDEX_CHUNKS = 50_000
# Documents kept parsed when text is read from disk (a question touches ≤ 10).
DOCUMENT_CACHE = 64
# In large indexes BM25 leaves out query tokens found in more than this share of chunks
# (index.lexical.LexicalIndex._without_common; bench/README.md, "Scale").
LARGE_INDEX_MAX_DF_SHARE = 0.05


T = TypeVar("T")
SpanT = TypeVar("SpanT", Chunk, Sentence)


class _LazyTable(Sequence[T]):
    """A read-only sequence whose items are made on access by ``_item(i)``, 0 <= i < len."""

    def _item(self, i: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"row {i} out of range (0..{len(self) - 1})")
        return self._item(i)

    def __iter__(self) -> Iterator[T]:
        return (self._item(i) for i in range(len(self)))


class SpanTable(_LazyTable[SpanT]):
    """Chunks or sentences as rows (document row, start, end), made into records on access.

    Holding ten million spans as arrays costs 24 bytes each (on disk when memory-mapped)
    instead of a Python object with its own copy of the text.
    """

    def __init__(self, rows: np.ndarray, documents: Sequence[Document], record: type[SpanT]) -> None:
        self.rows = rows
        self.documents = documents
        self.record: type[SpanT] = record

    def __len__(self) -> int:
        return len(self.rows)

    def _item(self, i: int) -> SpanT:
        row, start, end = (int(x) for x in self.rows[i])
        doc = self.documents[row]
        return self.record(i, doc.doc_id, start, end, doc.text[start:end], doc.page_at(start))


class DocumentTable(_LazyTable[Document]):
    """Documents read from ``documents.jsonl`` on access (one JSON line each), a few kept parsed.

    Lines are read with ``pread``, not through a memory map, so the text of documents
    never asked for is not counted in the process's resident memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "rb")  # noqa: SIM115 (open as long as the index is loaded)
        ends = []
        offset = 0
        while block := self._file.read(1 << 24):
            ends.append(np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == ord("\n")) + offset)
            offset += len(block)
        self._ends = np.concatenate(ends) if ends else np.empty(0, dtype=np.int64)
        self._starts = np.concatenate(([0], self._ends[:-1] + 1)) if len(self._ends) else self._ends
        self._cache: OrderedDict[int, Document] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ends)

    def _item(self, i: int) -> Document:
        doc = self._cache.get(i)
        if doc is None:
            start, end = int(self._starts[i]), int(self._ends[i])
            doc = Document(**json.loads(os.pread(self._file.fileno(), end - start, start)))
            self._cache[i] = doc
            if len(self._cache) > DOCUMENT_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return doc


@dataclass
class IndexData:
    """Everything a built index holds: in memory, or memory-mapped for large indexes."""

    manifest: Manifest
    documents: Sequence[Document]
    chunks: Sequence[Chunk]
    sentences: Sequence[Sentence]
    sentence_vectors: np.ndarray
    dense: faiss.Index
    lexical: LexicalIndex
    build_dir: Path | None = None
    # Exact chunk vectors, when ``dense`` is approximate (re-ranking reads them).
    chunk_vectors: np.ndarray | None = None
    # Approximate index over sentence vectors; None means exact search over them.
    sentence_ann: faiss.Index | None = None
    # The sentence → chunks map as written (sentence_chunks.npy); None: computed on load.
    stored_sentence_chunks: InitVar[np.ndarray | None] = None
    _doc_rows: dict[str, int] = field(default_factory=dict, repr=False)
    _chunk_search: VectorIndex | None = field(default=None, repr=False)
    _sentence_search: VectorIndex | None = field(default=None, repr=False)

    # Per sentence: (first chunk, chunk after the last) of the chunks that overlap it.
    sentence_chunks: np.ndarray = field(init=False)
    _chunk_rows: np.ndarray = field(init=False, repr=False)
    _sentence_rows: np.ndarray = field(init=False, repr=False)

    def __post_init__(self, stored_sentence_chunks: np.ndarray | None) -> None:
        if isinstance(self.documents, DocumentTable):
            # Reading every line for its id would parse all text: the manifest lists ids in row order.
            self._doc_rows = {doc_id: i for i, doc_id in enumerate(self.manifest.documents)}
        else:
            self._doc_rows = {d.doc_id: i for i, d in enumerate(self.documents)}
        self._chunk_rows = span_rows(self.chunks, self._doc_rows)
        self._sentence_rows = span_rows(self.sentences, self._doc_rows)
        if stored_sentence_chunks is None:
            stored_sentence_chunks = chunks_of_sentences(self._chunk_rows, self._sentence_rows)
        self.sentence_chunks = stored_sentence_chunks

    def document(self, doc_id: str) -> Document:
        """The document with this id."""
        return self.documents[self._doc_rows[doc_id]]

    def chunk_counts(self) -> dict[str, int]:
        """Number of chunks per document id (from the row table: no chunk text is read)."""
        counts = np.bincount(np.asarray(self._chunk_rows[:, 0]), minlength=len(self._doc_rows))
        return {doc_id: int(counts[row]) for doc_id, row in self._doc_rows.items()}

    def sentences_in(self, chunk: Chunk) -> list[Sentence]:
        """The sentences that overlap a chunk, in order."""
        row = self._doc_rows[chunk.doc_id]
        first, stop = _rows_of_document(self._sentence_rows, row)
        starts = self._sentence_rows[first:stop, 1]
        ends = self._sentence_rows[first:stop, 2]
        lo = int(np.searchsorted(ends, chunk.start, side="right"))
        hi = int(np.searchsorted(starts, chunk.end, side="left"))
        found = [self.sentences[first + i] for i in range(lo, max(lo, hi))]
        return [s for s in found if s.end > chunk.start and s.start < chunk.end]

    def chunks_containing(self, sentence: Sentence) -> list[int]:
        """Ids of the chunks that overlap a sentence (overlapping chunks can share one)."""
        first, stop = (int(x) for x in self.sentence_chunks[sentence.sentence_id])
        return list(range(first, stop))

    def chunk_search(self) -> VectorIndex:
        """Search over chunk vectors (exact, or approximate and re-ranked)."""
        if self._chunk_search is None:
            self._chunk_search = VectorIndex(self.chunk_vectors, self.dense)
        return self._chunk_search

    def sentence_search(self) -> VectorIndex:
        """Search over sentence vectors (exact, or approximate and re-ranked)."""
        if self._sentence_search is None:
            self._sentence_search = VectorIndex(self.sentence_vectors, self.sentence_ann)
        return self._sentence_search


def span_rows(spans: Sequence[Chunk] | Sequence[Sentence], doc_rows: dict[str, int]) -> np.ndarray:
    """Rows (document row, start, end) of chunks or sentences, int64, shape (n, 3)."""
    if isinstance(spans, SpanTable):
        return spans.rows
    return np.array([(doc_rows[s.doc_id], s.start, s.end) for s in spans], dtype=np.int64).reshape(-1, 3)


def chunks_of_sentences(chunk_rows: np.ndarray, sentence_rows: np.ndarray) -> np.ndarray:
    """For each sentence, (first chunk, chunk after the last) of the chunks that overlap it.

    Both row arrays are in document order and, within a document, in text order; chunk
    starts and ends both increase (the splitter moves forward), so the overlapping chunks
    of a sentence are one run found by binary search on (document, offset) keys.
    """
    out = np.zeros((len(sentence_rows), 2), dtype=np.int64)
    if len(chunk_rows) == 0 or len(sentence_rows) == 0:
        return out
    scale = int(max(chunk_rows[:, 2].max(), sentence_rows[:, 2].max())) + 1
    chunk_starts = chunk_rows[:, 0] * scale + chunk_rows[:, 1]
    chunk_ends = chunk_rows[:, 0] * scale + chunk_rows[:, 2]
    sentence_starts = sentence_rows[:, 0] * scale + sentence_rows[:, 1]
    sentence_ends = sentence_rows[:, 0] * scale + sentence_rows[:, 2]
    out[:, 0] = np.searchsorted(chunk_ends, sentence_starts, side="right")  # first chunk ending after the start
    out[:, 1] = np.searchsorted(chunk_starts, sentence_ends, side="left")  # chunks starting before the end
    out[:, 1] = np.maximum(out[:, 0], out[:, 1])
    return out


def _rows_of_document(rows: np.ndarray, doc_row: int) -> tuple[int, int]:
    column = rows[:, 0]
    return int(np.searchsorted(column, doc_row, side="left")), int(np.searchsorted(column, doc_row, side="right"))


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
    return _parse_manifest(build / "manifest.json")


def _parse_manifest(path: Path) -> Manifest:
    return manifest_from(json.loads(path.read_text(encoding="utf-8")))


def start_build(index_dir: Path) -> Path:
    """A new, empty build directory beside the live one (live once ``write_index`` completes it)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    build = index_dir / f"build-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    build.mkdir()
    return build


def document_line(doc: Document) -> str:
    """One line of ``documents.jsonl``."""
    return json.dumps(asdict(doc), ensure_ascii=False) + "\n"


def write_index(index_dir: Path, data: IndexData, build: Path | None = None) -> Path:
    """Write a complete build beside the live one, then make it live. Returns the build dir.

    Args:
        index_dir: the index directory.
        data: what the build holds.
        build: a directory from ``start_build`` that a streaming build has begun to fill:
            ``documents.jsonl``, ``sentence_vectors.npy`` and ``chunk_vectors.npy`` already
            in it are kept as they are (they are what ``data`` reads); by default a new one.
    """
    build = build or start_build(index_dir)
    if not (build / "documents.jsonl").is_file():
        with open(build / "documents.jsonl", "w", encoding="utf-8") as out:
            for doc in data.documents:
                out.write(document_line(doc))
    np.save(build / "chunks.npy", data._chunk_rows, allow_pickle=False)
    np.save(build / "sentences.npy", data._sentence_rows, allow_pickle=False)
    np.save(build / "sentence_chunks.npy", np.asarray(data.sentence_chunks, dtype=np.int64), allow_pickle=False)
    if not (build / "sentence_vectors.npy").is_file():
        _save_vectors(build / "sentence_vectors.npy", data.sentence_vectors)
    faiss.write_index(data.dense, str(build / "dense.faiss"))
    if data.chunk_vectors is None:
        # A flat index holds its vectors; a streaming build's copy is not part of the layout.
        (build / "chunk_vectors.npy").unlink(missing_ok=True)
    elif not (build / "chunk_vectors.npy").is_file():
        _save_vectors(build / "chunk_vectors.npy", data.chunk_vectors)
    if data.sentence_ann is not None:
        faiss.write_index(data.sentence_ann, str(build / "sentences.faiss"))
    data.lexical.save(build / "bm25")
    # The manifest is written last: a build directory without one is incomplete.
    _write_durably(build / "manifest.json", json.dumps(asdict(data.manifest), ensure_ascii=False, indent=1))
    _fsync_dir(build)
    _write_durably(index_dir / (CURRENT + ".tmp"), build.name)
    os.replace(index_dir / (CURRENT + ".tmp"), index_dir / CURRENT)
    _fsync_dir(index_dir)
    remove_stale_builds(index_dir)
    return build


def _save_vectors(path: Path, vectors: np.ndarray) -> None:
    """Save float32 vectors, in slices when they are large (they may be a memory map)."""
    if vectors.dtype == np.float32 and len(vectors) <= 1 << 18:
        np.save(path, vectors, allow_pickle=False)
        return
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=vectors.shape)
    for begin in range(0, len(vectors), 1 << 18):
        out[begin : begin + (1 << 18)] = vectors[begin : begin + (1 << 18)]
    out.flush()
    del out


class VectorFile:
    """A float32 ``.npy`` array of shape (rows, dim), written row by row as vectors come.

    Rows are written with ``pwrite``, not through a memory map: pages written through a
    map count in the process's resident memory until the kernel writes them back, so a
    large build would grow with the corpus. The file is complete once every row is written.
    """

    def __init__(self, path: Path, rows: int, dim: int) -> None:
        self.path = path
        self.rows = rows
        self.dim = dim
        self._row_bytes = dim * 4
        with open(path, "wb") as out:
            np.lib.format.write_array_header_1_0(
                out,
                {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False, "shape": (rows, dim)},
            )
            self._offset = out.tell()
            out.truncate(self._offset + rows * self._row_bytes)
        self._fd = os.open(path, os.O_WRONLY)

    def write(self, rows: Sequence[int], vectors: np.ndarray) -> None:
        """Write ``vectors[i]`` as row ``rows[i]``; runs of consecutive rows in one call."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4").reshape(len(rows), self.dim)
        i = 0
        while i < len(rows):
            j = i + 1
            while j < len(rows) and rows[j] == rows[j - 1] + 1:
                j += 1
            os.pwrite(self._fd, vectors[i:j].tobytes(), self._offset + int(rows[i]) * self._row_bytes)
            i = j

    def close(self) -> None:
        """Flush and close the file (``np.load`` reads it afterwards)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def remove_stale_builds(index_dir: Path) -> None:
    """Delete build directories other than the live one (leftovers of killed builds included)."""
    live = current_build(index_dir)
    for path in index_dir.glob("build-*"):
        if path.is_dir() and path != live:
            shutil.rmtree(path, ignore_errors=True)


def load_index(index_dir: Path, model_id: str | None = None, mmap: bool | None = None) -> IndexData:
    """Load the live build of an index.

    Args:
        index_dir: the index directory.
        model_id: when given, the index must have been built with this model.
        mmap: memory-map the large arrays instead of reading them; None (the default)
            does so for indexes of more than ``LARGE_INDEX_CHUNKS`` chunks, which also
            leaves document text on disk.
    Raises:
        IndexMissingError: there is no complete index in ``index_dir``.
        IndexMismatchError: the index was built with another model or format.
    """
    build = current_build(index_dir)
    if build is None:
        raise IndexMissingError(f"no index in {index_dir}; build one with `policyqa index`")
    manifest = _parse_manifest(build / "manifest.json")
    check_compatible(manifest, model_id or manifest.model_id)
    large = manifest.chunk_count > LARGE_INDEX_CHUNKS
    mode: Literal["r"] | None = "r" if (large if mmap is None else mmap) else None
    if large:
        documents: Sequence[Document] = DocumentTable(build / "documents.jsonl")
    else:
        documents = [
            Document(**json.loads(line))
            for line in (build / "documents.jsonl").read_text(encoding="utf-8").splitlines()
            if line
        ]

    def array(name: str) -> np.ndarray:
        return np.load(build / name, mmap_mode=mode, allow_pickle=False)

    def optional_array(name: str) -> np.ndarray | None:
        return array(name) if (build / name).is_file() else None

    chunk_rows, sentence_rows = array("chunks.npy"), array("sentences.npy")
    dense = _read_faiss(build / "dense.faiss")
    sentence_ann = _read_faiss(build / "sentences.faiss") if manifest.sentence_index != FLAT else None
    return IndexData(
        manifest=manifest,
        documents=documents,
        chunks=_spans(chunk_rows, documents, Chunk, large),
        sentences=_spans(sentence_rows, documents, Sentence, large),
        sentence_vectors=array("sentence_vectors.npy"),
        dense=dense,
        lexical=LexicalIndex.load(
            build / "bm25",
            manifest.lexical_tokenizer,
            mmap=mode is not None,
            max_df_share=LARGE_INDEX_MAX_DF_SHARE if large else None,
        ),
        build_dir=build,
        chunk_vectors=array("chunk_vectors.npy") if manifest.dense_index != FLAT else None,
        sentence_ann=sentence_ann,
        stored_sentence_chunks=optional_array("sentence_chunks.npy"),
    )


def _read_faiss(path: Path) -> faiss.Index:
    # Compressed codes are read into memory: every search touches them.
    index = faiss.read_index(str(path))
    configure_search(index)
    return index


def _spans(rows: np.ndarray, documents: Sequence[Document], record: type[SpanT], lazy: bool) -> Sequence[SpanT]:
    table = SpanTable(rows.reshape(-1, 3), documents, record)
    return table if lazy else list(table)


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
