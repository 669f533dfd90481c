"""Answers and documents as HTML: pure functions, every piece of document text escaped.

Document text is data from outside (a web page may hold ``<script>``), so it
goes through ``html.escape`` before it touches markup, always. Chat messages
are single-line HTML blocks: the chat renders Markdown, and one HTML block
without blank lines is passed through untouched rather than read as Markdown.
Links carry their data in the ``href`` (the chat's sanitizer drops ``data-*``
attributes); the page's click handler reads it from there.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from urllib.parse import quote

from index.library import DocumentInfo
from index.types import Document
from qa.types import Answer, Citation, Figure, Hit

MARKER = re.compile(r"\[(\d+)\]")
# The href prefix the page's click handler recognizes as "open this span in the viewer".
SOURCE_LINK = "#pqa-source?"
# A card shows this many characters of the passage before and after the cited sentence
# (the whole document is one click away in the viewer).
CARD_CONTEXT_CHARS = 60
# Declined answers list this many nearby passages.
RELATED_PASSAGES = 3
# Related passages are cut to this many characters in their card.
RELATED_CHARS = 160
UNKNOWN_DATE = "日期不详"
# The mark on text that OCR read from a scanned page, and what it means (tooltip).
OCR_LABEL = "OCR识别"
OCR_NOTE = "这段文字由 OCR 从扫描图像识别，可能有个别字识别错误；请对照原件核实"
# The page's line on what the knowledge base covers names this many titles.
COVERAGE_TITLES = 3
COVERAGE_TITLE_CHARS = 24
# More citation cards than this are folded behind 「展开全部 N 条来源」 (the first ones stay open).
OPEN_CARDS = 3
# A source line of the plain-text answer (copy button, OpenAI API) quotes this much of the cited sentence.
SNIPPET_CHARS = 80
# An answer is a list when a run of [n] markers follows a fragment that is not a finished sentence,
# or comes before an enumeration (一、 （二） 三是 4.); in a list every item (the text after a run of
# markers) starts on its own line. Prose, whose sentences end in 。！？；, stays one paragraph.
MARKERS_THEN_TEXT = re.compile(r"((?:\[\d+\])+)(?=[^\s\[，。；：、,.;:！？!?）)」』”’])")
LIST_ITEM_END = re.compile(
    r"(?<=[^。！？；!?;\s\]])((?:\[\d+\])+)(?=[^\s\[，。；：、,.;:！？!?）)」』”’])"
    r"|((?:\[\d+\])+)(?=[一二三四五六七八九十]+[、是]|（[一二三四五六七八九十]+）|\d+[.．、](?!\d))"
)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _lines(text: str) -> str:
    """Escaped text with line breaks as <br> (no raw newline may end a chat HTML block)."""
    return "<br>".join(_esc(line) for line in text.split("\n"))


def list_lines(text: str) -> str:
    """The answer text with each list item on its own line (``LIST_ITEM_END``); prose is unchanged."""
    if not LIST_ITEM_END.search(text):
        return text
    return MARKERS_THEN_TEXT.sub(lambda m: m.group(1) + "\n", text)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A quotation of at most ``limit`` characters, cut with 「…」."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_text(answer: Answer, bullet: str = "") -> str:
    """The answer as plain text: the text with its [n] markers, notes, then one line per source.

    Sources read 「[1] 标题，日期：「引文」」; a declined answer lists the nearest passages instead.
    The copy button copies this text, and the OpenAI-compatible API returns it (``bullet="- "``,
    so Markdown shows one source per line).

    Args:
        answer: the pipeline's answer.
        bullet: written before each source line.
    """
    return list_lines(answer.text) + plain_text_tail(answer, bullet)


def plain_text_tail(answer: Answer, bullet: str = "") -> str:
    """What ``plain_text`` writes after the answer's text: a line break, notes, sources ("" if none)."""
    lines = [""]
    if answer.rewritten_question:
        lines.append(f"（按上下文理解为：{answer.rewritten_question}）")
    lines.extend(f"注意：{note}" for note in answer.notes)
    if answer.citations:
        lines += ["", "来源："]
        lines += [
            f"{bullet}[{c.marker}] {c.title}，{c.date or UNKNOWN_DATE}{page_words(c)}：「{snippet(c.text)}」"
            for c in answer.citations
        ]
    elif answer.passages:
        lines += ["", "相关段落（供参考）："]
        lines += [
            f"{bullet}{h.title}，{h.date or UNKNOWN_DATE}{page_words(h)}：「{snippet(h.text)}」"
            for h in answer.passages[:RELATED_PASSAGES]
        ]
    return "\n".join(lines) if len(lines) > 1 else ""


