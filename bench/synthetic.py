"""A synthetic corpus of any size, made from the real corpus' own sentences, and its index.

Text: each synthetic document takes one real document's sentences, in paragraph
blocks shuffled into a new order, with every number replaced by a number used
nowhere else in the synthetic corpus (so figure questions stay distinguishable).
Chunks come from the product's own chunker; sentences are the real sentences
placed at their new offsets.

Vectors (labelled ``composed`` wherever they are reported): embedding 10^6 chunks
and 7.5·10^6 sentences with the model would take days on 2 cores, so no model runs
here. A sentence's vector is its source sentence's real model vector plus Gaussian
noise (standing for the changed numbers); a chunk's vector is the length-weighted mean
of its sentences' source vectors plus noise, normalized. This keeps the geometry of
real e5 vectors (their clusters and typical cosines), which random vectors would not,
while costing one matrix product. Search and fusion latency, recall against exact
search, and memory are what the scale benchmark measures on them.

The BM25 index is the product's own (``LexicalIndex.build``, which reads texts one at a
time and keeps postings as numpy arrays), saved in bm25s' format.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.chunk import chunk_document, make_splitter
from index.lexical import LexicalIndex
from index.manifest import Manifest
from index.store import IndexData, SpanTable, chunks_of_sentences, write_index
from index.types import Chunk, Document, Sentence
from index.vectors import FLAT, SENTENCE_ANN, build_vector_index, index_kind

NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Noise added to composed vectors, as a share of the unit vector's length: a sentence with
# new numbers stays at cosine ≈ 0.98 to its source (e5 gives ≈ 0.95–0.99 for such edits).
SENTENCE_NOISE = 0.2
CHUNK_NOISE = 0.1
BLOCK_SENTENCES = (2, 6)  # sentences per shuffled block
DOCUMENT_BLOCKS = (4, 12)  # blocks per synthetic document
SYNTHETIC_PREFIX = "synthetic/"


@dataclass(frozen=True)
class Source:
    """The real corpus as material: its sentences, what follows each, and their vectors."""

    texts: list[str]
    gaps: list[str]  # text between a sentence and the next one of its document ("" or "\n")
    document_of: np.ndarray  # source document row of each sentence
    titles: list[str]
    vectors: np.ndarray  # real model vectors of the sentences, (n, dim)


def source_from_index(data: IndexData) -> Source:
    """The sentences and sentence vectors of a built (real) index."""
    texts, gaps, rows = [], [], []
    doc_rows = {d.doc_id: i for i, d in enumerate(data.documents)}
    sentences = list(data.sentences)
    for i, sentence in enumerate(sentences):
        texts.append(sentence.text)
        following = sentences[i + 1] if i + 1 < len(sentences) else None
        between = ""
        if following is not None and following.doc_id == sentence.doc_id:
            between = data.document(sentence.doc_id).text[sentence.end : following.start]
        gaps.append("\n" if "\n" in between else "")
        rows.append(doc_rows[sentence.doc_id])
    return Source(
        texts=texts,
        gaps=gaps,
        document_of=np.array(rows, dtype=np.int64),
        titles=[d.title for d in data.documents],
        vectors=np.asarray(data.sentence_vectors, dtype=np.float32),
    )


class DistinctNumbers:
    """Replaces every number with one not used before, keeping its digit count when it can."""

    def __init__(self) -> None:
        self.next_value: dict[int, int] = {}

    def fresh(self, digits: int) -> int:
        digits = max(digits, 1)
        value = self.next_value.get(digits, 10 ** (digits - 1) if digits > 1 else 1)
        while value >= 10**digits:  # this length is used up: take a longer number
            digits += 1
            value = self.next_value.get(digits, 10 ** (digits - 1))
        self.next_value[digits] = value + 1
        return value

    def replace(self, text: str) -> str:
        """The text with each number replaced by a fresh one ("10.2" → "37.5"-like)."""

        def swap(match: re.Match) -> str:
            whole, _, fraction = match.group(0).partition(".")
            value = self.fresh(len(whole) + len(fraction))
            if not fraction:
                return str(value)
            digits = str(value).rjust(len(whole) + len(fraction), "0")
            return f"{int(digits[: len(whole)])}.{digits[len(whole) :]}"

        return NUMBER.sub(swap, text)


@dataclass
class SyntheticCorpus:
    """Documents plus the product's chunk and sentence rows, and each sentence's source."""

    documents: list[Document]
    chunk_rows: np.ndarray  # (n, 3) document row, start, end
    sentence_rows: np.ndarray  # (m, 3)
    sentence_sources: np.ndarray  # (m,) row in Source


def generate(source: Source, chunks_wanted: int, chunk_size: int, chunk_overlap: int, seed: int = 0) -> SyntheticCorpus:
    """Synthetic documents until the product's chunker has made ``chunks_wanted`` chunks."""
    rng = np.random.default_rng(seed)
    numbers = DistinctNumbers()
    splitter = make_splitter(chunk_size, chunk_overlap)
    by_document = [np.flatnonzero(source.document_of == d) for d in range(len(source.titles))]
    by_document = [(d, rows) for d, rows in enumerate(by_document) if len(rows)]
    documents: list[Document] = []
    chunk_rows: list[tuple[int, int, int]] = []
    sentence_rows: list[tuple[int, int, int]] = []
    sources: list[int] = []
    while len(chunk_rows) < chunks_wanted:
        doc_row = len(documents)
        source_doc, rows = by_document[int(rng.integers(len(by_document)))]
        text, spans = _document_text(source, rows, rng, numbers)
        doc = Document(
            doc_id=f"{SYNTHETIC_PREFIX}{doc_row:07d}.txt",
            title=f"{source.titles[source_doc]}（合成 {doc_row}）",
            date=f"20{int(rng.integers(10, 25))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
            author=None,
            text=text,
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
        )
        documents.append(doc)
        for chunk in chunk_document(doc, splitter):
            chunk_rows.append((doc_row, chunk.start, chunk.end))
        for start, end, source_row in spans:
            sentence_rows.append((doc_row, start, end))
            sources.append(source_row)
    # The last document may overshoot: its extra chunks are dropped.
    chunks = np.array(chunk_rows[:chunks_wanted], dtype=np.int64).reshape(-1, 3)
    last_doc = int(chunks[-1, 0]) if len(chunks) else -1
    documents = documents[: last_doc + 1]
    sentences = np.array(sentence_rows, dtype=np.int64).reshape(-1, 3)
    # Sentences of the last document after its last kept chunk belong to no chunk: drop them.
    keep = (sentences[:, 0] < last_doc) | ((sentences[:, 0] == last_doc) & (sentences[:, 1] < chunks[-1, 2]))
    return SyntheticCorpus(documents, chunks, sentences[keep], np.array(sources, dtype=np.int64)[keep])


