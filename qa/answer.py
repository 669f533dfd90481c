"""The extractive answerer: pick the few sentences that answer, cite each one.

Sentences of the best retrieved passages are scored by their similarity to the
question (vectors computed at index time, so the only model call per question
is the query's own), by how much of the question's key terms they cover with
their paragraph (idf-weighted; words no document uses do not count), and — for
多少/几/哪一年/百分之几 questions — by whether they state a number of the asked
kind and unit in the clause that names the thing counted, for the year asked.
Each part of a question gets its best sentence; a policy question also its close
runner-ups. A sentence supports an answer only if it speaks of the places asked
about (qa.places). Sentences are quoted (long ones trimmed to their relevant
clauses), never rewritten, so a figure in an answer is always the figure in its
source; the answer stays under 300 characters.
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
from qa.places import names_unknown_place, place_keys, speaks_of
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
# Non-figure questions: a sentence made of the question's own words (「要落实好中央统筹、
# 省负总责、市县抓落实的管理体制」 for 「中央统筹具体是管什么」) echoes it, it does not answer.
W_NOVELTY = 0.5
# Non-figure questions: a sentence that defines what the question names answers
# 「X是什么/指什么/管什么」 better than one that only mentions X.
W_DEFINITION = 0.3
DEFINITION_MARKER = re.compile(r"[，,]?(?:即|就是|是指|指的是)|——|[：:]")
DEFINED_SHARE = 0.5  # of the defined phrase's bigrams found in the question
QUOTED = re.compile(r"[“\"「『]([^”\"」』]{1,12})[”\"」』]")
# Figure questions that name a year (「2019年是多少」) prefer the figure stated for that year.
W_TIME = 0.3
YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")

# Evidence thresholds (README "Answers"), calibrated on the dev set and bench/questions/extra.jsonl:
# a figure part is supported when its sentence states a number of the asked kind and unit,
# names most of the counted thing in that number's clause (MIN_FOCUS of the phrase's weight:
# 「覆盖率」 alone is half of 「森林覆盖率」), and with its paragraph covers MIN_FIGURE_COVERAGE
# of the question's key-term weight (unanswerables are declined from 0.40 on both sets,
# answers start to be lost at 0.55); any other part when its sentence covers MIN_COVERAGE
# or is very similar to the question.
MIN_FOCUS = 0.65
MIN_FIGURE_COVERAGE = 0.45
MIN_COVERAGE = 0.3
# Below this a sentence is not about the question at all, whatever words it shares with it
# (a Tibetan question and the one Tibetan line of the corpus: 0.79). On the three question
# sets every correct answer's sentence is ≥ 0.898.
MIN_SIMILARITY = 0.85
# A sentence this similar to the question answers it even in other words (paraphrases).
MIN_SIMILARITY_ALONE = 0.91
# How far after a number, within its clause, the counted thing may be named (before it: the
# number's clause and the one before, where the subject often stands).
FOCUS_WINDOW = 30
# How much of the paragraph before a sentence counts as its context; a short line above
# the paragraph without a sentence end is its heading, and counts too.
CONTEXT_CHARS = 150
MAX_HEADING_CHARS = 40
HEADING_BREAKERS = re.compile(r"[。！？；!?;]")
CLAUSE_BREAK = re.compile(r"[，,；;。：:！？!?]")

# Non-figure questions also quote supported sentences this close to their best (on the dev
# and extra sets the answering sentence was second or third within 0.15 in 5 of 13 misses).
RUNNER_UP_MARGIN = 0.15
RUNNER_UPS = 2
# When a part's best sentence would not support an answer, a supported one this close
# takes its place (「●党的十八届五中全会」, a heading, over 「2015年10月26日至29日在京召开」).
SUPPORTED_MARGIN = 0.2

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
    # The paragraph's text just before the sentence: where and when it speaks of
    # (「2016年以来，昌都市……」) is often said there, not in the sentence itself.
    context: str = ""


@dataclass(frozen=True)
class Pick:
    """A sentence scored for a part of the question, and whether it would support an answer."""

    candidate: Candidate
    score: float
    supported: bool
    list_item: bool = False  # an item of the list that the previous pick introduces


def weighted_terms(text: str, term_weight: Callable[[str], float], method: str) -> dict[str, float]:
    """Topic terms of a text (as the lexical index tokenizes), weighted by ``term_weight`` (idf).

    A term of weight 0 (in no document) can match nothing and is left out.
    """
    terms = tokenize(topic_words(text), method)
    # A single character (「扶」 left of 「怎么扶」) matches inside unrelated words.
    weights = {t: term_weight(t) for t in dict.fromkeys(terms) if len(t) > 1 and not FUNCTION_CHARS.intersection(t)}
    return {t: w for t, w in weights.items() if w > 0}


def coverage_of(text: str, terms: dict[str, float]) -> float:
    """Share of the terms' weight found in the text (0 when there are no terms)."""
    total = sum(terms.values())
    if total <= 0:
        return 0.0
    norm = normalize(text)
    return sum(w for t, w in terms.items() if t in norm) / total