def page_words(item: Citation | Hit) -> str:
    """「，第3页（OCR识别）」 for a page of a PDF or picture; "" for documents without pages."""
    if item.page is None:
        return ""
    return f"，第{item.page}页" + (f"（{OCR_LABEL}）" if item.ocr else "")


def page_meta(item: Citation | Hit) -> str:
    """A card's page and OCR marks as HTML: 「 · 第3页 OCR识别」 ("" for documents without pages)."""
    if item.page is None:
        return ""
    mark = f' <span class="pqa-ocr" title="{OCR_NOTE}">{OCR_LABEL}</span>' if item.ocr else ""
    return f' · <span class="pqa-page-no">第{item.page}页</span>{mark}'


def speed_text(timings_ms: dict[str, float]) -> str:
    """How fast the model wrote the answer, for a person: 「大模型：首个词元 1.2 秒，每秒 35.0 个词元」
    ("" when no model wrote it). Time to the first token counts from the request to the model."""
    if "llm_first_token" not in timings_ms:
        return ""
    text = f"大模型：首个词元 {timings_ms['llm_first_token'] / 1000:.1f} 秒"
    if "llm_tokens_per_s" in timings_ms:
        text += f"，每秒 {timings_ms['llm_tokens_per_s']:.1f} 个词元"
    return text


def source_href(doc_id: str, start: int, end: int) -> str:
    """The link that opens ``doc_id`` in the source viewer at characters [start, end)."""
    return f"{SOURCE_LINK}doc={quote(doc_id, safe='')}&start={int(start)}&end={int(end)}"


def card_id(turn: str, marker: int) -> str:
    """The element id of citation card ``marker`` of answer ``turn`` (unique on the page)."""
    return f"pqa-{turn}-{marker}"


def answer_text_html(text: str, turn: str, markers: Iterable[int] = (), figures: Iterable[Figure] = ()) -> str:
    """The answer text escaped, each [n] of a known citation linked to its card.

    A figure that its cited snippet does not state is marked, with the reason as tooltip.
    """
    known = set(markers)
    escaped = _lines(list_lines(text))

    def link(match: re.Match) -> str:
        n = int(match.group(1))
        if n not in known:
            return match.group(0)
        return f'<a class="pqa-marker" href="#{card_id(turn, n)}" title="查看引用 {n}">[{n}]</a>'

    # Figures come in the order of the text: walk it once, so a mark lands on that figure's own
    # occurrence (not on an earlier verified one with the same text). Markers are linked in the
    # text between marks only: a tooltip such as "引用的原文[1]中没有…" must stay plain text.
    parts: list[str] = []
    cursor = 0
    for figure in figures:
        shown = _esc(figure.text)
        at = escaped.find(shown, cursor) if figure.text else -1
        if at < 0:
            continue
        parts.append(MARKER.sub(link, escaped[cursor:at]))
        if figure.verified:
            parts.append(shown)
        else:
            reason = figure.reason or "引用的原文中没有这个数字"
            parts.append(
                f'<span class="pqa-unverified" title="未核实：{_esc(reason)}">{shown}'
                '<sup aria-hidden="true">⚠</sup></span>'
            )
        cursor = at + len(shown)
    parts.append(MARKER.sub(link, escaped[cursor:]))
    return "".join(parts)


