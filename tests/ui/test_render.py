"""Answers and documents as HTML: markers linked, the cited span marked, every text escaped."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

from index.library import DocumentInfo
from index.types import Document
from qa.types import Answer, Citation, Conflict, Hit
from ui import render

EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
DOC_TEXT = "第一段。\n中央层面共安排320个单位定点帮扶592个贫困县。" + EVIL + "结尾。"


def _citation(marker: int = 1, title: str = "坚定不移推进脱贫攻坚") -> Citation:
    sentence = "中央层面共安排320个单位定点帮扶592个贫困县。"
    start = DOC_TEXT.index(sentence)
    return Citation(
        marker=marker,
        doc_id="002_x.txt",
        title=title,
        date="2016-01-01",
        text=sentence,
        start=start,
        end=start + len(sentence),
        passage=DOC_TEXT[5:],
        passage_start=5,
        passage_end=len(DOC_TEXT),
    )


def _hit(text: str = "相关的段落文字" + EVIL) -> Hit:
    return Hit(chunk_id=0, doc_id="a/b c.txt", title="标题" + EVIL, date=None, text=text, start=3, end=9, score=0.5)


def _answer(answered: bool = True, **changes) -> Answer:
    values = {
        "question": "中央层面共安排多少个单位定点帮扶贫困县？",
        "answered": answered,
        "text": "中央层面共安排320个单位。[1]另见[2]。" if answered else "根据现有文档，无法回答这个问题。",
        "citations": (_citation(),) if answered else (),
        "passages": (_hit(), _hit(), _hit(), _hit()),
        "timings_ms": {"total": 1.0},
    }
    values.update(changes)
    return Answer(**values)


class _Tags(HTMLParser):
    """Every start tag and attribute of an HTML string."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_answer_links_known_markers_to_their_cards_only():
    html = render.answer_html(_answer(), turn="t1")
    assert '<a class="pqa-marker" href="#pqa-t1-1"' in html
    assert 'id="pqa-t1-1"' in html
    assert "[2]" in html and "#pqa-t1-2" not in html  # no citation 2: left as text


def test_card_shows_title_date_source_and_marks_the_cited_sentence():
    card = render.citation_card(_citation(), "t1")
    assert "坚定不移推进脱贫攻坚" in card and "2016-01-01" in card and "002_x.txt" in card
    assert re.search(r"<mark>中央层面共安排320个单位定点帮扶592个贫困县。</mark>", card)


def test_card_link_carries_document_and_offsets():
    citation = _citation()
    card = render.citation_card(citation, "t1")
    href = dict(_Tags(card).tags[-1][1])["href"]
    assert href == f"#pqa-source?doc=002_x.txt&start={citation.start}&end={citation.end}"


def test_document_ids_are_url_encoded_in_links():
    assert render.source_href("a/b c&d.txt", 1, 2) == "#pqa-source?doc=a%2Fb%20c%26d.txt&start=1&end=2"


def test_card_context_is_cut_around_the_sentence():
    long_passage = "甲" * 200 + "被引用的句子。" + "乙" * 200
    citation = Citation(1, "d.txt", "t", None, "被引用的句子。", 200, 207, long_passage, 0, len(long_passage))
    html = render.highlighted_passage(citation, context=10)
    assert html == "…" + "甲" * 10 + "<mark>被引用的句子。</mark>" + "乙" * 10 + "…"


def test_sentence_outside_its_passage_is_still_shown():
    citation = Citation(1, "d.txt", "t", None, "句子。", 50, 53, "别的段落", 0, 4)
    assert render.highlighted_passage(citation) == "<mark>句子。</mark>"


