"""Bad documents are rejected or indexed with a clear per-file message; the rest still indexes."""

from __future__ import annotations

import io
import logging
import time
import zipfile

import pytest
from pypdf import PdfWriter

from index.build import build_index
from index.errors import DocumentError
from index.load import load_corpus, load_document
from index.store import load_index
from tests.sample_files import pdf_with_text


def _encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _zip_bomb_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            block = b"\0" * 2**20
            for _ in range(60):  # 60 MB of zeros packs into ≈ 60 KB
                member.write(block)
    return out.getvalue()


def _broken_xml_docx() -> bytes:
    """A Word-shaped ZIP whose XML parts are cut off mid-tag."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types><Default Extension=")
        archive.writestr("word/document.xml", "<w:document><w:body><w:p>")
    return out.getvalue()


@pytest.fixture
def bad_corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.txt").write_text("中央财政专项扶贫资金用于精准扶贫。扶贫日是10月17日。", encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "image.txt").write_bytes(bytes(range(256)) * 64)
    (folder / "gbk.txt").write_bytes("东西部扶贫协作结对帮扶贫困县。".encode("gb18030"))
    (folder / "utf16.txt").write_bytes("易地扶贫搬迁安置贫困人口。".encode("utf-16"))
    (folder / "report.pdf").write_bytes(pdf_with_text("Poverty alleviation report 2021"))
    (folder / "truncated.pdf").write_bytes(pdf_with_text("cut short")[:120])
    (folder / "locked.pdf").write_bytes(_encrypted_pdf())
    (folder / "bomb.docx").write_bytes(_zip_bomb_docx())
    (folder / "zip.docx").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    (folder / "broken.docx").write_bytes(_broken_xml_docx())
    with open(folder / "huge.txt", "wb") as huge:
        huge.truncate(200 * 2**20)  # sparse: 200 MB on paper, nothing on disk
    (folder / "repeated.txt").write_text("同一行扶贫政策说明。\n" * 10**6, encoding="utf-8")
    (folder / "page.html").write_text(
        "<p>扶贫小额信贷<script>alert(1)</script><img src=x onerror=alert(1)>支持贫困户。</p>", encoding="utf-8"
    )
    return folder


def test_each_bad_file_gets_its_own_message(bad_corpus):
    started = time.perf_counter()
    documents, skipped = load_corpus(bad_corpus, max_bytes=50 * 2**20)
    reasons = {s.path: s.reason for s in skipped}
    assert sorted(d.doc_id for d in documents) == [
        "gbk.txt",
        "good.txt",
        "page.html",
        "repeated.txt",
        "report.pdf",
        "utf16.txt",
    ]
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["image.txt"]
    assert "not a readable PDF" in reasons["truncated.pdf"]
    assert "encrypted" in reasons["locked.pdf"]
    assert "ZIP bomb" in reasons["bomb.docx"]
    assert "not a Word document" in reasons["zip.docx"]
    assert "not a readable DOCX" in reasons["broken.docx"]
    assert "200 MB" in reasons["huge.txt"] and "max_document_mb" in reasons["huge.txt"]
    assert time.perf_counter() - started < 60


def test_gbk_and_utf16_files_decode_to_their_text(bad_corpus):
    assert load_document(bad_corpus / "gbk.txt", "gbk.txt").text == "东西部扶贫协作结对帮扶贫困县。"
    assert load_document(bad_corpus / "utf16.txt", "utf16.txt").text == "易地扶贫搬迁安置贫困人口。"


def test_million_identical_lines_become_one_paragraph_with_a_message(bad_corpus, caplog):
    with caplog.at_level(logging.WARNING, logger="index.load"):
        doc = load_document(bad_corpus / "repeated.txt", "repeated.txt")
    assert doc.text == "同一行扶贫政策说明。"
    assert "repeated.txt: 去除了 999999 行重复内容" in caplog.text


def test_script_and_markup_never_reach_the_text(bad_corpus):
    doc = load_document(bad_corpus / "page.html", "page.html")
    assert doc.text == "扶贫小额信贷支持贫困户。"


def test_pdf_text_layer_is_read(bad_corpus):
    assert "Poverty alleviation report 2021" in load_document(bad_corpus / "report.pdf", "report.pdf").text


def test_unsupported_utf16_without_bom_is_binary(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("扶贫".encode("utf-16-le"))
    with pytest.raises(DocumentError):
        load_document(path, "a.txt")


@pytest.mark.slow
def test_the_rest_of_the_corpus_still_indexes(bad_corpus, base_settings, embedder, tmp_path):
    settings = base_settings.replace(corpus_dir=bad_corpus, index_dir=tmp_path / "index")
    report = build_index(settings, embedder=embedder, progress=lambda *_: None)
    assert report.documents == 6
    assert {s.path for s in report.skipped} == {
        "empty.txt",
        "image.txt",
        "truncated.pdf",
        "locked.pdf",
        "bomb.docx",
        "zip.docx",
        "broken.docx",
        "huge.txt",
    }
    data = load_index(settings.index_dir)
    assert {d.doc_id for d in data.documents} == {
        "gbk.txt",
        "good.txt",
        "page.html",
        "repeated.txt",
        "report.pdf",
        "utf16.txt",
    }