def highlighted_passage(citation: Citation, context: int = CARD_CONTEXT_CHARS) -> str:
    """The cited sentence in <mark>, with up to ``context`` characters of its passage either side."""
    lo = max(citation.start, citation.passage_start) - citation.passage_start
    hi = min(citation.end, citation.passage_end) - citation.passage_start
    passage = citation.passage
    if not 0 <= lo < hi <= len(passage):
        return f"<mark>{_lines(citation.text)}</mark>"
    before = passage[max(0, lo - context) : lo]
    after = passage[hi : hi + context]
    before = ("…" if lo > context else "") + before
    after = after + ("…" if hi + context < len(passage) else "")
    return f"{_lines(before)}<mark>{_lines(passage[lo:hi])}</mark>{_lines(after)}"


def citation_card(citation: Citation, turn: str) -> str:
    """A card: number, title, date and source file, the passage with the cited sentence marked."""
    return (
        f'<div class="pqa-card" id="{card_id(turn, citation.marker)}">'
        f'<div class="pqa-card-head"><span class="pqa-card-num">{citation.marker}</span>'
        f'<span class="pqa-card-title">{_esc(citation.title)}</span></div>'
        f'<div class="pqa-card-meta">{_esc(citation.date or UNKNOWN_DATE)} · {_esc(citation.doc_id)}'
        f"{page_meta(citation)}</div>"
        f'<div class="pqa-card-passage">{highlighted_passage(citation)}</div>'
        f'<a class="pqa-open" href="{_esc(source_href(citation.doc_id, citation.start, citation.end))}">'
        "查看原文 ›</a></div>"
    )


def related_card(hit: Hit) -> str:
    """A card for a nearby passage of a declined question."""
    text = hit.text if len(hit.text) <= RELATED_CHARS else hit.text[:RELATED_CHARS] + "…"
    return (
        '<div class="pqa-card pqa-related">'
        f'<div class="pqa-card-head"><span class="pqa-card-title">{_esc(hit.title)}</span></div>'
        f'<div class="pqa-card-meta">{_esc(hit.date or UNKNOWN_DATE)} · {_esc(hit.doc_id)}{page_meta(hit)}</div>'
        f'<div class="pqa-card-passage">{_lines(text)}</div>'
        f'<a class="pqa-open" href="{_esc(source_href(hit.doc_id, hit.start, hit.end))}">查看原文 ›</a></div>'
    )


def partial_html(text: str) -> str:
    """The chat message while an answer is being composed: the text so far and a cursor."""
    return (
        f'<div class="pqa-msg"><div class="pqa-text">{_lines(list_lines(text))}'
        '<span class="pqa-cursor"></span></div></div>'
    )


def answer_html(answer: Answer, turn: str) -> str:
    """The chat message for a finished answer: its text with linked markers, then its cards.

    Args:
        answer: the pipeline's answer.
        turn: a token unique to this answer on the page (card ids are built from it).
    """
    parts = ['<div class="pqa-msg">' if answer.answered else '<div class="pqa-msg pqa-declined">']
    if answer.rewritten_question:
        parts.append(f'<div class="pqa-rewrite">按上下文理解为：{_esc(answer.rewritten_question)}</div>')
    markers = [c.marker for c in answer.citations]
    parts.append(f'<div class="pqa-text">{answer_text_html(answer.text, turn, markers, answer.figures)}</div>')
    speed = speed_text(answer.timings_ms)
    if speed:
        parts.append(f'<div class="pqa-speed">{_esc(speed)}</div>')
    parts.extend(f'<div class="pqa-note">{_esc(note)}</div>' for note in answer.notes)
    unverified = [f for f in answer.figures if not f.verified]
    if unverified:
        listed = "；".join(f"{_esc(f.text)}（{_esc(f.reason or '引用的原文中没有这个数字')}）" for f in unverified)
        parts.append(f'<div class="pqa-note pqa-unverified-note">⚠ 以下数字未能在所引原文中核实：{listed}</div>')
    parts.extend(_conflict_html(conflict) for conflict in answer.conflicts)
    if answer.citations:
        parts.append('<div class="pqa-sources"><div class="pqa-sources-title">引用来源</div>')
        cards = [citation_card(c, turn) for c in answer.citations]
        parts.extend(cards[:OPEN_CARDS])
        if len(cards) > OPEN_CARDS:
            # Folded, not dropped: a marker of a folded card opens the fold (ui/static/viewer.js).
            parts.append(
                f'<details class="pqa-more"><summary>展开全部 {len(cards)} 条来源</summary>'
                + "".join(cards[OPEN_CARDS:])
                + "</details>"
            )
        parts.append("</div>")
    elif answer.passages:
        parts.append('<div class="pqa-sources"><div class="pqa-sources-title">相关段落（供参考）</div>')
        parts.extend(related_card(h) for h in answer.passages[:RELATED_PASSAGES])
        parts.append("</div>")
    parts.append(answer_actions_html(turn))
    # The copy button, feedback and the Markdown export read these (the chat shows them nowhere).
    # Line breaks are character references: a blank line would end the chat's HTML block.
    parts.append(f'<div class="pqa-plain">{_esc(plain_text(answer)).replace(chr(10), "&#10;")}</div>')
    parts.append(f'<div class="pqa-asked">{_esc(answer.question)}</div>')
    parts.append("</div>")
    return "".join(parts)


