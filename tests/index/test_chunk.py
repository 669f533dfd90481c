"""Chunking and sentence splitting keep exact offsets and whole sentences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunk import chunk_document, make_splitter, split_sentences
from index.load import load_corpus
from index.types import Document
from tests.conftest import CORPUS

SENTENCE_ENDS = set("。！？!?；;…\n")


@pytest.fixture(scope="module")
def documents():
    return load_corpus(CORPUS)[0]


def _doc(text: str) -> Document:
    return Document(doc_id="t.txt", title="t", date=None, author=None, text=text, content_hash="0")


def _ends_sentence(text: str, end: int) -> bool:
    if end >= len(text):
        return True
    tail = text[:end].rstrip("”’」』）)\"'")
    return (bool(tail) and tail[-1] in SENTENCE_ENDS) or text[end] == "\n"


@pytest.mark.parametrize("size,overlap", [(200, 40), (300, 60), (500, 100)])
def test_chunk_offsets_point_at_the_chunk_text(documents, size, overlap):
    splitter = make_splitter(size, overlap)
    for doc in documents:
        for chunk in chunk_document(doc, splitter):
            assert doc.text[chunk.start : chunk.end] == chunk.text
            assert len(chunk.text) <= size


@pytest.mark.parametrize("size,overlap", [(300, 60), (500, 100)])  # 500/100 is the default
def test_chunks_do_not_cut_sentences_that_fit(documents, size, overlap):
    splitter = make_splitter(size, overlap)
    for doc in documents:
        for chunk in chunk_document(doc, splitter):
            for edge in (chunk.start, chunk.end):
                at_boundary = edge == 0 or doc.text[edge - 1] == "\n" or _ends_sentence(doc.text, edge)
                # Only a sentence longer than a chunk may be cut.
                assert at_boundary or len(_sentence_around(doc.text, edge)) > size, (
                    f"{doc.doc_id}: chunk edge inside a short sentence: {doc.text[edge - 20 : edge + 20]!r}"
                )


def _sentence_around(text: str, position: int) -> str:
    """The whole sentence (between sentence ends) that contains ``position``."""
    start = max(text.rfind(ch, 0, position) for ch in SENTENCE_ENDS) + 1
    ends = [i for i in (text.find(ch, position) for ch in SENTENCE_ENDS) if i >= 0]
    return text[start : min(ends) + 1 if ends else len(text)]


def test_sentences_cover_the_text_with_exact_offsets(documents):
    for doc in documents:
        sentences = split_sentences(doc)
        for s in sentences:
            assert doc.text[s.start : s.end] == s.text
        covered = "".join(s.text for s in sentences)
        assert covered.replace(" ", "") == doc.text.replace("\n", "").replace(" ", "")


def test_sentence_split_keeps_closing_quotes():
    sentences = split_sentences(_doc("他说：“脱贫攻坚。”下一句！最后"))
    assert [s.text for s in sentences] == ["他说：“脱贫攻坚。”", "下一句！", "最后"]


def test_tibetan_survives_chunking(documents):
    doc = next(d for d in documents if d.doc_id.startswith("004"))
    chunks = chunk_document(doc, make_splitter(300, 60))
    assert any("ཁོར་ཡུང་རྒྱལ་ཁབ་" in c.text for c in chunks)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("扶贫攻坚政策资金。！？；，、\n 0123456789%ཀ་abc")), max_size=800))
def test_offsets_hold_for_any_text(text):
    doc = _doc(text)
    for chunk in chunk_document(doc, make_splitter(120, 30)):
        assert doc.text[chunk.start : chunk.end] == chunk.text
    for sentence in split_sentences(doc):
        assert doc.text[sentence.start : sentence.end] == sentence.text