def test_everything_from_documents_is_escaped():
    answer = _answer(text="答案" + EVIL + "[1]", notes=(EVIL,), rewritten_question=EVIL)
    for html in (
        render.answer_html(answer, "t"),
        render.answer_html(_answer(answered=False), "t"),
        render.source_html(Document("d<x>.txt", EVIL, EVIL, None, DOC_TEXT, "h"), 0, 5),
        render.error_html(EVIL),
        render.viewer_error_html(EVIL),
    ):
        tags = {tag for tag, _ in _Tags(html).tags}
        assert "script" not in tags and "img" not in tags, html
        assert not any(name.startswith("on") for _, attrs in _Tags(html).tags for name in attrs), html
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_chat_messages_are_one_html_block_without_newlines():
    for html in (render.answer_html(_answer(), "t"), render.answer_html(_answer(answered=False), "t")):
        assert "\n" not in html  # a blank line would end the HTML block and turn the rest into Markdown
    assert "第一段。<br>中央层面" in render.answer_html(_answer(text="第一段。\n中央层面[1]"), "t")


def test_declined_answer_says_so_and_lists_three_related_passages():
    html = render.answer_html(_answer(answered=False), "t")
    assert "无法回答" in html and "相关段落" in html
    assert html.count('class="pqa-card pqa-related"') == render.RELATED_PASSAGES
    assert "#pqa-source?doc=a%2Fb%20c.txt&amp;start=3&amp;end=9" in html


def test_streaming_shows_partial_text_with_cursor_escaped_and_no_cards_yet():
    html = render.partial_html("中央层面共安排320个单位。[1]" + EVIL + "\n下一句")
    assert "pqa-cursor" in html and "pqa-card" not in html
    assert "&lt;script&gt;" in html and "<script>" not in html and "\n" not in html


def test_conflicts_and_notes_are_shown():
    conflict = Conflict("贫困人口", ({"title": "甲文件", "text": "5575万"}, {"title": "乙文件", "text": "5630万"}))
    html = render.answer_html(_answer(conflicts=(conflict,), notes=("大模型不可用，显示摘录式回答",)), "t")
    assert "说法不一致" in html and "《甲文件》（日期不详）：5575万" in html and "大模型不可用" in html


def test_follow_up_shows_how_it_was_understood():
    html = render.answer_html(_answer(rewritten_question="中央层面共安排多少个单位定点帮扶贫困县，军队呢？"), "t")
    assert "按上下文理解为：中央层面共安排多少个单位定点帮扶贫困县，军队呢？" in html


def test_source_view_marks_exactly_the_requested_span():
    doc = Document("d.txt", "标题", "2020-01-02", None, DOC_TEXT, "h")
    start = DOC_TEXT.index("中央")
    html = render.source_html(doc, start, start + 4)
    assert '<mark class="pqa-hit">中央层面</mark>' in html
    assert "第一段。\n" in html  # newlines kept: the viewer shows them with white-space: pre-wrap
    assert f"全文 {len(DOC_TEXT)} 字" in html


def test_source_view_clamps_offsets_past_the_end():
    doc = Document("d.txt", "标题", None, None, "短文。", "h")
    assert '<mark class="pqa-hit"></mark>' in render.source_html(doc, 50, 80)
    assert '<mark class="pqa-hit">短文</mark>' in render.source_html(doc, -5, 2)


def test_the_knowledge_base_list_escapes_titles_and_offers_actions_by_role():
    infos = [
        DocumentInfo("a.txt", "甲" + EVIL, "2021-02-25", 3, True),
        DocumentInfo("b c.pdf", "b", None, 0, False),
    ]
    html = render.document_list_html(infos, may_change=True, file_url=lambda d: "/file=" + d)
    tags = _Tags(html).tags
    assert not [t for t, _ in tags if t in ("img", "script")]
    rows = [a for t, a in tags if t == "li" and "data-doc" in a]
    assert [r["data-doc"] for r in rows] == ["a.txt", "b c.pdf"]
    assert rows[0]["data-date"] == "2021-02-25" and rows[1]["data-date"] == ""
    actions = [a["data-do"] for t, a in tags if t == "button"]
    assert actions == ["preview", "edit", "delete"] * 2
    links = [a for t, a in tags if t == "a"]
    assert [(a["href"], a["download"]) for a in links] == [("/file=a.txt", "a.txt"), ("/file=b c.pdf", "b c.pdf")]
    assert "日期不详" in html and "未索引" in html and "共 2 份文件" in html
    reader = render.document_list_html(infos, may_change=False, file_url=lambda d: "/file=" + d)
    assert [a["data-do"] for t, a in _Tags(reader).tags if t == "button"] == ["preview", "preview"]


