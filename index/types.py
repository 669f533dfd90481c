"""The records that travel between the indexing stages."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """A cleaned document: its text is what offsets point into and what the viewer shows."""

    doc_id: str  # path relative to the corpus folder, with forward slashes
    title: str
    date: str | None  # ISO date (YYYY-MM-DD) when one was found
    author: str | None
    text: str
    content_hash: str  # sha256 of the raw file bytes
    # PDFs and pictures: the offset in ``text`` at which each page begins (page 1 at 0);
    # () for documents without pages.
    page_starts: tuple[int, ...] = ()
    # Numbers (from 1) of the pages whose text was recognized from their image (OCR).
    ocr_pages: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # documents.jsonl gives lists; the record stays hashable and immutable.
        object.__setattr__(self, "page_starts", tuple(self.page_starts))
        object.__setattr__(self, "ocr_pages", tuple(self.ocr_pages))

    def page_at(self, offset: int) -> int | None:
        """The page (from 1) that holds character ``offset``; None for documents without pages."""
        if not self.page_starts:
            return None
        return max(1, bisect_right(self.page_starts, offset))

    def page_span(self, page: int) -> tuple[int, int]:
        """(start, end) of page ``page``'s text (the whole text for documents without pages)."""
        if not self.page_starts:
            return 0, len(self.text)
        page = min(max(page, 1), len(self.page_starts))
        end = self.page_starts[page] if page < len(self.page_starts) else len(self.text)
        return self.page_starts[page - 1], end

    def is_ocr(self, page: int | None) -> bool:
        """True if page ``page``'s text was recognized from its image."""
        return page is not None and page in self.ocr_pages


@dataclass(frozen=True)
class Chunk:
    """A span of a document's cleaned text: ``doc.text[start:end] == text``."""

    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str
    page: int | None = None  # the page it starts on (Document.page_at), for paged documents


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document, for the extractive answerer: ``doc.text[start:end] == text``."""

    sentence_id: int
    doc_id: str
    start: int
    end: int
    text: str
    page: int | None = None  # the page it starts on (Document.page_at), for paged documents
