"""Answers and documents as HTML: pure functions, every piece of document text escaped.

Document text is data from outside (a web page may hold ``<script>``), so it
goes through ``html.escape`` before it touches markup, always. Chat messages
are single-line HTML blocks: the chat renders Markdown, and one HTML block
without blank lines is passed through untouched rather than read as Markdown.
Links carry their data in the ``href`` (the chat's sanitizer drops ``data-*``
attributes); the page's click handler reads it from there.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
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


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _lines(text: str) -> str:
    """Escaped text with line breaks as <br> (no raw newline may end a chat HTML block)."""
    return "<br>".join(_esc(line) for line in text.split("\n"))


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
    escaped = _lines(text)

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
        f'<div class="pqa-card-meta">{_esc(citation.date or UNKNOWN_DATE)} · {_esc(citation.doc_id)}</div>'
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
        f'<div class="pqa-card-meta">{_esc(hit.date or UNKNOWN_DATE)} · {_esc(hit.doc_id)}</div>'
        f'<div class="pqa-card-passage">{_lines(text)}</div>'
        f'<a class="pqa-open" href="{_esc(source_href(hit.doc_id, hit.start, hit.end))}">查看原文 ›</a></div>'
    )


def partial_html(text: str) -> str:
    """The chat message while an answer is being composed: the text so far and a cursor."""
    return f'<div class="pqa-msg"><div class="pqa-text">{_lines(text)}<span class="pqa-cursor"></span></div></div>'


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
    parts.extend(f'<div class="pqa-note">{_esc(note)}</div>' for note in answer.notes)
    unverified = [f for f in answer.figures if not f.verified]
    if unverified:
        listed = "；".join(f"{_esc(f.text)}（{_esc(f.reason or '引用的原文中没有这个数字')}）" for f in unverified)
        parts.append(f'<div class="pqa-note pqa-unverified-note">⚠ 以下数字未能在所引原文中核实：{listed}</div>')
    parts.extend(_conflict_html(conflict) for conflict in answer.conflicts)
    if answer.citations:
        parts.append('<div class="pqa-sources"><div class="pqa-sources-title">引用来源</div>')
        parts.extend(citation_card(c, turn) for c in answer.citations)
        parts.append("</div>")
    elif answer.passages:
        parts.append('<div class="pqa-sources"><div class="pqa-sources-title">相关段落（供参考）</div>')
        parts.extend(related_card(h) for h in answer.passages[:RELATED_PASSAGES])
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


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


def source_html(document: Document, start: int, end: int) -> str:
    """The whole cleaned document with characters [start, end) highlighted."""
    text = document.text
    start = min(max(int(start), 0), len(text))
    end = min(max(int(end), start), len(text))
    meta = f"{_esc(document.date or UNKNOWN_DATE)} · {_esc(document.doc_id)} · 全文 {len(text)} 字"
    return (
        '<div class="pqa-viewer">'
        f'<div class="pqa-viewer-head"><div class="pqa-viewer-title">{_esc(document.title)}</div>'
        f'<div class="pqa-viewer-meta">{meta}</div>'
        '<a class="pqa-back" href="#pqa-chat">↑ 回到对话</a></div>'
        f'<div class="pqa-doc">{_esc(text[:start])}<mark class="pqa-hit">{_esc(text[start:end])}</mark>'
        f"{_esc(text[end:])}</div></div>"
    )


def viewer_placeholder_html() -> str:
    """The source viewer before any citation was clicked."""
    return (
        '<div class="pqa-viewer pqa-viewer-empty"><div class="pqa-viewer-title">原文</div>'
        "<p>点击回答下方的引用卡片，这里会显示整篇文件，并定位、高亮被引用的句子。</p></div>"
    )


def viewer_error_html(message: str) -> str:
    """The source viewer when a document cannot be shown."""
    return f'<div class="pqa-viewer pqa-viewer-empty"><p class="pqa-error">{_esc(message)}</p></div>'


def document_rows(documents: Sequence[DocumentInfo]) -> list[list[object]]:
    """Rows of the knowledge-base table: title, date, chunks, status, file."""
    return [
        [d.title, d.date or UNKNOWN_DATE, d.chunks, "已索引" if d.indexed else "未索引", d.doc_id] for d in documents
    ]


DOCUMENT_HEADERS = ["标题", "日期", "段落数", "状态", "文件"]