def novelty(text: str, question_bigrams: set[str]) -> float:
    """Share of a text's character bigrams that the question does not use (0–1)."""
    bigrams = set(tokenize(text, "bigram"))
    return len(bigrams - question_bigrams) / len(bigrams) if bigrams else 0.0


def defines(text: str, question_bigrams: set[str], quoted: Sequence[str]) -> float:
    """1 if the text says what something of the question is: a clause naming it followed by
    即/就是/是指/——/： (「中央统筹,就是要做好顶层设计」, 「“亿”——对口援藏扶贫资金上亿元」)."""
    for marker in DEFINITION_MARKER.finditer(text):
        clause_start = max((m.end() for m in CLAUSE_BREAK.finditer(text, 0, marker.start())), default=0)
        named = text[clause_start : marker.start()]
        if any(term in named for term in quoted):
            return 1.0
        bigrams = set(tokenize(named, "bigram"))
        if bigrams and len(bigrams & question_bigrams) >= DEFINED_SHARE * len(bigrams):
            return 1.0
    return 0.0


def wanted_quantities(text: str, wants: str, units: Sequence[str] = ()) -> list[Quantity]:
    """The quantities in the text of the kind (and, if given, one of the units) the question asks for."""
    kinds = KINDS_WANTED.get(wants)
    if not kinds:
        return []
    return [q for q in find_quantities(text) if q.kind in kinds and (not units or q.unit in units)]


def states_wanted_number(text: str, wants: str) -> bool:
    """True if the text states a quantity of the kind the question asks for."""
    return bool(wanted_quantities(text, wants))


def focus_near_number(text: str, focus: Sequence[dict[str, float]], quantities: Sequence[Quantity]) -> float:
    """How fully the clause of a quantity (``clause_around``) names one of the focus phrases (0–1; the best pair).

    「对52个未摘帽贫困县」 states the count of 未摘帽贫困县; a sentence that names the
    focus in another clause than its numbers (which count other things) does not answer,
    nor does 「主电网覆盖率达93%」 the question about 森林覆盖率.
    """
    return max(
        (coverage_of(clause_around(text, q.start, q.end), terms) for q in quantities for terms in focus),
        default=0.0,
    )


def time_match(text: str, context: str, years: Sequence[str], quantities: Sequence[Quantity]) -> float:
    """1 if a quantity's clause names one of the years asked about (「增加到2019年的9328元」),
    0.5 if only the sentence or its context does, else 0."""
    if any(year in normalize(clause_around(text, q.start, q.end)) for q in quantities for year in years):
        return 1.0
    return 0.5 if any(year in normalize(context + text) for year in years) else 0.0


