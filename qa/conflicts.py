"""Find documents that state different values for the same measure, for the same period and place.

An answer's figures are the *anchors*: each is a statement of a cited sentence
(「扶贫小额信贷累计发放4300多亿元」). Every figure in the other retrieved passages is
compared with each anchor; a pair is a conflict only when all of these hold:

1. **different documents** (one document restating itself is never a conflict);
2. **same kind of number and compatible unit** (亿元 vs 亿元, % vs %);
3. **same measure**: the clauses holding the two figures, with figures, times and
   places blanked, share most of their character pairs (Dice ≥ ``MIN_MEASURE_SIMILARITY``);
4. **same period**: the years stated next to each figure are the same; a sentence
   without a year takes its document's year; when either period is unknown (no year
   in the sentence, no document date) it is *not* a conflict — cumulative figures
   (累计) grow every year, so silence about time is no evidence of the same time;
5. **same place**: the same named places (or both nationwide / unnamed); a relative
   place (全市, 该县) that the sentence does not name is unknown, so not a conflict;
6. **different values, but of one order**: not the same quantity, more than
   ``APPROX_TOLERANCE`` apart when either is approximate (「1005亿多元」 vs 「超过1000亿元」
   agree), at most ``MAX_RATIO`` apart (a county's 3.3亿元 of microcredit is not the
   nation's 7100多亿元 told wrongly: it is another scope the sentence left unnamed), and
   the other document does not also state the anchor's value for that measure
   (「由9899万人减少至4335万人」 states both ends of a change).

Measured on the default corpus (``python -m bench.conflicts --qa … --corpus-wide``): the
dev questions report no conflict, and neither does a run with *every* one of the corpus's
1241 figures as an anchor. A document repeating another (004 repeats 000) agrees with it;
counts given at different dates (小额信贷 4300多亿元 in 2020, 7100多亿元 in 2021;
贫困发生率 4.5% for 2016, 3.1% for 2017) are kept apart by rule 4 — without it, 17 pairs
of the corpus would be reported, each of two different periods. A document added with 「截至2021年，全国累计选派24.5万个
驻村工作队」 is reported against 001's 25.5万个 (tests/qa/test_conflicts.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from index.types import Sentence
from qa.figures import is_stated_by
from qa.numbers import Quantity, find_quantities
from qa.text import SUFFIXED_PLACE, char_bigrams, clause_bounds, place_names, says_now
from qa.types import Citation, Conflict, Figure, Hit

# Kinds of figure compared: dates and durations say when and how long, not how much.
COMPARED_KINDS = frozenset({"amount", "percent", "percentage_point"})
# Clause similarity (Dice over character bigrams) from which two figures measure the same
# thing: 「扶贫小额信贷累计发放…」 vs 「扶贫小额信贷累计向…贫困户发放…」 is 0.76 (same measure),
# 「在岗第一书记…、驻村干部…」 vs 「全国累计选派…驻村工作队、…第一书记和驻村干部」 0.48 and
# 「各地选派…担任第一书记」 vs 「全国累计选派…担任第一书记」 0.29 (different ones).
MIN_MEASURE_SIMILARITY = 0.6
# Approximate figures (多, 余, 近, 超过) agree when they are this close (relative).
APPROX_TOLERANCE = 0.1
# Figures further apart than this factor measure different scopes, not one thing stated
# wrongly. On the whole corpus, every same-measure pair more than 2x apart was a local
# figure against a national one (3.3亿元 vs 7100多亿元, 264.88亿元 vs 2340亿元).
MAX_RATIO = 2.0
FUNCTION_CHARS = frozenset("的了和与及或把被之其在是有为将对从由到至向共达约近超逾余多")
PUNCTUATION = re.compile(r"[^\u4e00-\u9fffA-Za-z]")
# A place named only relatively: which one depends on the document's context.
RELATIVE_PLACE = re.compile(r"全省|全市|全县|全区|全州|全乡|全村|该省|该市|该县|该区|本地|当地|我省|我市|我县|我区")
# 「2016年以来」 is the period from 2016 until the time of writing, not the year 2016.
SINCE = re.compile(r"[ \t]*(?:以来|来|起|开始|至今)")


@dataclass(frozen=True)
class Statement:
    """A figure as a passage states it: what is measured, when, where, by which document."""

    quantity: Quantity
    clause: str  # the clause holding the figure, as written
    clause_start: int  # offset of the clause in the sentence
    measure: frozenset[str]  # character bigrams of the clause without figures, times or places
    period: frozenset[str] | None  # years, e.g. {"2021"} or {"2015-2020"}; None: unknown
    place: frozenset[str] | None  # named places ({} = nationwide/unnamed); None: unknown
    sentence: Sentence
    hit: Hit


def _bigrams(text: str) -> frozenset[str]:
    """Character pairs of a clause's words, joined across the figures and punctuation cut out."""
    return char_bigrams(PUNCTUATION.sub("", text), drop=FUNCTION_CHARS)


