"""Turn a decoded file into clean document text plus metadata.

Cleaning order matters: front matter is read first (it holds the best title
and date), HTML is flattened to lines, the date is looked for in the header
lines before web-page furniture is dropped (view-counter lines often carry the
publication date), and whitespace is collapsed last.
"""

from __future__ import annotations

import email.utils
import html
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

import yaml

# Bump when cleaning changes the text of unchanged files: the next build then redoes them.
CLEANING_VERSION = 5

FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
HTML_TAG = re.compile(
    r"</?(?:p|div|br|span|strong|b|i|em|a|h[1-6]|li|ul|ol|table|tr|td|th|img|section|article)\b[^>]*>", re.I
)
# Tags whose end starts a new line of text.
BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table section article header footer blockquote pre title".split()
)
SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head"})

# Web-page furniture: whole lines that are navigation, counters or sharing prompts.
FURNITURE_LINE = re.compile(
    r"^(?:您的位置|当前位置|你的位置|所在位置)\s*[:：]"  # breadcrumbs
    r"|人已围观|阅读量\s*[:：]|浏览次数|点击数\s*[:：]"  # view counters
    r"|^打开文本图片集$|^微信扫一扫|^扫一扫|分享到\s*[:：]?\s*$"
    r"|^责任编辑\s*[:：]|^【?字号\s*[:：]|^上一篇\s*[:：]|^下一篇\s*[:：]"
    r"|主管主办$"
    r"|^第\s*\d+\s*页\s*[，,/]?\s*(?:共\s*\d+\s*页)?$"  # page numbers of printed pages
)
# Everything from such a line to the end of the page is a list of other articles.
TRAILER_LINE = re.compile(r"^(?:随机图文|相关阅读|相关文章|推荐阅读|猜你喜欢|热门文章)\s*$")

