"""The extractive answerer: pick the 1–3 sentences that answer, cite each one.

Sentences of the best retrieved passages are scored by their similarity to the
question (vectors computed at index time, so the only model call per question
is the query's own), by how much of the question's key terms they cover
(IDF-weighted), and — for 多少/几/哪一年/百分之几 questions — by whether they
state a number of the asked kind next to the thing being counted. A question
with several parts gets the best sentence for each part. Sentences are quoted
(long ones trimmed to their relevant clauses), never rewritten, so a figure in
an answer is always the figure in its source.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from index.lexical import normalize, tokenize
from index.store import IndexData
from index.types import Sentence
from qa.numbers import Quantity, find_quantities, parse_quantity
from qa.query import QuestionInfo, SubQuestion, topic_words
from qa.types import Citation, Hit

# Sentences are taken from this many of the best passages.
PASSAGES_FOR_ANSWER = 5
MAX_SENTENCES = 3
MAX_ANSWER_CHARS = 280  # the eval counts at most 300 characters, markers excluded
# A sentence longer than this is trimmed to the clauses that carry the answer.
TRIM_ABOVE_CHARS = 90

# Sentence score = weighted sum of features (weights tuned on the dev set, README "Answers").
W_SIMILARITY = 3.0
W_COVERAGE = 1.0
W_NUMBER = 0.3
W_FOCUS = 0.5
W_PASSAGE_RANK = 0.2

# Evidence thresholds, set between the answerable and unanswerable dev questions
# (README "No answer"): a figure part is supported when its sentence states a number
# of the asked kind, covers enough of the question, and names what is counted near
# that number (answerable parts ≥ 0.35, unanswerable ≤ 0.01); any other part when
# its sentence covers enough of the question's terms or is very similar to it.
MIN_FOCUS = 0.3
MIN_FIGURE_COVERAGE = 0.25
MIN_COVERAGE = 0.3
# A sentence this similar to the question answers it even in other words (paraphrases).
MIN_SIMILARITY_ALONE = 0.91
# How far from a number the counted thing may be named.
FOCUS_WINDOW = 15

# List questions: policy texts enumerate with 「、」 inside a sentence or with a run of
# sentences opening 「一是…」「二是…」 (or 第一/（一）/1.) after an introducing sentence.
W_LIST = 0.4
LIST_ITEMS_FOR_FULL_SCORE = 4
MAX_LIST_ITEMS = 8
LIST_WINDOW_CHARS = 4000  # items may have long bodies between them
FIRST_ITEM_WITHIN_SENTENCES = 2  # but the list must start right after its introduction
ORDINAL_START = re.compile(
    r"^[◆■●·\s]*(?:[（(](?P<a>[一二三四五六七八九十]{1,3})[）)]|(?P<b>[一二三四五六七八九十]{1,3})(?:是|、|．)"
    r"|第(?P<c>[一二三四五六七八九十]{1,3})(?:[，,、：:是]|条|项|个)|(?P<d>\d{1,2})[.．、)）])"
)

# Which quantity kinds answer which question kinds.
KINDS_WANTED = {
    "year": {"date"},
    "percent": {"percent", "percentage_point"},
    "number": {"amount", "percent", "percentage_point", "duration"},
}
# Bigrams with these characters straddle word boundaries (「的扶」「日和」) and carry no topic.
FUNCTION_CHARS = frozenset("的了和与及或把被之其吗呢吧啊")
CLAUSE = re.compile(r"[^，,；;：:]+[，,；;：:]?")


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, with what does not depend on the question part."""

    sentence: Sentence
    hit: Hit
    hit_rank: int
    similarity: float


@dataclass(frozen=True)
class Pick:
    """A sentence chosen for a part of the question, with the features that chose it."""

    candidate: Candidate
    score: float
    coverage: float
    focus: float
    has_number: bool
    supported: bool
    list_item: bool = False  # an item of the list that the previous pick introduces


def weighted_terms(text: str, idf: Callable[[str], float], method: str) -> dict[str, float]:
    """Topic terms of a text (as the lexical index tokenizes) with IDF weights."""
    terms = tokenize(topic_words(text), method)
    # A single character (「扶」 left of 「怎么扶」) matches inside unrelated words.
    return {t: idf(t) for t in dict.fromkeys(terms) if len(t) > 1 and not FUNCTION_CHARS.intersection(t)}


def coverage_of(text: str, terms: dict[str, float]) -> float:
    """Share of the terms' weight found in the text (0 when there are no terms)."""
    total = sum(terms.values())
    if total <= 0:
        return 0.0
    norm = normalize(text)
    return sum(w for t, w in terms.items() if t in norm) / total