def answer_actions_html(turn: str) -> str:
    """The row under a finished answer: copy as plain text, 👍 / 👎 feedback.

    Links, not buttons: the chat's sanitizer keeps links, their href (which carries the action
    and the answer's turn to the page's click handler, ui/static/page.js), role and title, but
    drops aria-label, so each link's words are its accessible name.
    """
    base = f"#pqa-action?turn={quote(turn, safe='')}&do="

    def action(name: str, title: str, shown: str) -> str:
        return f'<a class="pqa-act pqa-{name}" href="{base}{name}" role="button" title="{title}">{shown}</a>'

    return (
        '<div class="pqa-actions">'
        + action("copy", "复制回答（纯文本，含来源）", "复制")
        + action("up", "这个回答有帮助", "👍 有帮助")
        + action("down", "这个回答没有帮助", "👎 没帮助")
        + "</div>"
    )


def _conflict_html(conflict) -> str:
    values = "；".join(
        f"《{_esc(str(v.get('title', '')))}》（{_esc(str(v.get('date') or UNKNOWN_DATE))}）："
        f"{_esc(str(v.get('text', '')))}"
        for v in conflict.values
    )
    return f'<div class="pqa-note">不同文件对“{_esc(conflict.measure)}”的说法不一致：{values}</div>'


def pending_html() -> str:
    """The chat message shown while the answer is being looked up."""
    return '<div class="pqa-msg pqa-pending">正在检索文件…</div>'


def error_html(message: str) -> str:
    """A chat message for a question that could not be answered as asked."""
    return f'<div class="pqa-msg pqa-error">{_lines(message)}</div>'


def source_html(document: Document, start: int, end: int, picture: bytes | None = None) -> str:
    """The cleaned document with characters [start, end) highlighted.

    A document with pages (PDF, picture) shows the page holding ``start``, with links to the
    pages before and after it; a page read by OCR is marked so, with ``picture`` (a JPEG of
    the page) beside its text when given.
    """
    text = document.text
    start = min(max(int(start), 0), len(text))
    end = min(max(int(end), start), len(text))
    page = document.page_at(start)
    shown_from, shown_to = document.page_span(page) if page is not None else (0, len(text))
    end = min(end, shown_to)
    meta = f"{_esc(document.date or UNKNOWN_DATE)} · {_esc(document.doc_id)}"
    if page is None:
        meta += f" · 全文 {len(text)} 字"
    else:
        meta += f" · 第{page}页 / 共{len(document.page_starts)}页"
        if document.is_ocr(page):
            meta += f' <span class="pqa-ocr" title="{OCR_NOTE}">{OCR_LABEL}</span>'
    label = "全文" if page is None else f"第{page}页"
    body = (
        # Focusable, so a keyboard can scroll the text (axe-core: scrollable-region-focusable).
        f'<div class="pqa-doc" tabindex="0" role="region" aria-label="{label}">'
        f'{_esc(text[shown_from:start])}<mark class="pqa-hit">{_esc(text[start:end])}</mark>'
        f"{_esc(text[end:shown_to])}</div>"
    )
    if picture is not None:
        encoded = base64.b64encode(picture).decode("ascii")
        body = (
            f'<div class="pqa-page-view">{body}<figure class="pqa-scan">'
            f'<img src="data:image/jpeg;base64,{encoded}" alt="第{page}页的扫描图像">'
            f"<figcaption>第{page}页原件（扫描图像）</figcaption></figure></div>"
        )
    return (
        '<div class="pqa-viewer">'
        f'<div class="pqa-viewer-head"><div class="pqa-viewer-title">{_esc(document.title)}</div>'
        f'<div class="pqa-viewer-meta">{meta}</div>{_page_links(document, page)}'
        '<a class="pqa-back" href="#pqa-chat">↑ 回到对话</a></div>'
        f"{body}</div>"
    )


