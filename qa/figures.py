"""Check every figure of an answer against the text its citation marker points at.

An answer is a run of sentences, each followed by markers ``[n]``. A figure (a
quantity found by ``qa.numbers``) is *verified* when the snippet of one of the
markers that cite it states the same quantity after normalization (「9899万」 =
「98,990,000」, 「百分之七十」 = 「70%」; 多/余/近 are ignored, as in ``same_quantity``).

Which numbers are figures (decided for issue 5):

* amounts, percentages, percentage points and durations: always;
* dates — years (「2017年」), months and days: yes. A year the source does not state
  is a typical invention of a generated answer, so it is worth flagging. A date
  is verified by any source date that agrees on every part the answer gives:
  「2013年」 is stated by 「2013年11月3日」 (the reverse is not true);
* ordinals (第一, 第十八届): no. In this corpus they are almost always parts of
  names (第一书记, 第一责任人), and a name that is wrong is not a wrong figure.

Which markers cite a figure: the first marker group that follows it within its
sentence (a sentence ends at 。！？；, a line break, or the markers right after
those); a figure after the last group of its sentence belongs to that group. A
sentence with no marker leaves its figures unverified, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qa.numbers import Quantity, find_quantities, same_quantity
from qa.text import answer_sentences
from qa.types import Figure

FIGURE_KINDS = frozenset({"amount", "percent", "percentage_point", "duration", "date"})
MARKER = re.compile(r"\[(\d+)\]")
# One or more markers in a row, possibly with spaces between them: "[1][2]", "[1] [3]".
MARKER_GROUP = re.compile(r"(?:\[\d+\][ \t]*)*\[\d+\]")
# Reasons shown in the UI's tooltip and the CLI (user-facing, Chinese).
REASON_UNCITED = "这句话没有标注引用来源，无法核对"
REASON_NOT_IN_SOURCE = "引用的原文{markers}中没有这个数字"
REASON_NO_SOURCE = "引用标记{markers}没有对应的原文"


@dataclass(frozen=True)
class CitedSpan:
    """A stretch of answer text and the markers that cite it: ``text[start:end]``."""

    start: int
    end: int
    markers: tuple[int, ...]  # empty: the sentence carries no marker


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of an answer, markers kept with their sentence."""
    return answer_sentences(text)


def cited_spans(text: str) -> list[CitedSpan]:
    """The answer cut into spans that each end with (or lack) one marker group.

    Within a sentence, the text up to each marker group is cited by that group;
    text after the sentence's last group joins the last span.
    """
    spans: list[CitedSpan] = []
    for start, end in sentence_spans(text):
        groups = list(MARKER_GROUP.finditer(text, start, end))
        if not groups:
            spans.append(CitedSpan(start, end, ()))
            continue
        cursor = start
        for i, group in enumerate(groups):
            stop = end if i == len(groups) - 1 else group.end()
            markers = tuple(int(n) for n in MARKER.findall(group.group()))
            spans.append(CitedSpan(cursor, stop, markers))
            cursor = stop
    return spans


def blank_markers(text: str) -> str:
    """The text with each [n] replaced by as many "|" (offsets kept; "[1]" is not the figure 1)."""
    return MARKER.sub(lambda m: "|" * len(m.group()), text)


def figures_in(text: str) -> list[Quantity]:
    """The quantities of a text that count as figures (see the module docstring)."""
    return [q for q in find_quantities(blank_markers(text)) if q.kind in FIGURE_KINDS]


def _date_parts(q: Quantity, value: float) -> dict[str, int]:
    v = int(value)
    if q.unit == "年月日":
        return {"y": v // 10000, "m": v // 100 % 100, "d": v % 100}
    if q.unit == "年月":
        return {"y": v // 100, "m": v % 100}
    if q.unit == "月日":
        return {"m": v // 100, "d": v % 100}
    return {{"年": "y", "月": "m", "日": "d"}.get(q.unit, "y"): v}


def _date_stated_by(figure: Quantity, source: Quantity) -> bool:
    """True if the source date agrees on every part (year, month, day) the figure gives."""
    if source.kind != "date":
        return False
    if (figure.high is None) != (source.high is None):
        return False
    pairs = [(figure.value, source.value)]
    if figure.high is not None and source.high is not None:
        pairs.append((figure.high, source.high))
    for f, s in pairs:
        wanted, given = _date_parts(figure, f), _date_parts(source, s)
        if any(given.get(part) != number for part, number in wanted.items()):
            return False
    return True


def is_stated_by(figure: Quantity, source: Quantity) -> bool:
    """True if ``source`` (a quantity of a snippet) states the ``figure`` of an answer."""
    if figure.kind == "date":
        return _date_stated_by(figure, source)
    return same_quantity(figure, source)


def verify_figures(text: str, snippets: Mapping[int, str]) -> tuple[Figure, ...]:
    """Every figure of an answer, each checked against the snippets of the markers citing it.

    Args:
        text: the answer with its [n] markers.
        snippets: marker → the source text that marker cites (the cited sentence
            for extractive answers; the passage given to the model for generated ones).
    Returns:
        One Figure per figure in the text, in order.
    """
    stated: dict[int, list[Quantity]] = {m: find_quantities(s) for m, s in snippets.items()}
    figures: list[Figure] = []
    for span in cited_spans(text):
        for q in figures_in(text[span.start : span.end]):
            figures.append(_checked(q, span.markers, stated))
    return tuple(figures)


def _checked(q: Quantity, markers: Sequence[int], stated: Mapping[int, list[Quantity]]) -> Figure:
    shown = "".join(f"[{m}]" for m in markers)
    if not markers:
        return Figure(q.text, q.value, q.unit, None, False, REASON_UNCITED)
    for marker in markers:
        if any(is_stated_by(q, source) for source in stated.get(marker, ())):
            return Figure(q.text, q.value, q.unit, marker, True)
    if not any(m in stated for m in markers):
        return Figure(q.text, q.value, q.unit, markers[0], False, REASON_NO_SOURCE.format(markers=shown))
    return Figure(q.text, q.value, q.unit, markers[0], False, REASON_NOT_IN_SOURCE.format(markers=shown))


def uncited_sentences(text: str) -> list[str]:
    """The sentences of an answer that carry no marker (blank ones ignored)."""
    found = []
    for start, end in sentence_spans(text):
        sentence = text[start:end].strip()
        if sentence and not MARKER.search(sentence) and re.search(r"\w", sentence):
            found.append(sentence)
    return found