def _document_text(
    source: Source, rows: np.ndarray, rng: np.random.Generator, numbers: DistinctNumbers
) -> tuple[str, list[tuple[int, int, int]]]:
    """One document: blocks of consecutive source sentences, shuffled, numbers replaced."""
    blocks = []
    begin = 0
    while begin < len(rows):
        size = int(rng.integers(BLOCK_SENTENCES[0], BLOCK_SENTENCES[1] + 1))
        blocks.append(rows[begin : begin + size])
        begin += size
    order = rng.permutation(len(blocks))[: int(rng.integers(DOCUMENT_BLOCKS[0], DOCUMENT_BLOCKS[1] + 1))]
    parts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    offset = 0
    for block_number, block in enumerate(order):
        if block_number:
            parts.append("\n")
            offset += 1
        for i, row in enumerate(blocks[block]):
            sentence = numbers.replace(source.texts[row])
            parts.append(sentence)
            spans.append((offset, offset + len(sentence), int(row)))
            offset += len(sentence)
            gap = source.gaps[row] if i + 1 < len(blocks[block]) else ""
            parts.append(gap)
            offset += len(gap)
    return "".join(parts), spans


# ----------------------------------------------------------------------------- vectors


def sentence_vectors(source: Source, sources: np.ndarray, seed: int, out: np.ndarray, batch: int = 1 << 17) -> None:
    """Composed sentence vectors (source vector + noise, normalized), written into ``out``."""
    rng = np.random.default_rng(seed + 1)
    dim = source.vectors.shape[1]
    for begin in range(0, len(sources), batch):
        rows = sources[begin : begin + batch]
        vectors = source.vectors[rows] + rng.standard_normal((len(rows), dim), dtype=np.float32) * (
            SENTENCE_NOISE / math.sqrt(dim)
        )
        out[begin : begin + len(rows)] = _normalized(vectors)