def test_the_coverage_line_names_the_years_and_the_first_titles():
    infos = [
        DocumentInfo("a.txt", "甲<b>", "2018-03-01", 3, True),
        DocumentInfo("b.txt", "乙", None, 2, True),
        DocumentInfo("c.txt", "丙", "2021-02-25", 2, True),
        DocumentInfo("d.txt", "丁", "2020-01-01", 2, True),
        DocumentInfo("e.txt", "未建索引", None, 0, False),
    ]
    assert render.coverage_line(infos) == "收录 4 份文件（2018—2021 年）：《甲<b>》《乙》《丙》等"
    assert render.coverage_line(infos[1:2]) == "收录 1 份文件：《乙》"
    assert render.coverage_line([]) == "知识库里还没有已索引的文件。"


def test_unverified_figure_is_marked_with_its_reason_and_listed():
    from qa.types import Answer, Figure

    answer = Answer(
        question="q",
        answered=True,
        text="累计投入7200亿元[1]，帮扶320个单位[1]。",
        citations=(),
        passages=(),
        timings_ms={},
        figures=(
            Figure(
                text="7200亿元", value=7.2e11, unit="元", marker=1, verified=False, reason="引用[1]写的是7100多亿元"
            ),
            Figure(text="320个", value=320, unit="个", marker=1, verified=True),
        ),
    )
    html_out = render.answer_html(answer, "t1")
    assert 'class="pqa-unverified" title="未核实：引用[1]写的是7100多亿元">7200亿元' in html_out
    assert "320个" in html_out and html_out.count('pqa-unverified"') == 1
    assert "以下数字未能在所引原文中核实：7200亿元" in html_out


def test_the_mark_lands_on_the_unverified_occurrence_of_a_repeated_figure():
    from qa.types import Answer, Figure

    answer = Answer(
        question="q",
        answered=True,
        text="2016年投入200亿元[1]，2017年又投入200亿元[2]。",
        citations=(),
        passages=(),
        timings_ms={},
        figures=(
            Figure(text="2016年", value=2016, unit="年", marker=1, verified=True),
            Figure(text="200亿元", value=2e10, unit="元", marker=1, verified=True),
            Figure(text="2017年", value=2017, unit="年", marker=2, verified=True),
            Figure(
                text="200亿元", value=2e10, unit="元", marker=2, verified=False, reason="引用的原文[2]写的是220亿元"
            ),
        ),
    )
    html_out = render.answer_text_html(answer.text, "t1", [1, 2], answer.figures)
    first, second = html_out.split("2017年", 1)
    assert "pqa-unverified" not in first
    # the [2] inside the tooltip stays text; the two markers of the answer are links
    assert '<span class="pqa-unverified" title="未核实：引用的原文[2]写的是220亿元">200亿元' in second
    assert html_out.count('class="pqa-marker"') == 2


def test_conflict_lists_each_value_with_title_and_date():
    from qa.types import Answer, Conflict

    conflict = Conflict(
        measure="驻村工作队",
        values=(
            {"text": "25.5万个", "title": "甲", "date": "2025-10-10", "source": "a.txt"},
            {"text": "24.5万个", "title": "<乙>", "date": None, "source": "b.txt"},
        ),
    )
    answer = Answer(
        question="q", answered=True, text="t", citations=(), passages=(), timings_ms={}, conflicts=(conflict,)
    )
    html_out = render.answer_html(answer, "t2")
    assert "《甲》（2025-10-10）：25.5万个" in html_out and "《&lt;乙&gt;》（日期不详）：24.5万个" in html_out


def test_list_items_start_on_their_own_lines_and_prose_stays_a_paragraph():
    listed = "一、脱贫攻坚取得的成就[1]经过五年奋战，全部脱贫。[2]一、坚持党的领导[3][4]二、坚持人民立场[5]"
    assert render.list_lines(listed) == (
        "一、脱贫攻坚取得的成就[1]\n经过五年奋战，全部脱贫。[2]\n一、坚持党的领导[3][4]\n二、坚持人民立场[5]"
    )
    fragments = "总结经验。[1]实施十大精准扶贫工程[2]精准制定帮扶举措[3]"
    assert render.list_lines(fragments) == "总结经验。[1]\n实施十大精准扶贫工程[2]\n精准制定帮扶举措[3]"
    prose = "中央层面共安排320个单位。[1]中央企业设立基金。[2]其中[3]，另有[4]。"
    assert render.list_lines(prose) == prose
    html = render.answer_html(_answer(text=fragments, citations=(_citation(1), _citation(2), _citation(3))), "t")
    assert "[1]</a><br>实施十大精准扶贫工程" in html


