"""Where a cited sentence or passage is: its page in a PDF or picture, and whether OCR read it.

Answerers cite offsets; the page follows from the document (``Document.page_at``), so it is
added once, to the finished answer, whatever made it (extractive, generated, conflicts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypeVar

from index.types import Document
from qa.types import Citation, Hit

Located = TypeVar("Located", Citation, Hit)


def locate_citations(citations: Iterable[Citation], document: Callable[[str], Document]) -> tuple[Citation, ...]:
    """The citations with ``page`` and ``ocr`` set from their documents (unchanged for unpaged ones).

    Args:
        citations: an answer's citations.
        document: doc id → the indexed Document.
    """
    return tuple(_located(c, c.start, document) for c in citations)


def locate_hits(hits: Iterable[Hit], document: Callable[[str], Document]) -> list[Hit]:
    """The passages with ``page`` and ``ocr`` set from their documents (unchanged for unpaged ones)."""
    return [_located(h, h.start, document) for h in hits]


def _located(item: Located, start: int, document: Callable[[str], Document]) -> Located:
    doc = document(item.doc_id)
    page = doc.page_at(start)
    if page is None:
        return item
    return replace(item, page=page, ocr=doc.is_ocr(page))