def chunk_vectors(source: Source, corpus: SyntheticCorpus, seed: int) -> np.ndarray:
    """Composed chunk vectors: length-weighted mean of the chunk's source sentence vectors, plus noise."""
    import scipy.sparse as sp

    ranges = chunks_of_sentences(corpus.chunk_rows, corpus.sentence_rows)
    lengths = (corpus.sentence_rows[:, 2] - corpus.sentence_rows[:, 1]).astype(np.float32)
    counts = ranges[:, 1] - ranges[:, 0]
    sentence_ids = np.repeat(np.arange(len(ranges)), counts)
    # The chunks of sentence i are ranges[i, 0] + 0, 1, ..., counts[i] - 1.
    firsts = np.repeat(np.cumsum(counts) - counts, counts)
    chunk_ids = np.repeat(ranges[:, 0], counts) + (np.arange(len(sentence_ids)) - firsts)
    weights = sp.csr_matrix(
        (lengths[sentence_ids], (chunk_ids, corpus.sentence_sources[sentence_ids])),
        shape=(len(corpus.chunk_rows), len(source.vectors)),
    )
    vectors = np.asarray(weights @ source.vectors, dtype=np.float32)
    rng = np.random.default_rng(seed + 2)
    dim = vectors.shape[1]
    vectors = _normalized(vectors)
    vectors += rng.standard_normal(vectors.shape, dtype=np.float32) * (CHUNK_NOISE / math.sqrt(dim))
    return _normalized(vectors)


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


# ----------------------------------------------------------------------------- the index


def write_synthetic_index(
    index_dir: Path,
    source: Source,
    corpus: SyntheticCorpus,
    work_dir: Path,
    manifest_base: Manifest,
    flat_max_vectors: int,
    ann_index: str,
    seed: int = 0,
    threads: int = 2,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Write the synthetic corpus as a product index (the format ``load_index`` reads)."""
    dim = source.vectors.shape[1]
    documents = corpus.documents
    progress("chunk vectors")
    chunk_vecs = chunk_vectors(source, corpus, seed)
    progress("sentence vectors")
    sentence_path = work_dir / "sentence_vectors.tmp.npy"
    sentence_vecs = np.lib.format.open_memmap(
        sentence_path, mode="w+", dtype=np.float32, shape=(len(corpus.sentence_rows), dim)
    )
    sentence_vectors(source, corpus.sentence_sources, seed, sentence_vecs)
    sentence_vecs.flush()
    progress("bm25")
    lexical = LexicalIndex.build(
        _chunk_texts(documents, corpus.chunk_rows), manifest_base.lexical_tokenizer, len(corpus.chunk_rows)
    )
    dense_kind = index_kind(len(chunk_vecs), flat_max_vectors, ann_index)
    sentence_kind = index_kind(len(sentence_vecs), flat_max_vectors, SENTENCE_ANN)
    progress(f"chunk index ({dense_kind})")
    dense = build_vector_index(chunk_vecs, dense_kind, seed, threads)
    progress(f"sentence index ({sentence_kind})")
    sentence_ann = build_vector_index(sentence_vecs, sentence_kind, seed, threads) if sentence_kind != FLAT else None
    manifest = Manifest(
        **{
            **manifest_base.__dict__,
            "documents": {d.doc_id: d.content_hash for d in documents},
            "chunk_count": len(corpus.chunk_rows),
            "sentence_count": len(corpus.sentence_rows),
            "dense_index": dense_kind,
            "sentence_index": sentence_kind,
        }
    )
    data = IndexData(
        manifest=manifest,
        documents=documents,
        chunks=SpanTable(corpus.chunk_rows, documents, Chunk),
        sentences=SpanTable(corpus.sentence_rows, documents, Sentence),
        sentence_vectors=sentence_vecs,
        dense=dense,
        lexical=lexical,
        chunk_vectors=chunk_vecs if dense_kind != FLAT else None,
        sentence_ann=sentence_ann,
    )
    progress("write")
    build = write_index(index_dir, data)
    del data, sentence_vecs
    sentence_path.unlink(missing_ok=True)
    return build


def _chunk_texts(documents: list[Document], rows: np.ndarray) -> Iterator[str]:
    for doc_row, start, end in rows.tolist():
        yield documents[doc_row].text[start:end]
