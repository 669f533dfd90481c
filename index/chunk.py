"""Split cleaned documents into chunks (for retrieval) and sentences (for answers).

Chunks come from langchain's RecursiveCharacterTextSplitter with Chinese
sentence boundaries tried before commas and single characters, so a chunk only
cuts a sentence when that sentence alone is longer than the chunk size. Every
chunk and sentence keeps its character offsets in the document's cleaned text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from index.types import Chunk, Document, Sentence

# Paragraphs first, then sentence ends, then clause marks, then characters.
SEPARATORS = ["\n", "。", "！", "？", "!", "?", "；", ";", "…", "，", ",", "、", ""]

# A sentence ends at 。！？；… (or a line break), with any closing quotes or brackets kept.
SENTENCE = re.compile(r"[^\n。！？!?；;…]*(?:[。！？!?；;]+|…+|$)[”’」』）)\"']*", re.M)
# Longer "sentences" (lists run together with commas) are cut at commas for answers.
MAX_SENTENCE_CHARS = 160
CLAUSE = re.compile(r"[^，,]*[，,]?")


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    """The splitter used for every document (separators kept at the end of their piece)."""
    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        keep_separator="end",
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        strip_whitespace=True,
    )


def chunk_document(doc: Document, splitter: RecursiveCharacterTextSplitter, first_id: int = 0) -> list[Chunk]:
    """Split a document into chunks whose offsets point at exactly their text.

    Args:
        doc: the cleaned document.
        splitter: from ``make_splitter``.
        first_id: the chunk id of the first chunk (ids are global in an index).
    Returns:
        Chunks in document order, ``doc.text[c.start:c.end] == c.text``.
    """
    chunks: list[Chunk] = []
    search_from = 0
    for piece in splitter.split_text(doc.text):
        start = doc.text.find(piece, search_from)
        if start < 0:  # cannot happen with strip_whitespace pieces, but never misplace a chunk
            start = doc.text.find(piece)
        end = start + len(piece)
        chunks.append(
            Chunk(
                chunk_id=first_id + len(chunks),
                doc_id=doc.doc_id,
                start=start,
                end=end,
                text=piece,
                page=doc.page_at(start),
            )
        )
        # Overlapping pieces start after the previous piece's start.
        search_from = start + 1
    return chunks


def split_sentences(doc: Document, first_id: int = 0) -> list[Sentence]:
    """Split a document into sentences with offsets; over-long ones are cut at commas."""
    sentences: list[Sentence] = []
    for match in SENTENCE.finditer(doc.text):
        for start, end in _sentence_spans(doc.text, match.start(), match.end()):
            sentences.append(
                Sentence(
                    sentence_id=first_id + len(sentences),
                    doc_id=doc.doc_id,
                    start=start,
                    end=end,
                    text=doc.text[start:end],
                    page=doc.page_at(start),
                )
            )
    return sentences


def _sentence_spans(text: str, start: int, end: int) -> Iterable[tuple[int, int]]:
    """Trimmed (start, end) spans of one sentence, cut at commas if it is too long."""
    start, end = _trim(text, start, end)
    if end <= start:
        return
    if end - start <= MAX_SENTENCE_CHARS:
        yield start, end
        return
    piece_start = start
    for clause in CLAUSE.finditer(text, start, end):
        if clause.end() - piece_start >= MAX_SENTENCE_CHARS // 2 or clause.end() >= end:
            s, e = _trim(text, piece_start, clause.end())
            if e > s:
                yield s, e
            piece_start = clause.end()
        if clause.end() >= end:
            break


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