FULL_DATE = re.compile(r"((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
HEADER_LINES_FOR_DATE = 12
DATE_LABEL = re.compile(r"^\s*(?:出版|发布|发表|印发|成文)(?:日期|时间)\s*[:：]\s*(.{6,20})")
SENTENCE_END = "。！？；!?;…，,：:"
MAX_TITLE_CHARS = 80

CJK = r"\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
# Broken lines (join_broken_lines): headings are short and end without punctuation too, so
# only a line of prose this long (or holding a sentence end) is taken to run on; on the
# seeds the broken lines are 36–830 characters, the headings ≤ 35 (all checked by hand).
MIN_PROSE_CHARS = 36
HANZI = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # ideographs only: no 。，、 (CJK above holds 。)
BROKEN_LINE_END = re.compile(rf"[{HANZI}0-9A-Za-z%]$")
BROKEN_LINE_NEXT = re.compile(rf"[{HANZI}0-9]")
LIST_ORDINAL = re.compile(
    r"(?:[（(][一二三四五六七八九十0-9]+[）)]|[一二三四五六七八九十]+[、是．.]|第[一二三四五六七八九十]+|[0-9]+[.、．])"
)
PHOTO_CREDIT = "摄"
CJK_PUNCT = r"\u3000-\u303f\uff00-\uffef“”‘’《》"
# A space between two Chinese characters (or a Chinese character and a digit or
# Chinese punctuation) is layout, not meaning: 「脱 贫 不 实」, 「投入 6601 亿元」.
SPACE_IN_CHINESE = re.compile(
    rf"(?<=[{CJK}{CJK_PUNCT}])[ \t\u3000\u00a0]+(?=[{CJK}{CJK_PUNCT}0-9])"
    rf"|(?<=[0-9%])[ \t\u3000\u00a0]+(?=[{CJK}{CJK_PUNCT}])"
)
SPACES = re.compile(r"[ \t\u3000\u00a0\u200b\ufeff]+")


@dataclass(frozen=True)
class CleanedText:
    """The result of cleaning: text plus whatever metadata the file told us."""

    text: str
    title: str | None
    date: str | None
    author: str | None
    repeated_lines: int = 0  # lines dropped because an identical one came before
    # Paged content only: the offset at which each page begins (page 1 at 0), else ().
    page_starts: tuple[int, ...] = ()


def clean_document(raw: str, is_html: bool | None = None, paged: bool = False) -> CleanedText:
    """Clean a decoded document.

    Args:
        raw: the decoded file content.
        is_html: force HTML handling; ``None`` detects HTML fragments in plain text files.
        paged: the content is pages separated by form feeds (``\\f``, as the PDF and picture
            readers give them); the result then says where each page begins.
    Returns:
        The cleaned text (one paragraph per line) with title, date and author when found.
    """
    meta, body = split_front_matter(raw)
    if is_html or (is_html is None and len(HTML_TAG.findall(body)) >= 2):
        body = html_to_text(body)
    pages = body.split("\f") if paged else [body]
    raw_lines = [line for page in pages for line in page.splitlines()]
    # Identical lines are cleaned once (a line pasted a million times costs one pass), on the
    # page they first appear on (a running header repeated on every page belongs to the first).
    first_page: dict[str, int] = {}
    for number, page in enumerate(pages):
        for line in page.splitlines():
            first_page.setdefault(line, number)
    lines = [unicodedata.normalize("NFC", line) for line in first_page]
    line_pages = list(first_page.values())
    date = meta_date(meta) or find_date(lines[:HEADER_LINES_FOR_DATE]) or labelled_date(lines)
    kept = [(collapse_spaces(lines[i]), line_pages[i]) for i in _kept_lines(lines)]
    paragraphs = _join_broken([(text, page) for text, page in kept if has_letters(text)])
    # A paragraph repeating an earlier one (a title printed twice, a line pasted a million
    # times) adds nothing to answer from: keep its first occurrence.
    first_seen: dict[str, list[tuple[int, int]]] = {}
    for paragraph, starts in paragraphs:
        first_seen.setdefault(paragraph, starts)
    paragraphs = list(first_seen.items())
    text = "\n".join(p for p, _ in paragraphs)
    title = _str_or_none(meta.get("title")) or first_heading([p for p, _ in paragraphs])
    author = _str_or_none(meta.get("author"))
    unique = sum(1 for line in first_page if line.strip())
    repeated = sum(1 for line in raw_lines if line.strip()) - unique
    page_starts = _page_starts(paragraphs, len(pages), len(text)) if paged else ()
    return CleanedText(
        text=text, title=title, date=date, author=author, repeated_lines=repeated, page_starts=page_starts
    )


def _page_starts(paragraphs: list[tuple[str, list[tuple[int, int]]]], pages: int, length: int) -> tuple[int, ...]:
    """Where each page begins in the text joined from ``paragraphs`` (text, [(offset, page)]).

    A page whose text was all dropped begins where the next page with text does, so the
    page of an offset is the last page beginning at or before it.
    """
    first = [length] * pages
    offset = 0
    for text, starts in paragraphs:
        for at, page in starts:
            first[page] = min(first[page], offset + at)
        offset += len(text) + 1
    for page in range(pages - 2, -1, -1):
        first[page] = min(first[page], first[page + 1])
    if first:
        first[0] = 0
    return tuple(first)


def split_front_matter(raw: str) -> tuple[dict, str]:
    """Split YAML front matter from the body; malformed front matter is kept as text."""
    match = FRONT_MATTER.match(raw)
    if not match:
        return {}, raw
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}, raw
    if not isinstance(meta, dict):
        return {}, raw
    return meta, raw[match.end() :]


