"""The knowledge base: upload checks (names, size, type by content, duplicates), delete, list, rebuild."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from index.build import build_index
from index.errors import DocumentError
from index.library import Library, check_content, sanitize_filename
from index.milvus_client import Connection
from index.settings import Settings
from index.store import read_manifest
from qa.pipeline import QAPipeline
from tests.conftest import CACHE, MODELS, milvus_settings
from tests.sample_files import pdf_with_text

FACT = "青松县2024年在12个行政村新建村级光伏电站37座，带动1460户脱贫户稳定增收。"


def tiny_docx(*paragraphs: str) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def library(corpus_copy, tmp_path) -> Library:
    return Library(
        Settings(
            corpus_dir=corpus_copy,
            index_dir=tmp_path / "index",
            cache_dir=CACHE,
            model_cache_dir=MODELS,
            max_upload_mb=1,
        )
    )


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/报告.txt", "报告.txt"),
        ("..\\..\\Windows\\win.TXT", "win.txt"),
        ("/abs/path/a.md", "a.md"),
        (".hidden.md", "hidden.md"),  # dot-files are skipped by the indexer: never create one
        ("a<b>c|d?.html", "a_b_c_d.html"),
        ("...txt", "文档.txt"),
        ("报告（2021）《扶贫》 第1期.docx", "报告（2021）《扶贫》 第1期.docx"),
        ("tab\there\x00.pdf", "tabhere.pdf"),
        ("x" * 300 + ".pdf", "x" * 80 + ".pdf"),
    ],
)
def test_file_names_are_sanitized(name, safe):
    assert sanitize_filename(name) == safe


@pytest.mark.parametrize(("name", "message"), [("passwd", "没有扩展名"), ("a.exe", "不支持“.exe”"), ("", "没有扩展名")])
def test_unsupported_names_are_refused(name, message):
    with pytest.raises(DocumentError, match=message):
        sanitize_filename(name)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.txt", b"   \n", "空文件"),
        ("a.txt", b"a" * (2**20 + 1), "超过上传上限 1 MB"),
        ("a.pdf", "这是一段文字，不是 PDF。".encode(), "不是 PDF"),
        ("a.txt", pdf_with_text("hello"), "是 PDF 文件，不是文本"),
        ("a.md", tiny_docx("段落"), "是 ZIP 文件，不是文本"),
        ("a.docx", "纯文本".encode(), "不是 Word"),
        ("a.docx", b"PK\x03\x04" + b"\x00" * 40, "不是 Word"),
        ("a.txt", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" * 50, "不是文本文件"),
    ],
)
def test_uploads_are_checked_by_size_and_content(name, data, message):
    with pytest.raises(DocumentError, match=message):
        check_content(name, data, max_bytes=2**20)


def test_a_text_upload_is_saved_inside_the_corpus(library):
    doc_id = library.add_file("../../outside/青松县通报.txt", ("青松县光伏扶贫通报\n" + FACT).encode())
    assert doc_id == "青松县通报.txt"
    assert (library.settings.corpus_dir / doc_id).read_text(encoding="utf-8").endswith(FACT)
    assert not (library.settings.corpus_dir.parent / "outside").exists()
    assert not list(library.settings.corpus_dir.glob(".upload-*"))


def test_pdf_and_docx_uploads_are_read_by_their_text_layer(library):
    assert library.add_file("report.pdf", pdf_with_text("Solar stations built in 2024: 37")) == "report.pdf"
    assert library.add_file("通报.docx", tiny_docx("青松县光伏扶贫通报", FACT)) == "通报.docx"


def test_a_pdf_without_readable_structure_is_refused_with_its_name(library):
    with pytest.raises(DocumentError, match=r"无法读取“broken\.pdf”"):
        library.add_file("broken.pdf", b"%PDF-1.4\nthis is not a pdf body at all\n")
    assert not (library.settings.corpus_dir / "broken.pdf").exists()


def test_duplicate_content_is_detected_whatever_the_name(library):
    existing = sorted(library.settings.corpus_dir.iterdir())[0]
    with pytest.raises(DocumentError, match=f"与已有文档“{re.escape(existing.name)}”内容完全相同"):
        library.add_file("another-name.txt", existing.read_bytes())


def test_same_name_with_new_content_gets_a_new_name(library):
    assert library.add_file("通报.txt", ("通报一\n" + FACT).encode()) == "通报.txt"
    assert library.add_file("通报.txt", ("通报二\n" + FACT + "补充。").encode()) == "通报-2.txt"


def test_oversize_upload_is_refused_by_the_library(library):
    with pytest.raises(DocumentError, match="超过上传上限"):
        library.add_file("big.txt", ("很长的文件。" * 70000).encode())


def test_delete_removes_only_corpus_files(library):
    corpus = library.settings.corpus_dir
    outside = corpus.parent / "keep.txt"
    outside.write_text("不能删", encoding="utf-8")
    for doc_id in ("../keep.txt", str(outside), "missing.txt", ""):
        with pytest.raises(DocumentError):
            library.delete(doc_id)
    assert outside.exists()
    victim = sorted(p.name for p in corpus.iterdir())[0]
    library.delete(victim)
    assert not (corpus / victim).exists()


# -- with the real index ----------------------------------------------------------


@pytest.mark.slow
def test_documents_lists_every_indexed_document_with_its_chunks(built_index):
    library = Library(built_index)
    rows = library.documents()
    manifest = read_manifest(built_index.index_dir)
    assert [r.doc_id for r in rows] == sorted(manifest.documents)
    assert all(r.indexed and r.chunks > 0 for r in rows)
    assert sum(r.chunks for r in rows) == manifest.chunk_count
    assert library.summary().chunks == manifest.chunk_count
    first = library.document(rows[0].doc_id)
    assert first.title == rows[0].title and len(first.text) > 100
    with pytest.raises(DocumentError, match="找不到文档"):
        library.document("no-such.txt")


@pytest.mark.slow
@pytest.mark.parametrize("store", ["faiss", "milvus"])
def test_add_rebuild_delete_rebuild(store, built_index, embedder, corpus_copy, tmp_path, request):
    index_dir = tmp_path / "index"
    if store == "faiss":
        shutil.copytree(built_index.index_dir, index_dir, ignore=shutil.ignore_patterns(".lock"))
        settings = Settings(corpus_dir=corpus_copy, index_dir=index_dir, cache_dir=CACHE, model_cache_dir=MODELS)
    else:  # a fresh index of the copied corpus in the test server, then documents added and deleted in place
        base = Settings(corpus_dir=corpus_copy, index_dir=index_dir, cache_dir=CACHE, model_cache_dir=MODELS)
        settings = milvus_settings(base, request.getfixturevalue("milvus_uri"), "library")
        build_index(settings, embedder=embedder, progress=lambda *_: None, force=True)
        generation = Connection(settings).read_live()["generation"]
    library = Library(settings, embedder=embedder)
    doc_id = library.add_file("青松县通报.txt", ("青松县光伏扶贫通报\n" + FACT).encode())
    assert {r.doc_id: r.indexed for r in library.documents()}[doc_id] is False
    stages = []
    report = library.rebuild(lambda stage, done, total: stages.append(stage))
    assert report.added == (doc_id,) and "write" in stages
    row = {r.doc_id: r for r in library.documents()}[doc_id]
    assert row.indexed and row.chunks >= 1 and row.title == "青松县光伏扶贫通报"
    assert FACT in library.document(doc_id).text
    pipeline = QAPipeline(settings, embedder=embedder)
    answer = pipeline.ask("青松县2024年新建了多少座村级光伏电站？")
    assert answer.answered and "37座" in answer.text and answer.citations[0].doc_id == doc_id
    assert pipeline.store.term_weight("青松") > 0
    library.delete(doc_id)
    assert library.rebuild().removed == (doc_id,)
    assert doc_id not in {r.doc_id for r in library.documents()}
    answer = pipeline.ask("青松县2024年新建了多少座村级光伏电站？")  # the pipeline follows the rebuilt index
    assert all(c.doc_id != doc_id for c in answer.citations) and all(p.doc_id != doc_id for p in answer.passages)
    assert pipeline.store.term_weight("青松") == 0
    if store == "milvus":  # both changes were made in place, in the same generation
        live = Connection(settings).read_live()
        assert live["generation"] == generation and live["revision"] == 2 and not live["updating"]


def test_uploaded_file_is_readable_by_other_users(library):
    doc_id = library.add_file("a.txt", ("标题\n" + FACT).encode())
    assert (Path(library.settings.corpus_dir) / doc_id).stat().st_mode & 0o444 == 0o444


def test_files_dropped_into_the_folder_get_the_upload_checks(library):
    corpus = Path(library.settings.corpus_dir)
    original = "001_8f2e60f4829d27b2.txt"
    shutil.copy(corpus / original, corpus / "a-copy.txt")
    (corpus / "report.txt").write_bytes(pdf_with_text("扶贫"))  # a PDF named .txt
    (corpus / "huge.md").write_text("扶贫" * 400_000, encoding="utf-8")  # 2.4 MB, over the 1 MB limit
    (corpus / "fine.md").write_text("# 新文件\n\n" + FACT, encoding="utf-8")
    refused = library.refused_files()
    assert sorted(refused) == ["a-copy.txt", "huge.md", "report.txt"]
    assert re.search(f"与已有文档“{original}”内容完全相同", refused["a-copy.txt"])
    assert "PDF" in refused["report.txt"] and "超过上传上限 1 MB" in refused["huge.md"]
    assert all(reason.endswith("未编入索引。") for reason in refused.values())


def test_a_dropped_scan_with_more_pages_to_ocr_than_allowed_is_refused_as_an_upload_is(corpus_copy, tmp_path):
    from bench.scans import image_pdf, report_pages

    library = _scan_library(corpus_copy, tmp_path, ocr_max_pages=2, watch=True)
    (corpus_copy / "long.pdf").write_bytes(image_pdf(report_pages()))  # 3 scanned pages
    (corpus_copy / "short.pdf").write_bytes(image_pdf(report_pages()[:2]))
    refused = library.refused_files()
    assert list(refused) == ["long.pdf"]
    assert refused["long.pdf"] == "long.pdf: 需要文字识别的页数（3）超过上限 2 页（设置 ocr_max_pages）" + (
        "（3 pages need OCR, more than the limit of 2: setting ocr_max_pages）未编入索引。"
    )
    with pytest.raises(DocumentError, match="超过上限 2 页（设置 ocr_max_pages）"):
        library.add_file("long-upload.pdf", image_pdf(report_pages()[::-1]))  # the same 3 pages, reordered


def test_of_two_identical_new_files_the_first_by_name_is_kept(library):
    corpus = Path(library.settings.corpus_dir)
    (corpus / "b.md").write_text(FACT, encoding="utf-8")
    (corpus / "a.md").write_text(FACT, encoding="utf-8")
    assert list(library.refused_files()) == ["b.md"]


@pytest.mark.slow
def test_a_watched_folder_leaves_refused_files_out_of_the_index(built_index, embedder, corpus_copy, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index.index_dir, index_dir, ignore=shutil.ignore_patterns(".lock"))
    settings = Settings(
        corpus_dir=corpus_copy, index_dir=index_dir, cache_dir=CACHE, model_cache_dir=MODELS, watch=True
    )
    library = Library(settings, embedder=embedder)
    shutil.copy(corpus_copy / "002_88d20b9e249d40e3.txt", corpus_copy / "dup.txt")
    (corpus_copy / "fine.md").write_text("# 青松县通报\n\n" + FACT, encoding="utf-8")
    report = library.rebuild()
    assert report.added == ("fine.md",)
    assert [s.path for s in report.skipped] == ["dup.txt"] and "内容完全相同" in report.skipped[0].reason
    assert "dup.txt" not in read_manifest(index_dir).documents
    assert library.rebuild().up_to_date  # the refusal holds: nothing to do


# --- pictures and scans -------------------------------------------------------------------------------


def _scan_library(corpus_copy, tmp_path, **settings) -> Library:
    values = {"corpus_dir": corpus_copy, "index_dir": tmp_path / "index", "cache_dir": CACHE, "max_upload_mb": 20}
    return Library(Settings(**{**values, **settings}))


def test_pictures_are_checked_by_content_type_and_pixel_count():
    from PIL import Image

    from index.ocr import MAX_PIXELS

    jpeg = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(jpeg, format="JPEG")
    with pytest.raises(DocumentError, match="不是 PNG 图片"):
        check_content("a.png", jpeg.getvalue(), max_bytes=2**20)
    with pytest.raises(DocumentError, match="不是 TIFF 图片"):
        check_content("a.tif", jpeg.getvalue(), max_bytes=2**20)
    check_content("a.jpeg", jpeg.getvalue(), max_bytes=2**20)
    huge = io.BytesIO()
    side = int(MAX_PIXELS**0.5) + 100
    Image.new("1", (side, side), 1).save(huge, format="PNG")
    with pytest.raises(DocumentError, match="百万像素"):
        check_content("huge.png", huge.getvalue(), max_bytes=2**20)


def test_a_picture_or_scan_upload_is_saved_and_left_to_the_build_to_read(corpus_copy, tmp_path):
    """Uploads are checked at once; OCR (seconds a page) runs in the indexing build, not here."""
    from bench.scans import image_pdf, png, report_pages

    library = _scan_library(corpus_copy, tmp_path)
    pages = report_pages()
    assert library.add_file("青松县报告第一页.png", png(pages[0])) == "青松县报告第一页.png"
    assert library.add_file("青松县报告.pdf", image_pdf(pages)) == "青松县报告.pdf"
    assert {"青松县报告第一页.png", "青松县报告.pdf"} <= {p.name for p in corpus_copy.iterdir()}


def test_a_scan_with_more_pages_to_ocr_than_allowed_is_refused(corpus_copy, tmp_path):
    from bench.scans import image_pdf, report_pages

    library = _scan_library(corpus_copy, tmp_path, ocr_max_pages=2)
    with pytest.raises(DocumentError, match=r"无法读取“long\.pdf”.*超过上限 2 页（设置 ocr_max_pages）"):
        library.add_file("long.pdf", image_pdf(report_pages()))
    assert not (corpus_copy / "long.pdf").exists()


def test_with_ocr_off_pictures_and_scans_are_refused_and_text_pdfs_still_accepted(corpus_copy, tmp_path):
    from bench.scans import image_pdf, png, report_pages

    library = _scan_library(corpus_copy, tmp_path, ocr=False)
    with pytest.raises(DocumentError, match="OCR 已关闭"):
        library.add_file("page.png", png(report_pages()[0]))
    with pytest.raises(DocumentError, match="扫描件"):
        library.add_file("scan.pdf", image_pdf(report_pages()[:1]))
    assert library.add_file("report.pdf", pdf_with_text("Solar stations built in 2024: 37")) == "report.pdf"