def wanted_quantities(text: str, wants: str) -> list[Quantity]:
    """The quantities in the text of the kind the question asks for."""
    kinds = KINDS_WANTED.get(wants)
    if not kinds:
        return []
    return [q for q in find_quantities(text) if q.kind in kinds]


def states_wanted_number(text: str, wants: str) -> bool:
    """True if the text states a quantity of the kind the question asks for."""
    return bool(wanted_quantities(text, wants))


def focus_near_number(text: str, focus_terms: dict[str, float], quantities: Sequence[Quantity]) -> float:
    """The best focus coverage within ``FOCUS_WINDOW`` characters of a quantity.

    「对52个未摘帽贫困县」 states the count of 未摘帽贫困县; a sentence that names the
    focus far from its numbers (which count other things) does not answer.
    """
    return max(
        (coverage_of(text[max(0, q.start - FOCUS_WINDOW) : q.end + FOCUS_WINDOW], focus_terms) for q in quantities),
        default=0.0,
    )


def ordinal_of(text: str) -> int | None:
    """The item number a sentence opens with (「二是」→2, 「（三）」→3, 「4.」→4), else None."""
    match = ORDINAL_START.match(text)
    if not match:
        return None
    number = parse_quantity(next(g for g in match.groups() if g))
    return int(number.value) if number else None


def following_items(sentence: Sentence, data: IndexData) -> list[Sentence]:
    """The numbered items (「一是…」「二是…」) that follow a sentence in its document, in order."""
    items: list[Sentence] = []
    previous_end = sentence.end
    for next_id in range(sentence.sentence_id + 1, len(data.sentences)):
        candidate = data.sentences[next_id]
        if candidate.doc_id != sentence.doc_id or candidate.start - previous_end > LIST_WINDOW_CHARS:
            break
        if not items and next_id - sentence.sentence_id > FIRST_ITEM_WITHIN_SENTENCES:
            break
        number = ordinal_of(candidate.text)
        if number == len(items) + 1:
            items.append(candidate)
            previous_end = candidate.end
            if len(items) == MAX_LIST_ITEMS:
                break
        elif number == 1 and items:
            break  # a new list begins
    return items if len(items) >= 2 else []


def enumeration_score(sentence: Sentence, data: IndexData, terms: dict[str, float]) -> float:
    """How much a sentence is, or introduces, a list of items (0–1).

    Items are 「、」-separated, numbered sentences that follow, or clauses repeating a
    term of the question (「通过…一批，通过…一批」 for 「哪四个“一批”」).
    """
    inline = sentence.text.count("、") + 1 if "、" in sentence.text else 0
    repeated = max((sentence.text.count(t) for t in terms), default=0)
    listed = len(following_items(sentence, data))
    return min(1.0, max(inline, repeated, listed) / LIST_ITEMS_FOR_FULL_SCORE)


def candidate_sentences(hits: Sequence[Hit], data: IndexData, query_vector: np.ndarray) -> list[Candidate]:
    """Sentences of the best passages, each once (text duplicated across documents too)."""
    seen_ids: set[int] = set()
    seen_texts: set[str] = set()
    found: list[tuple[Sentence, Hit, int]] = []
    for rank, hit in enumerate(hits[:PASSAGES_FOR_ANSWER]):
        for sentence in data.sentences_in(data.chunks[hit.chunk_id]):
            key = unicodedata.normalize("NFKC", sentence.text).replace(" ", "")
            if sentence.sentence_id in seen_ids or key in seen_texts:
                continue
            seen_ids.add(sentence.sentence_id)
            seen_texts.add(key)
            found.append((sentence, hit, rank))
    if not found:
        return []
    ids = np.array([s.sentence_id for s, _, _ in found])
    similarities = np.asarray(data.sentence_vectors[ids] @ query_vector, dtype=np.float64)
    return [Candidate(s, h, r, float(sim)) for (s, h, r), sim in zip(found, similarities)]


def pick_for_part(
    part: SubQuestion,
    candidates: Sequence[Candidate],
    idf: Callable[[str], float],
    method: str,
    data: IndexData,
) -> Pick | None:
    """The best sentence for one part of the question."""
    terms = weighted_terms(part.text, idf, method)
    focus_terms = weighted_terms("".join(part.focus), idf, method)
    best: Pick | None = None
    for candidate in candidates:
        text = candidate.sentence.text
        coverage = coverage_of(text, terms)
        quantities = wanted_quantities(text, part.wants)
        has_number = bool(quantities)
        focus = focus_near_number(text, focus_terms or terms, quantities) if has_number else 0.0
        score = (
            W_SIMILARITY * candidate.similarity
            + W_COVERAGE * coverage
            + W_NUMBER * has_number
            + W_FOCUS * focus
            + W_PASSAGE_RANK / (1 + candidate.hit_rank)
            + (W_LIST * enumeration_score(candidate.sentence, data, terms) if part.is_list else 0.0)
        )
        if best is None or score > best.score:
            supported = _supported(part, coverage, focus, has_number, candidate.similarity)
            best = Pick(candidate, score, coverage, focus, has_number, supported)
    return best


