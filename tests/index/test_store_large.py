"""Index data as arrays: span lookups, text left on disk for large indexes, older indexes still load."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from index import store
from index.lexical import LexicalIndex
from index.manifest import FORMAT_VERSION
from index.store import (
    DocumentTable,
    IndexData,
    Manifest,
    chunks_of_sentences,
    current_build,
    load_index,
    write_index,
)
from index.types import Chunk, Document, Sentence
from index.vectors import FLAT, build_vector_index

TEXTS = [
    "第一句讲扶贫资金。第二句讲驻村工作队。第三句讲产业扶贫带动增收。第四句讲易地搬迁。",
    "另一份文件的第一句。它的第二句比较长，讲的是教育扶贫和健康扶贫两个方面的具体做法。最后一句。",
]


def spans(text: str, size: int, step: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, len(text))) for s in range(0, max(len(text) - size, 0) + 1, step)] or [(0, len(text))]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for i, ch in enumerate(text):
        if ch == "。":
            out.append((start, i + 1))
            start = i + 1
    return out


def tiny_index(dim: int = 8) -> IndexData:
    documents = [Document(f"d{i}.txt", f"文件{i}", None, None, t, f"h{i}") for i, t in enumerate(TEXTS)]
    chunks, sentences = [], []
    for doc in documents:
        for s, e in spans(doc.text, 20, 12):
            chunks.append(Chunk(len(chunks), doc.doc_id, s, e, doc.text[s:e]))
        for s, e in sentence_spans(doc.text):
            sentences.append(Sentence(len(sentences), doc.doc_id, s, e, doc.text[s:e]))
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(chunks) + len(sentences), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    manifest = Manifest(
        FORMAT_VERSION,
        "m",
        dim,
        "query: ",
        "passage: ",
        20,
        8,
        "bigram",
        {d.doc_id: d.content_hash for d in documents},
        len(chunks),
        len(sentences),
    )
    return IndexData(
        manifest=manifest,
        documents=documents,
        chunks=chunks,
        sentences=sentences,
        sentence_vectors=vectors[len(chunks) :],
        dense=build_vector_index(vectors[: len(chunks)], FLAT),
        lexical=LexicalIndex.build([c.text for c in chunks], "bigram"),
    )


def test_chunks_of_sentences_matches_checking_every_pair():
    rng = np.random.default_rng(1)
    chunk_rows, sentence_rows = [], []
    for doc in range(5):
        length = int(rng.integers(30, 200))
        chunk_rows += [(doc, s, e) for s, e in spans("x" * length, 25, 15)]
        cuts = np.sort(rng.choice(np.arange(1, length), size=8, replace=False))
        bounds = [0, *cuts.tolist(), length]
        sentence_rows += [(doc, a, b) for a, b in itertools.pairwise(bounds)]
    chunk_rows, sentence_rows = np.array(chunk_rows), np.array(sentence_rows)
    ranges = chunks_of_sentences(chunk_rows, sentence_rows)
    for (doc, start, end), (first, stop) in zip(sentence_rows, ranges):
        expected = [i for i, (d, s, e) in enumerate(chunk_rows) if d == doc and e > start and s < end]
        assert list(range(first, stop)) == expected


def test_span_lookups_agree_with_checking_every_span():
    data = tiny_index()
    for sentence in data.sentences:
        expected = [
            c.chunk_id
            for c in data.chunks
            if c.doc_id == sentence.doc_id and c.end > sentence.start and c.start < sentence.end
        ]
        assert data.chunks_containing(sentence) == expected
    for chunk in data.chunks:
        expected = [
            s.sentence_id
            for s in data.sentences
            if s.doc_id == chunk.doc_id and s.end > chunk.start and s.start < chunk.end
        ]
        assert [s.sentence_id for s in data.sentences_in(chunk)] == expected


def test_a_large_index_reads_text_from_disk_and_answers_the_same(tmp_path, monkeypatch):
    data = tiny_index()
    write_index(tmp_path, data)
    small = load_index(tmp_path)
    monkeypatch.setattr(store, "LARGE_INDEX_CHUNKS", 1)
    large = load_index(tmp_path)
    assert isinstance(large.documents, DocumentTable) and isinstance(small.documents, list)
    assert isinstance(large.sentence_vectors, np.memmap)
    assert [d.text for d in large.documents] == TEXTS
    assert list(large.chunks) == list(small.chunks) == data.chunks
    assert list(large.sentences) == data.sentences
    assert large.chunks[-1] == data.chunks[-1]
    for chunk in data.chunks:
        assert large.sentences_in(chunk) == small.sentences_in(chunk)
    assert large.document("d1.txt").text == TEXTS[1]
    assert large.lexical.max_df_share == store.LARGE_INDEX_MAX_DF_SHARE and small.lexical.max_df_share is None
    large.lexical.max_df_share = None  # (common-token pruning aside, the same postings)
    assert large.lexical.search("扶贫资金", 3)[0].tolist() == small.lexical.search("扶贫资金", 3)[0].tolist()
    assert large.lexical.idf("扶贫") == pytest.approx(small.lexical.idf("扶贫"))


def test_an_index_written_before_the_sentence_map_and_index_kinds_still_loads(tmp_path):
    data = tiny_index()
    write_index(tmp_path, data)
    build = current_build(tmp_path)
    (build / "sentence_chunks.npy").unlink()
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    del manifest["dense_index"], manifest["sentence_index"]
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    old = load_index(tmp_path)
    assert old.manifest.dense_index == old.manifest.sentence_index == FLAT
    assert old.sentence_chunks.tolist() == data.sentence_chunks.tolist()


def test_term_weight_is_idf_for_known_tokens_and_zero_for_unseen_ones():
    lexical = LexicalIndex.build(["脱贫攻坚取得胜利", "乡村振兴全面推进", "脱贫群众增收"], "bigram")
    assert lexical.document_frequency("脱贫") == 2
    assert lexical.term_weight("脱贫") == pytest.approx(lexical.idf("脱贫")) and lexical.term_weight("脱贫") > 0
    assert lexical.document_frequency("念书") == 0
    assert lexical.term_weight("念书") == 0.0 and lexical.idf("念书") > lexical.idf("脱贫")
