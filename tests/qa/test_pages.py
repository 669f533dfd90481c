"""Pages of cited sentences and passages (qa.pages): set from the document, once, for any answerer."""

from __future__ import annotations

from index.types import Document
from qa.pages import locate_citations, locate_hits
from qa.types import Citation, Hit

TEXT = "第一页。\n第二页：投入1.86亿元。\n第三页。"
DOCS = {
    "scan.pdf": Document("scan.pdf", "扫描件", None, None, TEXT, "h", page_starts=(0, 5, 17), ocr_pages=(2,)),
    "print.pdf": Document("print.pdf", "印刷件", None, None, TEXT, "h", page_starts=(0, 5, 17)),
    "plain.txt": Document("plain.txt", "文本", None, None, TEXT, "h"),
}


def _citation(doc_id: str, start: int) -> Citation:
    return Citation(1, doc_id, "t", None, TEXT[start : start + 3], start, start + 3, TEXT, 0, len(TEXT))


def test_citations_get_the_page_of_their_first_character_and_whether_ocr_read_it():
    located = locate_citations(
        [_citation("scan.pdf", 8), _citation("scan.pdf", 0), _citation("print.pdf", 18), _citation("plain.txt", 8)],
        DOCS.__getitem__,
    )
    assert [(c.page, c.ocr) for c in located] == [(2, True), (1, False), (3, False), (None, False)]
    assert located[3] == _citation("plain.txt", 8)  # documents without pages are left as they were


def test_passages_get_pages_too():
    hits = [Hit(0, "scan.pdf", "t", None, TEXT[5:16], 5, 16, 1.0), Hit(1, "plain.txt", "t", None, TEXT, 0, 9, 0.5)]
    assert [(h.page, h.ocr) for h in locate_hits(hits, DOCS.__getitem__)] == [(2, True), (None, False)]
