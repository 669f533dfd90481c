"""Scanned documents: pages, OCR accuracy on generated scans, the cache, limits and switches.

The scans are drawn in the tests (tests/scanned_pages.py) and read by the real OCR models;
every check compares with the text that was drawn.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bench.scans import (
    character_error_rate,
    figures,
    image_pdf,
    png,
    report_pages,
    rotated,
    two_column_page,
)
from index.clean import clean_document
from index.errors import DocumentError
from index.layout import Box
from index.load import load_corpus, load_document, pages_needing_ocr
from index.ocr import MAX_PIXELS, MIN_CONFIDENCE, OcrCache, OcrReader, Recognized, check_picture, page_picture
from index.types import Document
from tests.sample_files import pdf_with_text

# The bar for recognition of clean printed pages.
MAX_CER = 0.02


# --- pages in cleaned text (no OCR) ---------------------------------------------------------------


def test_paged_cleaning_says_where_each_page_begins():
    pages = ["第一页标题\n第一页正文。", "第二页正文。", "", "第四页正文。"]
    cleaned = clean_document("\f".join(pages), paged=True)
    assert cleaned.text == "第一页标题\n第一页正文。\n第二页正文。\n第四页正文。"
    starts = cleaned.page_starts
    assert len(starts) == 4
    assert cleaned.text[starts[1] :].startswith("第二页正文")
    assert starts[2] == starts[3] and cleaned.text[starts[3] :] == "第四页正文。"  # page 3 is empty


def test_a_sentence_broken_across_pages_is_rejoined_and_the_next_page_begins_inside_it():
    first = "标题\n" + "为此，对脱贫县从脱贫之日起设立5年过渡期，过渡期内保持主要帮扶政策总体稳"
    cleaned = clean_document(first + "\f定。健全防止返贫动态监测。", paged=True)
    body = cleaned.text.splitlines()[1]
    assert body.endswith("总体稳定。健全防止返贫动态监测。")
    assert cleaned.text[cleaned.page_starts[1] :] == "定。健全防止返贫动态监测。"


def test_running_headers_and_page_numbers_are_dropped_from_later_pages():
    pages = [f"县人民政府文件\n第{n}页 共3页\n第{n}页的正文内容。" for n in (1, 2, 3)]
    cleaned = clean_document("\f".join(pages), paged=True)
    assert cleaned.text == "县人民政府文件\n第1页的正文内容。\n第2页的正文内容。\n第3页的正文内容。"
    assert [cleaned.text[s : s + 3] for s in cleaned.page_starts] == ["县人民", "第2页", "第3页"]


def test_documents_know_the_page_of_an_offset():
    doc = Document("a.pdf", "t", None, None, "一页。\n二页。\n三页。", "h", page_starts=(0, 4, 8), ocr_pages=[2])
    assert [doc.page_at(i) for i in (0, 3, 4, 8, 11)] == [1, 1, 2, 3, 3]
    assert doc.page_span(2) == (4, 8) and doc.page_span(3) == (8, 11)
    assert doc.ocr_pages == (2,) and doc.is_ocr(2) and not doc.is_ocr(1) and not doc.is_ocr(None)
    plain = Document("a.txt", "t", None, None, "全文。", "h")
    assert plain.page_at(2) is None and plain.page_span(1) == (0, 3)


def test_a_text_pdf_has_pages_and_no_ocr(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for text in ("Poverty alleviation report page one", "Rural revitalization plan page two"):
        writer.add_page(PdfReader(io.BytesIO(pdf_with_text(text))).pages[0])
    path = tmp_path / "two.pdf"
    with open(path, "wb") as out:
        writer.write(out)
    doc = load_document(path, "two.pdf")
    assert len(doc.page_starts) == 2 and doc.ocr_pages == ()
    assert doc.text[doc.page_starts[1] :].startswith("Rural revitalization")
    assert pages_needing_ocr(".pdf", path.read_bytes(), "two.pdf") == 0


def test_low_confidence_boxes_are_left_out_of_the_text():
    boxes = (
        Box(40, 0, 900, 30, "青松县投入资金1.86亿元。", 0.99),
        Box(40, 50, 900, 80, "印章文字乱码", MIN_CONFIDENCE - 0.01),
        Box(40, 100, 900, 130, "带动4352户增收。", MIN_CONFIDENCE),
    )
    page = Recognized(boxes, 0, 1000, 200).page_text()
    assert page.text == "青松县投入资金1.86亿元。\n带动4352户增收。" and page.ocr and page.dropped == 1
    assert Recognized.from_json(Recognized(boxes, 90, 1000, 200).to_json()) == Recognized(boxes, 90, 1000, 200)


# --- pictures are checked before anything is decoded ------------------------------------------------


def test_pictures_are_checked_by_content_and_pixel_count():
    from PIL import Image

    with pytest.raises(DocumentError, match="不是 PNG、JPEG 或 TIFF"):
        check_picture(b"GIF89a" + b"\0" * 100, "a.png")
    with pytest.raises(DocumentError, match="已损坏"):
        check_picture(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "a.png")
    huge = io.BytesIO()
    side = int(MAX_PIXELS**0.5) + 100
    Image.new("1", (side, side), 1).save(huge, format="PNG")
    with pytest.raises(DocumentError, match="百万像素"):
        check_picture(huge.getvalue(), "huge.png")
    small = io.BytesIO()
    Image.new("RGB", (20, 10), "white").save(
        small, format="TIFF", save_all=True, append_images=[Image.new("RGB", (5, 5))]
    )
    assert check_picture(small.getvalue(), "two.tif") == 2


# --- the real OCR models on generated scans --------------------------------------------------------


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, object]:
    """The generated scans as files, read once through a fresh OCR cache."""
    folder = tmp_path_factory.mktemp("scans")
    pages = report_pages()
    files = {
        "report.pdf": (image_pdf(pages), [p.text for p in pages]),
        "briefing.png": (png(two_column_page()), [two_column_page().text]),
        "sideways.png": (png(rotated(pages[1], 90)), [pages[1].text]),
    }
    reader = OcrReader(OcrCache(folder / "ocr.sqlite"))
    documents = {}
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
        documents[name] = load_document(folder / name, name, ocr=reader)
    return {"folder": folder, "files": files, "documents": documents}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["report.pdf", "briefing.png", "sideways.png"])
def test_scans_are_read_page_by_page_with_few_errors_and_every_figure_exact(scans, name):
    doc = scans["documents"][name]
    expected_pages = scans["files"][name][1]
    assert doc.ocr_pages == tuple(range(1, len(expected_pages) + 1))
    assert len(doc.page_starts) == len(expected_pages)
    for number, expected in enumerate(expected_pages, start=1):
        start, end = doc.page_span(number)
        found = doc.text[start:end]
        assert character_error_rate(expected, found) <= MAX_CER, (number, found)
        assert figures(found) == figures(expected), (number, found)


@pytest.mark.slow
def test_two_columns_are_read_in_order_as_whole_paragraphs(scans):
    lines = scans["documents"]["briefing.png"].text.splitlines()
    assert lines[0] == "白河镇驻村帮扶工作简报"
    assert [line[:6] for line in lines[1:]] == ["白河镇共选派", "全年驻村干部", "白河镇新建蔬", "全镇脱贫户户"]


@pytest.mark.slow
def test_a_rebuild_reads_no_page_twice(scans, tmp_path):
    """The same file again, and the same pixels in another file, come from the cache."""
    from PIL import Image

    folder = scans["folder"]
    reread = OcrReader(OcrCache(folder / "ocr.sqlite"), progress=lambda *a: pytest.fail(f"recognized again: {a}"))
    for name in ("report.pdf", "sideways.png"):
        assert load_document(folder / name, name, ocr=reread).text == scans["documents"][name].text
    same_pixels = tmp_path / "copy.png"
    Image.open(folder / "sideways.png").save(same_pixels, format="PNG", compress_level=1)
    assert same_pixels.read_bytes() != (folder / "sideways.png").read_bytes()
    progress = []
    reread.progress = lambda *a: progress.append(a)
    assert load_document(same_pixels, "copy.png", ocr=reread).text == scans["documents"]["sideways.png"].text
    assert reread._engine is None, "the recognizer was loaded although every page was in the cache"
    assert progress == [("ocr", 0, 1), ("ocr", 1, 1)]


@pytest.mark.slow
def test_a_pdf_mixing_text_and_scanned_pages_reads_only_the_scanned_one_by_ocr(scans, tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.add_page(PdfReader(io.BytesIO(pdf_with_text("Poverty alleviation report 2021"))).pages[0])
    writer.add_page(PdfReader(io.BytesIO(scans["files"]["report.pdf"][0])).pages[1])
    path = tmp_path / "mixed.pdf"
    with open(path, "wb") as out:
        writer.write(out)
    assert pages_needing_ocr(".pdf", path.read_bytes(), "mixed.pdf") == 1
    doc = load_document(path, "mixed.pdf", ocr=OcrReader(OcrCache(scans["folder"] / "ocr.sqlite")))
    assert doc.ocr_pages == (2,)
    assert doc.text.startswith("Poverty alleviation report 2021")
    assert "风险消除率达到77.8%" in doc.text[doc.page_starts[1] :]


def test_with_ocr_off_pictures_and_all_scanned_pdfs_are_refused_with_the_setting_named(tmp_path):
    pages = report_pages()[:1]
    (tmp_path / "scan.pdf").write_bytes(image_pdf(pages))
    (tmp_path / "scan.png").write_bytes(png(pages[0]))
    (tmp_path / "ok.txt").write_text("一份文本文件。", encoding="utf-8")
    off = OcrReader(None, enabled=False)
    documents, skipped = load_corpus(tmp_path, ocr=off)
    assert [d.doc_id for d in documents] == ["ok.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert "OCR 已关闭" in reasons["scan.png"] and "设置 ocr" in reasons["scan.png"]
    assert "扫描件" in reasons["scan.pdf"] and "设置 ocr" in reasons["scan.pdf"]


def test_a_file_with_more_pages_to_ocr_than_allowed_is_skipped_before_any_recognition(tmp_path):
    (tmp_path / "long.pdf").write_bytes(image_pdf(report_pages()))
    limited = OcrReader(None, max_pages=2, progress=lambda *a: pytest.fail("recognition started"))
    documents, skipped = load_corpus(tmp_path, ocr=limited)
    assert documents == []
    assert "超过上限 2 页" in skipped[0].reason and "ocr_max_pages" in skipped[0].reason


def test_a_page_picture_for_the_viewer(tmp_path):
    from PIL import Image

    data = image_pdf(report_pages()[:2])
    jpeg = page_picture(data, ".pdf", 2, long_side=700)
    picture = Image.open(io.BytesIO(jpeg))
    assert picture.format == "JPEG" and max(picture.size) == 700
    assert max(Image.open(io.BytesIO(page_picture(png(two_column_page()), ".png", 1, 500))).size) == 500
    with pytest.raises(DocumentError, match="没有第 3 页"):
        page_picture(data, ".pdf", 3)


def test_unreadable_pdf_for_pdfium_is_a_document_error(tmp_path):
    reader = OcrReader(None)
    with pytest.raises(DocumentError, match="PDF"):
        reader.read_pdf_pages(b"%PDF-1.4\nnot really a pdf", "bad.pdf", [0])


def test_the_cache_lives_where_the_settings_say(tmp_path):
    from index.settings import Settings

    reader = OcrReader.from_settings(Settings(cache_dir=tmp_path, ocr_max_pages=7, ocr=False))
    assert reader.cache.path == Path(tmp_path) / "ocr.sqlite"
    assert reader.max_pages == 7 and not reader.enabled