def _supported(part: SubQuestion, coverage: float, focus: float, has_number: bool, similarity: float) -> bool:
    if part.wants:
        return has_number and coverage >= MIN_FIGURE_COVERAGE and (focus >= MIN_FOCUS or not part.focus)
    return coverage >= MIN_COVERAGE or similarity >= MIN_SIMILARITY_ALONE


@dataclass(frozen=True)
class Extract:
    """The chosen sentences, and whether they are strong enough evidence to answer."""

    picks: tuple[Pick, ...]
    answerable: bool


def select_sentences(
    info: QuestionInfo,
    candidates: Sequence[Candidate],
    idf: Callable[[str], float],
    method: str,
    data: IndexData,
) -> Extract:
    """The best sentence for each part of the question (at most ``MAX_SENTENCES``)."""
    picks: dict[int, Pick] = {}
    for part in info.parts[:MAX_SENTENCES]:
        pick = pick_for_part(part, candidates, idf, method, data)
        if pick is None:
            continue
        sentence_id = pick.candidate.sentence.sentence_id
        if sentence_id in picks:
            # One sentence answers several parts: it supports the answer if it supports any.
            pick = replace(picks[sentence_id], supported=picks[sentence_id].supported or pick.supported)
        picks[sentence_id] = pick
        if part.is_list:
            for item in list_items(pick, data):
                picks.setdefault(item.candidate.sentence.sentence_id, item)
    return Extract(tuple(picks.values()), any(p.supported for p in picks.values()))


def list_items(intro: Pick, data: IndexData) -> list[Pick]:
    """Picks for the numbered items that follow an introducing sentence, cited where they stand."""
    items = []
    for sentence in following_items(intro.candidate.sentence, data):
        chunk = data.chunks[data.chunks_containing(sentence)[0]]
        hit = replace(intro.candidate.hit, chunk_id=chunk.chunk_id, text=chunk.text, start=chunk.start, end=chunk.end)
        candidate = Candidate(sentence, hit, intro.candidate.hit_rank, intro.candidate.similarity)
        items.append(Pick(candidate, 0.0, 0.0, 0.0, False, supported=False, list_item=True))
    return items


def trim_to_relevant(sentence: Sentence, terms: dict[str, float], wants: str, list_item: bool = False) -> tuple[int, int]:
    """Offsets (in the document) of the clauses of a long sentence that carry the answer.

    A long list item keeps its first clause: 「一是发展生产脱贫一批」 names the item.
    """
    if len(sentence.text) <= TRIM_ABOVE_CHARS:
        return sentence.start, sentence.end
    clauses = [(m.start(), m.end()) for m in CLAUSE.finditer(sentence.text)]
    if list_item:
        return sentence.start, sentence.start + clauses[0][1]
    useful = [
        i for i, (s, e) in enumerate(clauses)
        if coverage_of(sentence.text[s:e], terms) > 0.15 or states_wanted_number(sentence.text[s:e], wants)
    ]
    if not useful:
        return sentence.start, sentence.end
    start, end = clauses[useful[0]][0], clauses[useful[-1]][1]
    return sentence.start + start, sentence.start + end


def compose(
    info: QuestionInfo, extract: Extract, data: IndexData, idf: Callable[[str], float], method: str
) -> tuple[str, tuple[Citation, ...]]:
    """The answer text with a [n] marker after each sentence, and its citations.

    Sentences keep their reading order within a passage; the answer stays under
    ``MAX_ANSWER_CHARS`` by trimming long sentences to their relevant clauses.
    """
    terms = weighted_terms(info.text, idf, method)
    ordered = sorted(extract.picks, key=lambda p: (p.candidate.hit_rank, p.candidate.sentence.start))
    parts: list[str] = []
    citations: list[Citation] = []
    length = 0
    for pick in ordered:
        sentence, hit = pick.candidate.sentence, pick.candidate.hit
        start, end = trim_to_relevant(sentence, terms, info.wants, pick.list_item)
        text = data.document(sentence.doc_id).text[start:end].rstrip("，,；;：:")
        end = start + len(text)
        if citations and length + len(text) > MAX_ANSWER_CHARS:
            continue
        length += len(text)
        marker = len(citations) + 1
        parts.append(f"{text}[{marker}]")
        citations.append(
            Citation(
                marker=marker,
                doc_id=sentence.doc_id,
                title=hit.title,
                date=hit.date,
                text=text,
                start=start,
                end=end,
                passage=hit.text,
                passage_start=hit.start,
                passage_end=hit.end,
            )
        )
    return "".join(parts), tuple(citations)