def clause_around(text: str, start: int, end: int) -> str:
    """The clause of ``text`` holding ``text[start:end]`` with the clause before it, where a
    subject is often named (「国内生产总值从…跃升至…,实际增长约189倍」), to at most
    ``FOCUS_WINDOW`` characters after the span."""
    breaks = [m.end() for m in CLAUSE_BREAK.finditer(text, 0, start)]
    left = breaks[-2] if len(breaks) >= 2 else 0
    right = next((m.start() for m in CLAUSE_BREAK.finditer(text, end)), len(text))
    return text[left : min(right, end + FOCUS_WINDOW)]


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


def enumeration_score(sentence: Sentence, data: IndexData, terms: dict[str, float], wanted: int = 0) -> float:
    """How much a sentence is, or introduces, a list of the asked length (0–1).

    Items are 「、」-separated within a clause, numbered sentences that follow, or
    clauses repeating a term of the question (「通过…一批，通过…一批」 for
    「哪四个“一批”」). When the question says how many (``wanted``), a list of
    exactly that length scores full and a longer one half: 「增强“四个意识”、坚定
    “四个自信”、做到“两个维护”」 is not the answer to 「哪四个」.
    """
    inline = max((clause.count("、") + 1 for clause in CLAUSE_BREAK.split(sentence.text) if "、" in clause), default=0)
    repeated = max((sentence.text.count(t) for t in terms), default=0)
    listed = len(following_items(sentence, data))
    items = max(inline, repeated, listed)
    if not wanted:
        return min(1.0, items / LIST_ITEMS_FOR_FULL_SCORE)
    if wanted in (inline, repeated, listed):
        return 1.0
    return 0.5 if items > wanted else 0.5 * items / wanted


def candidate_sentences(hits: Sequence[Hit], data: IndexData, query_vector: np.ndarray) -> list[Candidate]:
    """Sentences of the best passages, each once.

    Text repeated across documents counts once, and a sentence contained in a longer one
    (「西藏率先实现…」 in 「2019年底，西藏率先实现…」, a copy cut short by a page break)
    gives way to it: the longer one says at least as much.
    """
    seen_ids: set[int] = set()
    keyed: dict[str, tuple[Sentence, Hit, int]] = {}
    for rank, hit in enumerate(hits[:PASSAGES_FOR_ANSWER]):
        for sentence in data.sentences_in(data.chunks[hit.chunk_id]):
            key = unicodedata.normalize("NFKC", sentence.text).replace(" ", "")
            if sentence.sentence_id not in seen_ids and key not in keyed:
                seen_ids.add(sentence.sentence_id)
                keyed[key] = (sentence, hit, rank)
    found = [entry for key, entry in keyed.items() if not any(key in other and key != other for other in keyed)]
    if not found:
        return []
    ids = np.array([s.sentence_id for s, _, _ in found])
    similarities = np.asarray(data.sentence_vectors[ids] @ query_vector, dtype=np.float64)
    return [
        Candidate(s, h, r, float(sim), paragraph_before(data.document(s.doc_id).text, s.start))
        for (s, h, r), sim in zip(found, similarities)
    ]


def paragraph_before(text: str, start: int) -> str:
    """At most ``CONTEXT_CHARS`` of the paragraph before offset ``start``, preceded by the heading
    line above the paragraph if there is one (「●党的十八届五中全会」 over 「2015年10月26日至29日在京召开」)."""
    paragraph_start = text.rfind("\n", 0, start) + 1
    context = text[max(paragraph_start, start - CONTEXT_CHARS) : start]
    if paragraph_start:
        line = text[text.rfind("\n", 0, paragraph_start - 1) + 1 : paragraph_start - 1]
        if len(line) <= MAX_HEADING_CHARS and not HEADING_BREAKERS.search(line):
            context = f"{line}\n{context}"
    return context