def _page_links(document: Document, page: int | None) -> str:
    """Links to the pages before and after ``page`` (none for documents without pages)."""
    if page is None or len(document.page_starts) < 2:
        return ""
    # Pages whose text was all dropped (blank, or nothing but a running header) cannot be shown.
    spans = {n: document.page_span(n) for n in range(1, len(document.page_starts) + 1)}
    with_text = [n for n, (first, stop) in spans.items() if first < stop]
    before = [n for n in with_text if n < page]
    after = [n for n in with_text if n > page]
    links = []
    for target, shown in ((before[-1] if before else None, "‹ 上一页"), (after[0] if after else None, "下一页 ›")):
        if target is not None:
            at = document.page_starts[target - 1]
            href = _esc(source_href(document.doc_id, at, at))
            links.append(f'<a class="pqa-page-link" href="{href}" title="第{target}页">{shown}</a>')
    return f'<nav class="pqa-pages" aria-label="翻页">{"".join(links)}</nav>'


def viewer_placeholder_html() -> str:
    """The source viewer before any citation was clicked."""
    return (
        '<div class="pqa-viewer pqa-viewer-empty"><div class="pqa-viewer-title">原文</div>'
        "<p>点击回答下方的引用卡片，这里会显示整篇文件，并定位、高亮被引用的句子。</p></div>"
    )


def viewer_error_html(message: str) -> str:
    """The source viewer when a document cannot be shown."""
    return f'<div class="pqa-viewer pqa-viewer-empty"><p class="pqa-error">{_esc(message)}</p></div>'


def document_list_html(documents: Sequence[DocumentInfo], may_change: bool, file_url) -> str:
    """The knowledge base as a list: per document its title, date, chunks, status, file and actions.

    A table's columns on a wide screen, one card per document on a phone (ui/static/app.css).
    Actions are buttons read by ui/static/library.js: 预览 and 下载 for everyone; 编辑 (title
    and date) and 删除 only for those who may change the knowledge base.

    Args:
        documents: the rows.
        may_change: show 编辑 and 删除.
        file_url: doc id → the URL that downloads the original file.
    """
    head = (
        '<li class="pqa-kb-row pqa-kb-head" aria-hidden="true"><span>标题</span><span>日期</span>'
        "<span>段落数</span><span>状态</span><span>文件</span><span>操作</span></li>"
    )
    rows = []
    for d in documents:
        doc = _esc(d.doc_id)
        edit = (
            f'<button type="button" class="pqa-kb-act" data-do="edit" aria-label="编辑《{_esc(d.title)}》的标题和日期">'
            "编辑</button>"
            '<button type="button" class="pqa-kb-act pqa-kb-danger" data-do="delete" '
            f'aria-label="删除 {doc}">删除</button>'
            if may_change
            else ""
        )
        rows.append(
            f'<li class="pqa-kb-row" data-doc="{doc}" data-title="{_esc(d.title)}" data-date="{_esc(d.date or "")}">'
            f'<span class="pqa-kb-title">{_esc(d.title)}</span>'
            f'<span class="pqa-kb-date"><span class="pqa-kb-label">日期：</span>{_esc(d.date or UNKNOWN_DATE)}</span>'
            f'<span class="pqa-kb-chunks"><span class="pqa-kb-label">段落：</span>{d.chunks}</span>'
            f'<span class="pqa-kb-status">{"已索引" if d.indexed else "未索引"}</span>'
            f'<span class="pqa-kb-file">{doc}</span>'
            '<span class="pqa-kb-actions">'
            f'<button type="button" class="pqa-kb-act" data-do="preview" aria-label="预览 {doc}">预览</button>'
            f'<a class="pqa-kb-act" href="{_esc(file_url(d.doc_id))}" download="{_esc(PurePosixPath(d.doc_id).name)}"'
            f' aria-label="下载 {doc}">下载</a>{edit}</span></li>'
        )
    empty = '<p class="pqa-kb-empty">知识库里还没有文件。</p>' if not documents else ""
    drop = '<p class="pqa-kb-drop">可以把文件直接拖到这个列表上上传。</p>' if may_change else ""
    return (
        f'<div class="pqa-kb">{drop}<label class="pqa-kb-search">搜索文件'
        '<input type="search" placeholder="输入标题、日期或文件名筛选" autocomplete="off"></label>'
        f'<p class="pqa-kb-count" aria-live="polite">共 {len(documents)} 份文件</p>'
        f'<ul class="pqa-kb-list" aria-label="知识库中的文件">{head}{"".join(rows)}</ul>{empty}</div>'
    )