def test_plain_text_has_the_markers_and_one_source_line_per_citation():
    answer = _answer(citations=(_citation(1), _citation(2, title="另一份文件")))
    assert render.plain_text(answer) == (
        "中央层面共安排320个单位。[1]另见[2]。\n\n来源：\n"
        "[1] 坚定不移推进脱贫攻坚，2016-01-01：「中央层面共安排320个单位定点帮扶592个贫困县。」\n"
        "[2] 另一份文件，2016-01-01：「中央层面共安排320个单位定点帮扶592个贫困县。」"
    )
    assert "\n- [2] 另一份文件" in render.plain_text(answer, bullet="- ")
    declined = render.plain_text(_answer(answered=False, notes=("大模型回答失败",)))
    assert declined.startswith("根据现有文档，无法回答这个问题。\n注意：大模型回答失败\n\n相关段落（供参考）：\n")
    assert declined.count("「相关的段落文字") == render.RELATED_PASSAGES  # quoted as text, never markup
    long = _citation()
    long = Citation(**{**long.__dict__, "text": "长" * 200})
    assert "「" + "长" * (render.SNIPPET_CHARS - 1) + "…」" in render.plain_text(_answer(citations=(long,)))


def test_the_plain_text_travels_escaped_inside_the_answer_html():
    html = render.answer_html(_answer(citations=(_citation(title="标题" + EVIL),)), "t1")
    plain = re.search(r'<div class="pqa-plain">(.*?)</div>', html).group(1)
    assert "&#10;来源：&#10;[1] 标题&lt;img src=x" in plain and "\n" not in html
    assert not [t for t, _ in _Tags(html).tags if t in ("img", "script")]


def test_more_than_three_cards_fold_behind_a_summary():
    citations = tuple(_citation(n) for n in range(1, 6))
    html = render.answer_html(_answer(text="甲[1]乙[2]丙[3]丁[4]戊[5]", citations=citations), "t2")
    opened, folded = html.split('<details class="pqa-more">')
    assert opened.count('class="pqa-card"') == render.OPEN_CARDS
    assert folded.startswith("<summary>展开全部 5 条来源</summary>") and folded.count('class="pqa-card"') == 2
    three = render.answer_html(_answer(text="甲[1]乙[2]丙[3]", citations=citations[:3]), "t3")
    assert "<details" not in three and three.count('class="pqa-card"') == 3


def test_every_finished_answer_offers_copy_and_feedback_and_a_partial_one_does_not():
    for answer in (_answer(), _answer(answered=False)):
        tags = _Tags(render.answer_html(answer, "ab12")).tags
        actions = [a for t, a in tags if t == "a" and "pqa-act" in a.get("class", "")]
        assert [a["href"] for a in actions] == [f"#pqa-action?turn=ab12&do={d}" for d in ("copy", "up", "down")]
        assert all(a["title"] and a["role"] == "button" for a in actions)
    assert "pqa-act" not in render.partial_html("正在")


# --- pages of PDFs and pictures, and text read by OCR ---------------------------------------------

PAGED_TEXT = "第一页的正文。\n第二页：中央层面共安排320个单位。\n第三页的正文。"


def _paged(ocr: tuple[int, ...] = (2,), starts: tuple[int, ...] | None = None) -> Document:
    if starts is None:
        starts = (0, PAGED_TEXT.index("第二页"), PAGED_TEXT.index("第三页"))
    return Document("scan.pdf", "扫描件", "2023-01-01", None, PAGED_TEXT, "h", page_starts=starts, ocr_pages=ocr)


def _page_links(html: str) -> list[str]:
    return [a["href"] for tag, a in _Tags(html).tags if tag == "a" and a.get("class") == "pqa-page-link"]