def rank_for_part(
    part: SubQuestion,
    candidates: Sequence[Candidate],
    term_weight: Callable[[str], float],
    method: str,
    data: IndexData,
) -> list[Pick]:
    """Every candidate sentence scored for one part of the question, best first."""
    terms = weighted_terms(part.text, term_weight, method)
    focus = [terms for terms in (weighted_terms(phrase, term_weight, method) for phrase in part.focus) if terms]
    question_bigrams = set(tokenize(part.text, "bigram"))
    years = YEAR.findall(normalize(part.text))
    quoted = QUOTED.findall(part.text)
    places = [place_keys(place) for place in part.places]
    picks = []
    for candidate in candidates:
        text = candidate.sentence.text
        coverage = coverage_of(text, terms)
        scope_coverage = coverage_of(candidate.context + text, terms)
        quantities = wanted_quantities(text, part.wants, part.units)
        has_number = bool(quantities)
        focus_score = focus_near_number(text, focus or [terms], quantities) if has_number else 0.0
        time_score = time_match(text, candidate.context, years, quantities) if years and has_number else 0.0
        score = (
            W_SIMILARITY * candidate.similarity
            + W_COVERAGE * (coverage + scope_coverage) / 2
            + W_NUMBER * has_number
            + W_FOCUS * focus_score
            + W_TIME * time_score
            + W_PASSAGE_RANK / (1 + candidate.hit_rank)
            + (W_LIST * enumeration_score(candidate.sentence, data, terms, part.list_size) if part.is_list else 0.0)
            + (0.0 if part.wants else W_NOVELTY * novelty(text, question_bigrams))
            + (0.0 if part.wants else W_DEFINITION * defines(text, question_bigrams, quoted))
        )
        supported = _supported(part, scope_coverage, focus_score if focus else None, has_number, candidate.similarity)
        supported = supported and speaks_of(
            candidate.sentence, candidate.context, places, data.document(candidate.sentence.doc_id)
        )
        picks.append(Pick(candidate, score, supported))
    # Stable: equal scores keep the candidates' order (better passages first).
    return sorted(picks, key=lambda pick: -pick.score)


def _supported(part: SubQuestion, coverage: float, focus: float | None, has_number: bool, similarity: float) -> bool:
    """Whether a sentence is evidence enough to answer a part (``focus`` None: nothing to check,
    the question names no counted thing the documents use)."""
    if similarity < MIN_SIMILARITY:
        return False
    if part.wants:
        return has_number and coverage >= MIN_FIGURE_COVERAGE and (focus is None or focus >= MIN_FOCUS)
    return coverage >= MIN_COVERAGE or similarity >= MIN_SIMILARITY_ALONE


@dataclass(frozen=True)
class Extract:
    """The chosen sentences, and whether they are strong enough evidence to answer."""

    picks: tuple[Pick, ...]
    answerable: bool


def select_sentences(
    info: QuestionInfo,
    candidates: Sequence[Candidate],
    term_weight: Callable[[str], float],
    method: str,
    data: IndexData,
) -> Extract:
    """The best sentence for each part of the question (at most ``MAX_SENTENCES`` parts).

    A part that asks for no figure also gets up to ``RUNNER_UPS`` supported sentences
    scoring within ``RUNNER_UP_MARGIN`` of its best: what a policy is or includes is
    often said over two sentences, and the best-scoring one may only name it.
    Picks are in priority order: each part's best (with its list items), then runner-ups.
    """
    picks: dict[int, Pick] = {}
    runner_ups: list[Pick] = []
    for part in info.parts[:MAX_SENTENCES]:
        ranked = rank_for_part(part, candidates, term_weight, method, data)
        if not ranked:
            continue
        pick = ranked[0]
        if not pick.supported:
            # A sentence that would answer, scoring nearly as well, beats one that would not.
            pick = next((p for p in ranked if p.supported and p.score >= pick.score - SUPPORTED_MARGIN), pick)
        sentence_id = pick.candidate.sentence.sentence_id
        if sentence_id in picks:
            # One sentence answers several parts: it supports the answer if it supports any.
            pick = replace(picks[sentence_id], supported=picks[sentence_id].supported or pick.supported)
        picks[sentence_id] = pick
        if part.is_list:
            for item in list_items(pick, data):
                picks.setdefault(item.candidate.sentence.sentence_id, item)
        if not part.wants:
            close = [p for p in ranked[1:] if p.supported and p.score >= pick.score - RUNNER_UP_MARGIN]
            runner_ups.extend(close[:RUNNER_UPS])
    for pick in runner_ups:  # they add to an answer, they never make a question answerable
        picks.setdefault(pick.candidate.sentence.sentence_id, replace(pick, supported=False))
    supported = any(p.supported for p in picks.values())
    places = {place for part in info.parts for place in part.places}
    return Extract(tuple(picks.values()), supported and not names_unknown_place(places, term_weight, method))