class _TextExtractor(HTMLParser):
    """Collect the text of an HTML fragment, one line per block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in SKIPPED_TAGS:
            self.skip_depth += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Flatten HTML to text lines: tags dropped, entities decoded, scripts and styles removed."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    # Entities that were double-escaped in the source (&amp;nbsp;) decode on a second pass.
    return html.unescape("".join(parser.parts))


def drop_furniture(lines: list[str]) -> list[str]:
    """Drop navigation, counters and sharing lines, and any trailing list of other articles."""
    return [lines[i] for i in _kept_lines(lines)]


def _kept_lines(lines: list[str]) -> list[int]:
    """Indices of the lines ``drop_furniture`` keeps."""
    kept: list[int] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if TRAILER_LINE.match(stripped):
            break
        if FURNITURE_LINE.search(stripped):
            continue
        kept.append(i)
    return kept


def join_broken_lines(paragraphs: list[str]) -> list[str]:
    """Rejoin paragraphs that a page layout broke mid-sentence (「…保持主要帮扶政策总体稳」 +
    「定。健全…」), so that sentences, chunks and citations are whole.

    A paragraph continues into the next when it is prose (long, or holding a sentence end),
    stops without closing punctuation, is not a photo credit, and the next one starts with
    a Chinese character or digit but not with a list ordinal (「一是」「（二）」「3.」).
    The first paragraph, usually the title, is never joined.
    """
    return [text for text, _ in _join_broken([(p, 0) for p in paragraphs])]


def _join_broken(paragraphs: list[tuple[str, int]]) -> list[tuple[str, list[tuple[int, int]]]]:
    """``join_broken_lines`` on (text, page) pairs: each result says at which of its offsets
    each page's part begins, [(offset, page), ...]."""
    joined: list[tuple[str, list[tuple[int, int]]]] = []
    for paragraph, page in paragraphs:
        previous = joined[-1][0] if len(joined) > 1 else ""
        if (
            previous
            and _breaks_off(previous)
            and BROKEN_LINE_NEXT.match(paragraph)
            and not LIST_ORDINAL.match(paragraph)
        ):
            starts = joined[-1][1]
            if starts[-1][1] != page:
                starts.append((len(previous), page))
            joined[-1] = (previous + paragraph, starts)
        else:
            joined.append((paragraph, [(0, page)]))
    return joined


def _breaks_off(paragraph: str) -> bool:
    prose = len(paragraph) >= MIN_PROSE_CHARS or any(mark in paragraph for mark in "。！？；")
    return prose and BROKEN_LINE_END.search(paragraph) is not None and not paragraph.endswith(PHOTO_CREDIT)


def collapse_spaces(line: str) -> str:
    """Collapse runs of spaces; remove those that only pad Chinese text."""
    line = SPACES.sub(" ", line).strip()
    return SPACE_IN_CHINESE.sub("", line)


def has_letters(line: str) -> bool:
    """True if the line has a letter of any script (drops counters, barcodes, lone digits)."""
    return any(unicodedata.category(ch).startswith("L") for ch in line)


MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+")


def first_heading(paragraphs: list[str]) -> str | None:
    """The first short line that does not end like a sentence, else the start of the text.

    A Markdown heading's "#" marks are not part of the title.
    """
    for paragraph in paragraphs[:20]:
        if len(paragraph) <= MAX_TITLE_CHARS and paragraph[-1] not in SENTENCE_END:
            return MARKDOWN_HEADING.sub("", paragraph) or paragraph
    if paragraphs:
        return paragraphs[0][:MAX_TITLE_CHARS]
    return None


def find_date(lines: list[str]) -> str | None:
    """The first full date (year, month, day) in the given lines, as YYYY-MM-DD."""
    for line in lines:
        for match in FULL_DATE.finditer(unicodedata.normalize("NFKC", line)):
            iso = _iso(*match.groups())
            if iso:
                return iso
    return None


def labelled_date(lines: list[str]) -> str | None:
    """A date the document labels as its own anywhere (「出版日期：2021 年 12 月 10 日」), as YYYY-MM-DD.

    A magazine prints its imprint after the cover articles, far below the header lines.
    """
    return find_date([match.group(1) for line in lines if (match := DATE_LABEL.search(line))])


def meta_date(meta: dict) -> str | None:
    """The front matter's date as YYYY-MM-DD (YAML dates, ISO strings or RFC 2822)."""
    value = meta.get("date")
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    text = str(value)
    try:
        return email.utils.parsedate_to_datetime(text).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return find_date([text])


def _iso(year: str, month: str, day: str) -> str | None:
    y, m, d = int(year), int(month), int(day)
    if 1 <= m <= 12 and 1 <= d <= 31:
        return f"{y:04d}-{m:02d}-{d:02d}"
    return None


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    text = collapse_spaces(str(value))
    return text or None