def test_cards_and_plain_text_name_the_page_and_mark_text_read_by_ocr():
    scanned = replace(_citation(), page=2, ocr=True)
    card = render.citation_card(scanned, "t")
    assert '<span class="pqa-page-no">第2页</span>' in card
    assert f'<span class="pqa-ocr" title="{render.OCR_NOTE}">OCR识别</span>' in card
    assert "[1] 坚定不移推进脱贫攻坚，2016-01-01，第2页（OCR识别）：「" in render.plain_text(
        _answer(citations=(scanned,))
    )
    printed = render.citation_card(replace(_citation(), page=3), "t")
    assert "第3页" in printed and "OCR识别" not in printed
    unpaged = render.citation_card(_citation(), "t")
    assert "pqa-page-no" not in unpaged and "OCR识别" not in unpaged
    related = render.related_card(replace(_hit(), page=1, ocr=True))
    assert "第1页" in related and "OCR识别" in related


def test_the_viewer_shows_only_the_cited_page_with_links_to_the_pages_around_it():
    doc = _paged()
    start = PAGED_TEXT.index("中央")
    html = render.source_html(doc, start, start + 4)
    assert '<mark class="pqa-hit">中央层面</mark>' in html
    assert "第一页的正文" not in html and "第三页的正文" not in html
    assert "第2页 / 共3页" in html and "OCR识别" in html and 'aria-label="第2页"' in html
    third = doc.page_starts[2]
    assert _page_links(html) == [render.source_href("scan.pdf", 0, 0), render.source_href("scan.pdf", third, third)]
    assert _page_links(render.source_html(doc, 0, 3)) == [
        render.source_href("scan.pdf", doc.page_starts[1], doc.page_starts[1])
    ]


def test_a_scanned_page_shows_its_image_beside_its_text():
    import base64

    html = render.source_html(_paged(), PAGED_TEXT.index("中央"), PAGED_TEXT.index("中央") + 4, b"\xff\xd8\xffJPEG")
    images = [attrs for tag, attrs in _Tags(html).tags if tag == "img"]
    assert images == [
        {"src": "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xffJPEG").decode(), "alt": "第2页的扫描图像"}
    ]
    assert 'class="pqa-page-view"' in html and "第2页原件（扫描图像）" in html


def test_the_highlight_stops_where_its_page_ends():
    doc = _paged()
    start = PAGED_TEXT.index("正文")
    html = render.source_html(doc, start, len(PAGED_TEXT))
    assert '<mark class="pqa-hit">正文。\n</mark>' in html and "第1页 / 共3页" in html


def test_page_links_skip_pages_without_text():
    third = PAGED_TEXT.index("第三页")
    doc = _paged(ocr=(), starts=(0, PAGED_TEXT.index("第二页"), third, third))
    html = render.source_html(doc, third, third)
    assert "第4页 / 共4页" in html  # page 3 is empty: its offset belongs to page 4
    assert _page_links(html) == [render.source_href("scan.pdf", doc.page_starts[1], doc.page_starts[1])]
    assert "OCR识别" not in html


def test_the_preview_of_a_paged_document_opens_on_the_asked_page():
    doc = _paged()
    html = render.document_preview_html(doc, None, doc.page_starts[2])
    assert "第3页 / 共3页" in html and "第三页的正文" in html and "pqa-hit" not in html


def test_a_generated_answer_shows_the_models_speed_under_its_text():
    timings = {"total": 5000.0, "llm_first_token": 1234.5, "llm_tokens_per_s": 35.04}
    html = render.answer_html(_answer(timings_ms=timings), "t")
    speed = re.search(r'<div class="pqa-speed">([^<]*)</div>', html)
    assert speed and speed.group(1) == "大模型：首个词元 1.2 秒，每秒 35.0 个词元"
    assert html.index("pqa-speed") > html.index('class="pqa-text"')  # under the text
    assert render.speed_text({"llm_first_token": 800.0}) == "大模型：首个词元 0.8 秒"
    assert "pqa-speed" not in render.answer_html(_answer(), "t")  # an extractive answer has no speed line