def coverage_line(documents: Sequence[DocumentInfo]) -> str:
    """One sentence on what the knowledge base covers: how many documents, which years, the first titles."""
    indexed = [d for d in documents if d.indexed]
    if not indexed:
        return "知识库里还没有已索引的文件。"
    years = sorted({d.date[:4] for d in indexed if d.date})
    span = "" if not years else f"（{years[0]} 年）" if len(years) == 1 else f"（{years[0]}—{years[-1]} 年）"
    titles = "".join(f"《{snippet(d.title, COVERAGE_TITLE_CHARS)}》" for d in indexed[:COVERAGE_TITLES])
    more = "等" if len(indexed) > COVERAGE_TITLES else ""
    return f"收录 {len(indexed)} 份文件{span}：{titles}{more}"


def feedback_html(records: Sequence, counts: dict[str, int]) -> str:
    """The admins' view of 👍 / 👎 ratings: counts, then the latest with question, reason and answer."""
    head = f'<div class="pqa-fb-head">用户反馈：👍 {counts.get("up", 0)} · 👎 {counts.get("down", 0)}'
    head += "（导出全部：<code>policyqa feedback export</code>）</div>"
    if not records:
        return f'<div class="pqa-fb-panel">{head}<p class="pqa-hint">还没有反馈。</p></div>'
    items = []
    for r in records:
        mark = "👍" if r.rating == "up" else "👎"
        label = "有帮助" if r.rating == "up" else "没有帮助"
        reason = f'<div class="pqa-fb-reason">原因：{_esc(r.reason)}</div>' if r.reason else ""
        user = f" · {_esc(r.user)}" if r.user else ""
        items.append(
            f'<li class="pqa-fb-item"><div class="pqa-fb-meta"><span role="img" aria-label="{label}">{mark}</span> '
            f"{_esc(r.created.replace('T', ' '))}{user}</div>"
            f'<div class="pqa-fb-q">问：{_esc(r.question)}</div>{reason}'
            f'<div class="pqa-fb-a">答：{_esc(snippet(r.answer, 160))}</div></li>'
        )
    return f'<div class="pqa-fb-panel">{head}<ul class="pqa-fb-list">{"".join(items)}</ul></div>'


def document_preview_html(document: Document, picture: bytes | None = None, start: int = 0) -> str:
    """A document in the knowledge base's preview panel: its cleaned text (for a PDF or picture,
    the page holding ``start``, with ``picture`` beside it when OCR read it), nothing highlighted."""
    return source_html(document, start, start, picture).replace('<mark class="pqa-hit"></mark>', "", 1)
