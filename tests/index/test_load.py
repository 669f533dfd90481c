"""Loading and cleaning: encodings, front matter, HTML, furniture, other scripts."""

from __future__ import annotations

import logging

import pytest

from index.clean import clean_document
from index.errors import DocumentError
from index.load import decode_text, load_corpus, load_document
from tests.conftest import CORPUS


def test_front_matter_becomes_metadata_and_leaves_the_text():
    doc = load_document(CORPUS / "000_ac731e8362aff455.txt", "000_ac731e8362aff455.txt")
    assert doc.title == "党领导脱贫攻坚工作的历史经验与启示"
    assert doc.date == "2021-09-14"
    assert doc.author == "ZAKER"
    assert "headimg" not in doc.text and "---" not in doc.text


def test_html_tags_are_stripped_and_entities_decoded():
    cleaned = clean_document(
        "<div><p>第一段&amp;说明&nbsp;文字</p><p>第二段<strong>重点</strong></p><script>alert(1)</script></div>"
    )
    assert cleaned.text == "第一段&说明文字\n第二段重点"


def test_seed_html_fragment_leaves_no_tags():
    doc = load_document(CORPUS / "000_ac731e8362aff455.txt", "000")
    assert "<" not in doc.text and "&nbsp;" not in doc.text
    assert "中央财政累计投入6601亿元" in doc.text


def test_web_page_furniture_is_dropped():
    doc = load_document(CORPUS / "001_8f2e60f4829d27b2.txt", "001")
    for furniture in ("您的位置", "人已围观", "随机图文"):
        assert furniture not in doc.text
    # The view-counter line carried the publication date.
    assert doc.date == "2025-10-10"
    assert doc.title.startswith("2021-2025:以脱贫攻坚精神赋能乡村振兴")


def test_spaces_padding_chinese_are_collapsed():
    cleaned = clean_document("组织各地对2016年 脱 贫 不 实 开 展 自 查 自 纠 。投入 6601 亿元")
    assert cleaned.text == "组织各地对2016年脱贫不实开展自查自纠。投入6601亿元"


def test_a_sentence_broken_across_lines_is_rejoined():
    body = (
        "标题\n"
        + "为此，对脱贫县从脱贫之日起设立5年过渡期，过渡期内保持主要帮扶政策总体稳"
        + "\n\n定。健全防止返贫动态监测。"
    )
    assert clean_document(body).text.splitlines()[1].endswith("保持主要帮扶政策总体稳定。健全防止返贫动态监测。")


@pytest.mark.parametrize(
    "lines",
    [
        ["标题", "一、突出组织领导，凝心聚力压责任", "五年多来，昌都市按照部署推进。"],  # a heading
        ["标题", "习近平总书记来到村里看望贫困户一家。新华社记者鞠鹏/摄", "一些地方出现了问题。"],  # a photo credit
        ["标题", "这一段很长很长的正文还没有结束就到了行尾但下一行是列表的开头", "二是坚持精准方略。"],  # a list item
        ["标题", "这一段写完了。", "下一段。"],
    ],
)
def test_headings_captions_list_items_and_finished_paragraphs_stay_apart(lines):
    assert clean_document("\n".join(lines)).text.splitlines() == lines


def test_the_seed_page_breaks_inside_sentences_are_mended():
    doc = load_document(CORPUS / "004_5a3edcfde8a29aaf.txt", "004")
    assert "832个贫困县全部摘帽，12.8万个贫困村全部出列" in doc.text
    assert "过渡期内保持主要帮扶政策总体稳定。" in doc.text


def test_date_from_an_imprint_line_far_below_the_header():
    doc = load_document(CORPUS / "004_5a3edcfde8a29aaf.txt", "004")
    assert doc.date == "2021-12-10"
    body = "标题\n" + "".join(f"第{n}段正文。\n" for n in range(50))
    assert clean_document(body + "发布时间：2019-03-08\n").date == "2019-03-08"
    # An unlabelled date in the body is what the text speaks of, not when it was published.
    assert clean_document(body + "2019年3月8日召开会议。").date is None


def test_tibetan_passes_through_intact():
    doc = load_document(CORPUS / "004_5a3edcfde8a29aaf.txt", "004")
    assert "ཁོར་ཡུང་རྒྱལ་ཁབ་" in doc.text


def test_date_from_a_byline():
    doc = load_document(CORPUS / "003_3021266cc6ae144a.txt", "003")
    assert doc.date == "2020-04-30"
    assert doc.title == "习近平:在打好精准脱贫攻坚战座谈会上的讲话"


@pytest.mark.parametrize(
    "data",
    [
        "扶贫日是10月17日。".encode(),
        "扶贫日是10月17日。".encode("utf-8-sig"),
        "扶贫日是10月17日。".encode("gb18030"),
        "扶贫日是10月17日。".encode("utf-16"),
    ],
    ids=["utf-8", "utf-8-bom", "gb18030", "utf-16-bom"],
)
def test_supported_encodings_decode(data):
    assert decode_text(data) == "扶贫日是10月17日。"


def test_binary_and_empty_files_are_skipped_with_a_named_warning(tmp_path, caplog):
    (tmp_path / "good.txt").write_text("精准扶贫是基本方略。", encoding="utf-8")
    (tmp_path / "image.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "gbk.txt").write_bytes("中央财政专项扶贫资金。".encode("gb18030"))
    with caplog.at_level(logging.WARNING):
        documents, skipped = load_corpus(tmp_path)
    assert sorted(d.doc_id for d in documents) == ["gbk.txt", "good.txt"]
    assert {s.path for s in skipped} == {"image.txt", "empty.txt"}
    assert "image.txt" in caplog.text and "empty.txt" in caplog.text


def test_html_file_and_markdown_file(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><title>x</title><style>p{}</style></head><body><h1>扶贫政策</h1><p>内容。</p></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "notes.md").write_text("# 标题一\n\n正文内容。", encoding="utf-8")
    documents, skipped = load_corpus(tmp_path)
    by_id = {d.doc_id: d for d in documents}
    assert skipped == []
    assert by_id["page.html"].text == "扶贫政策\n内容。"
    assert by_id["page.html"].title == "扶贫政策"
    assert by_id["notes.md"].text.endswith("正文内容。")
    assert by_id["notes.md"].title == "标题一"


def test_unsupported_type_is_an_error(tmp_path):
    path = tmp_path / "table.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DocumentError, match="unsupported file type"):
        load_document(path, "table.xlsx")


def test_documents_get_ids_relative_to_the_corpus(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("政策文件。", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("隐藏。", encoding="utf-8")
    documents, _ = load_corpus(tmp_path)
    assert [d.doc_id for d in documents] == ["sub/a.txt"]


@pytest.mark.parametrize("data,kind", [(b"%PDF-1.4\n%binary", "PDF"), (b"PK\x03\x04rest-of-zip", "ZIP")])
def test_pdf_or_zip_named_txt_is_refused(tmp_path, data, kind):
    path = tmp_path / "report.txt"
    path.write_bytes(data)
    with pytest.raises(DocumentError, match=kind):
        load_document(path, "report.txt")