def dice(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice similarity of two sets (0 when both are empty)."""
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 0.0


def _years(q: Quantity, text: str) -> str:
    """A date quantity as a year or period ("2021", "2015-2020", "2016-" for 2016年以来)."""

    def year(value: float) -> int:
        v = int(value)
        return v // 10000 if q.unit == "年月日" else v // 100 if q.unit == "年月" else v

    low = year(q.value)
    high = year(q.high) if q.high is not None else low
    if q.high is None and SINCE.match(text, q.end):
        return f"{low}-"
    return str(low) if high == low else f"{low}-{high}"


def _period(
    quantities: Sequence[Quantity], q: Quantity, clause: tuple[int, int], text: str, document_date: str | None
) -> frozenset[str] | None:
    """The years a figure is stated for (see the module docstring, rule 4)."""
    dates = [d for d in quantities if d.kind == "date" and "年" in d.unit]
    in_clause = [d for d in dates if clause[0] <= d.start < clause[1]]
    if in_clause:
        before = [d for d in in_clause if d.end <= q.start]
        return frozenset({_years(before[-1] if before else in_clause[0], text)})
    if says_now(text[clause[0] : clause[1]]) or not dates:
        return frozenset({document_date[:4]}) if document_date else None
    return frozenset(_years(d, text) for d in dates)


def _place(text: str) -> frozenset[str] | None:
    """Where a sentence's figures hold: named places; {} nationwide or unnamed; None unknown."""
    named = set(place_names(text))
    if not named and RELATIVE_PLACE.search(text):
        return None
    return frozenset(named)


def statements_in(sentence: Sentence, hit: Hit) -> list[Statement]:
    """The comparable figures of one sentence of a retrieved passage."""
    text = sentence.text
    quantities = find_quantities(text)
    place = _place(text)
    found = []
    for q in quantities:
        if q.kind not in COMPARED_KINDS:
            continue
        lo, hi = clause_bounds(text, q.start, q.end)
        clause = text[lo:hi]
        blanked = text[lo:hi]
        for other in quantities:  # blank every figure and date in the clause
            if lo <= other.start and other.end <= hi:
                a, b = other.start - lo, other.end - lo
                blanked = blanked[:a] + " " * (b - a) + blanked[b:]
        blanked = SUFFIXED_PLACE.sub(lambda m: " " * len(m.group()), blanked)
        found.append(
            Statement(
                q, clause, lo, _bigrams(blanked), _period(quantities, q, (lo, hi), text, hit.date), place, sentence, hit
            )
        )
    return found


def _units_agree(a: Quantity, b: Quantity) -> bool:
    if a.kind != b.kind:
        return False
    return a.unit == b.unit or (a.kind == "amount" and "" in (a.unit, b.unit))


def values_agree(a: Quantity, b: Quantity) -> bool:
    """True if two figures of one measure agree (equal, or close enough when approximate)."""
    if is_stated_by(a, b):
        return True
    if a.approx or b.approx:
        top = max(abs(a.value), abs(b.value))
        return top == 0 or abs(a.value - b.value) / top <= APPROX_TOLERANCE
    return math.isclose(a.value, b.value, rel_tol=1e-9) and a.high == b.high


def comparable_values(a: Quantity, b: Quantity) -> bool:
    """True if two figures are of one order (at most ``MAX_RATIO`` apart), so may state one thing."""
    low, high = sorted((abs(a.value), abs(b.value)))
    return low > 0 and high / low <= MAX_RATIO


def same_measure(a: Statement, b: Statement) -> bool:
    """True if two statements measure the same thing for the same period and place (rules 2–5)."""
    return (
        _units_agree(a.quantity, b.quantity)
        and a.period is not None
        and a.period == b.period
        and a.place is not None
        and a.place == b.place
        and dice(a.measure, b.measure) >= MIN_MEASURE_SIMILARITY
    )


@dataclass(frozen=True)
class Disagreement:
    """An anchor figure of the answer and the statements of other documents that contradict it."""

    anchor: Statement
    others: tuple[Statement, ...]


def find_disagreements(anchors: Sequence[Statement], others: Sequence[Statement]) -> list[Disagreement]:
    """The anchors that other documents contradict (rules 1–6 of the module docstring).

    Args:
        anchors: statements of the sentences the answer cites.
        others: statements of every sentence of the retrieved passages.
    Returns:
        One Disagreement per contradicted anchor, at most one statement per other document.
    """
    found: list[Disagreement] = []
    for anchor in anchors:
        by_document: dict[str, list[Statement]] = {}
        for other in others:
            if other.sentence.doc_id != anchor.sentence.doc_id and same_measure(anchor, other):
                by_document.setdefault(other.sentence.doc_id, []).append(other)
        contradicting = tuple(
            next(s for s in statements if comparable_values(anchor.quantity, s.quantity))
            for statements in by_document.values()
            if not any(values_agree(anchor.quantity, s.quantity) for s in statements)
            and any(comparable_values(anchor.quantity, s.quantity) for s in statements)
        )
        if contradicting:
            found.append(Disagreement(anchor, contradicting))
    return found


def measure_label(statement: Statement) -> str:
    """A short human name for what a statement measures: its clause with the figure cut out."""
    q = statement.quantity
    clause = statement.clause
    offset = statement.clause_start
    a, b = q.start - offset, q.end - offset
    label = (clause[:a].strip() + "…" + clause[b:].strip()).strip("…")
    return label or clause


def statements_of(sentences: Sequence[tuple[Sentence, Hit]]) -> list[Statement]:
    """The comparable figures of the sentences of the retrieved passages."""
    return [statement for sentence, hit in sentences for statement in statements_in(sentence, hit)]


def anchor_statements(
    citations: Sequence[Citation], figures: Sequence[Figure], sentences: Sequence[tuple[Sentence, Hit]]
) -> list[Statement]:
    """The statements behind an answer's verified figures: the figure where its cited sentence states it.

    Args:
        citations: the answer's citations (each a sentence, or part of one, of a retrieved passage).
        figures: the answer's checked figures; only verified ones anchor a comparison.
        sentences: the sentences of the retrieved passages, with their passage.
    """
    anchors: list[Statement] = []
    for citation in citations:
        verified = [f for f in figures if f.verified and f.marker == citation.marker]
        if not verified:
            continue
        holder = next(
            ((s, h) for s, h in sentences if s.doc_id == citation.doc_id and s.start <= citation.start < s.end),
            None,
        )
        if holder is None:
            continue
        for statement in statements_in(*holder):
            q = statement.quantity
            inside = citation.start <= holder[0].start + q.start and holder[0].start + q.end <= citation.end
            if inside and any(
                math.isclose(f.value, q.value, rel_tol=1e-9) and f.unit in (q.unit, "") for f in verified
            ):
                anchors.append(statement)
    return anchors


def _value(statement: Statement, marker: int) -> dict:
    hit, sentence = statement.hit, statement.sentence
    return {
        "text": statement.quantity.text,
        "value": statement.quantity.value,
        "unit": statement.quantity.unit,
        "source": sentence.doc_id,
        "title": hit.title,
        "date": hit.date,
        "marker": marker,
        "sentence": sentence.text,
        "period": sorted(statement.period or ()),
    }


def _citation_of(statement: Statement, marker: int) -> Citation:
    hit, sentence = statement.hit, statement.sentence
    return Citation(
        marker=marker,
        doc_id=sentence.doc_id,
        title=hit.title,
        date=hit.date,
        text=sentence.text,
        start=sentence.start,
        end=sentence.end,
        passage=hit.text,
        passage_start=hit.start,
        passage_end=hit.end,
    )


def _marker_of(statement: Statement, citations: Sequence[Citation]) -> int | None:
    where = statement.sentence.start + statement.quantity.start
    return next(
        (c.marker for c in citations if c.doc_id == statement.sentence.doc_id and c.start <= where < c.end), None
    )


def report_conflicts(
    text: str, citations: Sequence[Citation], disagreements: Sequence[Disagreement]
) -> tuple[str, tuple[Citation, ...], tuple[Conflict, ...]]:
    """Say in the answer that documents disagree, cite every value, and list the conflicts.

    Each other value gets a citation of its own (markers continue after the answer's),
    and the answer gains one sentence per conflict naming each value's document and date.

    Returns:
        (text, citations, conflicts): the answer text with the conflict sentences appended,
        all citations, and one Conflict per contradicted figure.
    """
    cited = list(citations)
    conflicts: list[Conflict] = []
    sentences: list[str] = []
    seen: set[frozenset[tuple[str, float]]] = set()
    for disagreement in disagreements:
        statements = (disagreement.anchor, *disagreement.others)
        key = frozenset((s.sentence.doc_id, s.quantity.value) for s in statements)
        if key in seen:
            continue
        seen.add(key)
        values, shown = [], []
        for statement in statements:
            marker = _marker_of(statement, cited)
            if marker is None:
                marker = len(cited) + 1
                cited.append(_citation_of(statement, marker))
            values.append(_value(statement, marker))
            shown.append(
                f"《{statement.hit.title}》（{statement.hit.date or '日期不详'}）为{statement.quantity.text}[{marker}]"
            )
        measure = measure_label(disagreement.anchor)
        conflicts.append(Conflict(measure, tuple(values)))
        sentences.append(f"注意：不同文件对“{measure}”的数字说法不一致：{'；'.join(shown)}。")
    if not sentences:
        return text, tuple(citations), ()
    return text + "\n" + "\n".join(sentences), tuple(cited), tuple(conflicts)