def list_items(intro: Pick, data: IndexData) -> list[Pick]:
    """Picks for the numbered items that follow an introducing sentence, cited where they stand."""
    items = []
    for sentence in following_items(intro.candidate.sentence, data):
        chunk = data.chunks[data.chunks_containing(sentence)[0]]
        hit = replace(intro.candidate.hit, chunk_id=chunk.chunk_id, text=chunk.text, start=chunk.start, end=chunk.end)
        candidate = Candidate(sentence, hit, intro.candidate.hit_rank, intro.candidate.similarity)
        items.append(Pick(candidate, 0.0, supported=False, list_item=True))
    return items


def trim_to_relevant(
    sentence: Sentence, terms: dict[str, float], wants: str, list_item: bool = False
) -> tuple[int, int]:
    """Offsets (in the document) of the clauses of a long sentence that carry the answer.

    A long list item keeps its first clause: 「一是发展生产脱贫一批」 names the item.
    """
    if len(sentence.text) <= TRIM_ABOVE_CHARS:
        return sentence.start, sentence.end
    clauses = [(m.start(), m.end()) for m in CLAUSE.finditer(sentence.text)]
    if list_item:
        return sentence.start, sentence.start + clauses[0][1]
    useful = [
        i
        for i, (s, e) in enumerate(clauses)
        if coverage_of(sentence.text[s:e], terms) > 0.15 or states_wanted_number(sentence.text[s:e], wants)
    ]
    if not useful:
        return sentence.start, sentence.end
    start, end = clauses[useful[0]][0], clauses[useful[-1]][1]
    return sentence.start + start, sentence.start + end


def compose(
    info: QuestionInfo, extract: Extract, data: IndexData, term_weight: Callable[[str], float], method: str
) -> tuple[str, tuple[Citation, ...]]:
    """The answer text with a [n] marker after each sentence, and its citations.

    The answer stays under ``MAX_ANSWER_CHARS``: long sentences are trimmed to their
    relevant clauses, and sentences are admitted in the picks' priority order, so a
    runner-up never crowds out a part's best sentence. The admitted sentences are
    shown in reading order (passage rank, then position).
    """
    terms = weighted_terms(info.text, term_weight, method)
    admitted: list[tuple[Pick, int, str]] = []
    length = 0
    for pick in extract.picks:
        sentence = pick.candidate.sentence
        start, end = trim_to_relevant(sentence, terms, info.wants, pick.list_item)
        text = data.document(sentence.doc_id).text[start:end].rstrip("，,；;：:")
        if admitted and length + len(text) > MAX_ANSWER_CHARS:
            continue
        length += len(text)
        admitted.append((pick, start, text))
    admitted.sort(key=lambda item: (item[0].candidate.hit_rank, item[1]))
    parts: list[str] = []
    citations: list[Citation] = []
    for marker, (pick, start, text) in enumerate(admitted, start=1):
        hit = pick.candidate.hit
        parts.append(f"{text}[{marker}]")
        citations.append(
            Citation(
                marker=marker,
                doc_id=pick.candidate.sentence.doc_id,
                title=hit.title,
                date=hit.date,
                text=text,
                start=start,
                end=start + len(text),
                passage=hit.text,
                passage_start=hit.start,
                passage_end=hit.end,
            )
        )
    return "".join(parts), tuple(citations)
