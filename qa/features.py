"""What the answer model sees of a (question part, evidence sentence) pair: named numbers.

Every feature is a fact about the pair that a reader would check — is the sentence close in
meaning, does it use the question's rarer words, does it state a number of the asked kind in
the clause naming the counted thing, for the year, place and measure asked — never a verdict.
How much each counts is fitted on the training questions (qa.model, bench.train_answerer).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jieba
import numpy as np

from index.tokens import tokenize
from index.types import Sentence
from qa.colloquial import without_everyday_words
from qa.evidence import Evidence, EvidenceSentence
from qa.numbers import Quantity, find_quantities, parse_quantity, stated_range
from qa.query import SubQuestion, topic_words
from qa.scope import (
    PER_UNIT,
    PER_UNIT_STATED,
    Scope,
    ScopeCheck,
    asked_years,
    check_figure,
    check_place,
    is_sure_place,
    scope_of,
)
from qa.text import (
    FUNCTION_CHARS,
    char_bigrams,
    clause_with_previous,
    names_nation,
    names_place,
    normalize,
    place_keys,
    place_names,
    years_in,
)

# Which quantity kinds answer which question kinds.
KINDS_WANTED = {
    "year": {"date"},
    "percent": {"percent", "percentage_point"},
    "number": {"amount", "percent", "percentage_point", "duration"},
}
# How far after a number, within its clause, the counted thing may be named.
FOCUS_WINDOW = 30
DEFINITION_MARKER = re.compile(r"[，,]?(?:即|就是|是指|指的是|是说)|——|[：:]")
DEFINED_SHARE = 0.5  # of the defined phrase's bigrams found in the question
QUOTED = re.compile(r"[“\"「『]([^”\"」』]{1,12})[”\"」』]")
CLAUSE_BREAK = re.compile(r"[，,；;。：:！？!?]")
# Reasons and means: the words a sentence that answers 为什么 / 怎么 uses.
WHY_CUES = re.compile(r"因为|由于|为了|是为|根本|关键|在于|才能|只有|否则|之所以|旨在|目的|原因|使|从而|以便|避免|防止")
HOW_CUES = re.compile(
    r"通过|坚持|实施|采取|推行|建立|实行|开展|推进|加强|完善|落实|健全|创新|强化|统筹|探索|以|按照|做到"
)
# Pronouns and words of asking jieba keeps whole (「那些」「是不是」): no topic of their own.
FUNCTION_WORDS = frozenset(
    "那些 这些 那个 这个 后来 这类 那类 是不是 不用 好些 里头 这块 它们 他们 她们 "
    "有没有 能不能 会不会 要不要 不要".split()
)
RESTRICTIVE = re.compile(r"单独|单单|光是|光|只有|仅|其中|里面|当中|之中")
ONLY = re.compile(r"单独|单单|光是|光(?![伏荣明辉彩])|只有|(?<!不)仅")  # not 「不仅」「光伏」
PART_NAMED = re.compile(r"(?:其中|里面|当中|之中)[的有是，,]*([\u4e00-\u9fff]{2})")
# A byline, a photo credit or an editor's line is not a statement about anything.
BYLINE = re.compile(r"■|记者|通讯员|摄影?$|摄）|供图|来源[:：]|作者[:：]|编辑[:：]|责任编辑|局$|委员会$|办公室$")
SENTENCE_END = re.compile(r"[。！？!?；;…]$")
HEADING_MAX_CHARS = 40
TIBETAN = re.compile(r"[\u0f00-\u0fff]")
ORDINAL_START = re.compile(
    r"^[◆■●·\s]*(?:[（(](?P<a>[一二三四五六七八九十]{1,3})[）)]|(?P<b>[一二三四五六七八九十]{1,3})(?:是|、|．)"
    r"|第(?P<c>[一二三四五六七八九十]{1,3})(?:[，,、：:是]|条|项|个)|(?P<d>\d{1,2})[.．、)）])"
)
# A numbered slogan: a count, then the word its items share (「两不愁」「三保障」「六个精准」「五个一批」);
# the shared word starts with no numeral or measure word (「十三五」「两个月」「三年」 are no slogans).
SLOGAN_COUNTS = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
NUMBERED_SLOGAN = re.compile(
    r"(?<![\d一二三四五六七八九十百千万第])([两二三四五六七八九十])个?"
    r"((?![二三四五六七八九十百千万亿个年月日天次倍成分名人户元岁]|一[二三四五六七八九十])[\u4e00-\u9fff]"
    r"(?![一二三四五六七八九十])[\u4e00-\u9fff])"
)
LIST_ITEMS_FOR_FULL_SCORE = 4
MAX_LIST_ITEMS = 8
FIRST_ITEM_WITHIN_SENTENCES = 2
LIST_WINDOW_CHARS = 4000

NAMES = (
    "bias",
    # closeness in meaning
    "similarity",
    "similarity_gap",  # to the best candidate for this part
    "similarity_rank",  # 1 / (1 + rank among the candidates)
    "passage_similarity",
    "passage_rank",  # 1 / (1 + retrieval rank of the passage)
    "passage_lexical",  # BM25 of the passage / the best passage's
    # the question's words
    "coverage",
    "coverage_with_context",
    "coverage_gap",
    "coverage_rank",  # 1 / (1 + rank among the candidates by coverage with context)
    "shared_run",  # the longest run of the question's words the sentence repeats, share of the question
    "similar_and_covered",  # similarity × coverage: close in meaning and in words at once
    "missing_weight",  # share of the question's weight in its heaviest word the sentence lacks
    "log_question_weight",
    # figures
    "wants_figure",
    "has_wanted_number",
    "has_any_number",
    "focus",
    "focus_missing",  # the heaviest word of the counted thing that the figure's clause lacks (「女」干部)
    "restricted",  # 「单独」「光」「仅」「其中」: a part of something is asked (an "only" the sentence does not say)
    "restricted_unfocused",
    "figure_given",  # the answering figure is one the question itself states (「那20多万名学生里，…」)
    "wants_figure_no_number",
    "year_asked",
    "year_in_clause",
    "year_near",
    "other_year_in_clause",
    "per_unit_mismatch",
    "unknown_focus",  # share of the counted thing's words that no document uses (「女性」)
    "unknown_terms",  # the same for the whole part
    # places
    "place_asked",
    "place_named_near",
    "place_in_article",
    "place_other",
    "nation_asked",
    "sentence_local",
    "sentence_national",
    "nation_vs_local",
    "local_vs_nation",
    # policy questions
    "novelty",
    "defines",
    "list_asked",
    "enumeration",
    "why_asked",
    "why_cue",
    "how_asked",
    "how_cue",
    "who_asked",
    "names_role",  # a who-question: the sentence names an office or a person's title
    "where_names_place",  # a where-question: the sentence names a place (its answer)
    # the sentence itself
    "heading_like",
    "byline",
    "log_length",
    "is_question",
    "tibetan",
    # scope conflicts (qa.scope): the answerer declines on them; the model sees them too
    "scope_place",
    "scope_nation",
    "scope_year",
    "scope_unit",
    "scope_per_unit",
    "scope_limit",
    "scope_round",
    "scope_form",  # a heading or a byline: it names a topic, it does not answer
)
SCOPE_COLUMNS = {name.removeprefix("scope_"): i for i, name in enumerate(NAMES) if name.startswith("scope_")}
INDEX = {name: i for i, name in enumerate(NAMES)}


@dataclass(frozen=True)
class PartTerms:
    """What of a question part is matched against sentences, computed once per part."""

    terms: dict[str, float]  # topic terms and their weights (idf)
    focus: tuple[dict[str, float], ...]  # the counted thing(s), as weighted terms
    bigrams: frozenset[str]
    quoted: tuple[str, ...]
    years: frozenset[int]
    places: tuple[tuple[str, ...], ...]  # place keys asked about
    nation: bool
    per_unit: tuple[str, ...]  # which PER_UNIT measures the question names
    why: bool
    how: bool
    who: bool
    where: bool  # 「在哪儿开的」: a place in the sentence is the answer, not another scope
    topic: str  # the part's words without question words and punctuation, normalized
    scope: Scope
    unknown_focus: float
    unknown_terms: float
    given: tuple[tuple[str, float, float], ...]  # the figures the part itself states: kind, values


WHY_QUESTION = re.compile(r"为什么|为啥|为何|原因|靠的是|靠什么|靠啥|凭什么|意义|作用|有啥用|有什么用|目的")
HOW_QUESTION = re.compile(r"怎么|怎样|如何|咋|什么办法|哪些办法|啥办法|措施|做法|办法|方式|途径|举措")
WHERE_QUESTION = re.compile(r"在哪|哪里|哪儿|什么地方|哪个地方|哪些地方|何地|哪个(?:省|市|县|区|地区)")
WHO_QUESTION = re.compile(r"谁|哪位|哪个人|什么人|哪些人")
# Offices and titles: who a who-question asks for is named by them (「县委书记和县长是第一责任人」).
ROLE = re.compile(r"书记|县长|市长|省长|区长|乡长|镇长|村长|主任|部长|局长|主席|总理|委员|同志|负责人|带头人")


def weighted_terms(text: str, term_weight: Callable[[str], float], tokenizer: str) -> dict[str, float]:
    """Topic terms of a text (as the lexical index tokenizes), weighted by ``term_weight`` (idf).

    A term of weight 0 (in no document) can match nothing and is left out; so is a single
    character (「扶」 left of 「怎么扶」 matches inside unrelated words).
    """
    terms = tokenize(topic_words(text), tokenizer)
    weights = {t: term_weight(t) for t in dict.fromkeys(terms) if len(t) > 1 and not FUNCTION_CHARS.intersection(t)}
    return {t: w for t, w in weights.items() if w > 0}


def part_terms(part: SubQuestion, term_weight: Callable[[str], float], tokenizer: str) -> PartTerms:
    """The matching material of a question part."""
    text = part.text
    # The counted thing in everyday words (「破房子」) is also counted in the official ones (危房).
    phrases = (*part.focus, *part.expansions) if part.focus else ()
    focus = tuple(t for t in (weighted_terms(p, term_weight, tokenizer) for p in phrases) if t)
    return PartTerms(
        scope=scope_of(text, part.places),
        unknown_focus=max(
            (unknown_share(without_everyday_words(p), term_weight, tokenizer) for p in part.focus), default=0.0
        ),
        unknown_terms=unknown_share(without_everyday_words(topic_words(text)), term_weight, tokenizer),
        terms=weighted_terms(part.search_text, term_weight, tokenizer),
        focus=focus,
        bigrams=char_bigrams(text, frozenset()),
        quoted=tuple(QUOTED.findall(text)),
        years=asked_years(text),
        places=tuple(place_keys(p) for p in part.places),
        nation=names_nation(text),
        per_unit=tuple(name for name, pattern in PER_UNIT.items() if pattern.search(text)),
        why=bool(WHY_QUESTION.search(text)),
        topic=re.sub(r"\W+", "", normalize(topic_words(text))),
        how=bool(HOW_QUESTION.search(text)),
        who=bool(WHO_QUESTION.search(text)),
        where=bool(WHERE_QUESTION.search(text)),
        given=tuple((q.kind, *stated_range(q)) for q in find_quantities(text) if q.kind != "date"),
    )


def unknown_share(text: str, term_weight: Callable[[str], float], tokenizer: str) -> float:
    """Share of a text's words (longer than a character) that no document uses."""
    tokens = [t for t in tokenize(text, tokenizer) if len(t) > 1 and not FUNCTION_CHARS.intersection(t)]
    return sum(term_weight(t) == 0 for t in tokens) / len(tokens) if tokens else 0.0


def asks_of_nothing_known(
    text: str, places: Sequence[str], term_weight: Callable[[str], float], tokenizer: str
) -> bool:
    """True if the words a question asks about (beyond its places and words of asking; two at
    least) are all words no document uses: 「拉萨这周末天气咋样」 asks about the weather, which no
    document speaks of, whatever sentence names 拉萨. Everyday words the table of qa.colloquial
    knows are not counted; one word alone (「…破房子修好了」) is too little to tell."""
    rest = without_everyday_words(topic_words(text))
    for place in places:
        rest = rest.replace(place, " ")
    words = [w for w in jieba.lcut(rest) if len(w) > 1 and re.search(r"[^\W\d]", w) and w not in FUNCTION_WORDS]
    return len(words) >= 2 and all(any(term_weight(t) == 0 for t in tokenize(w, tokenizer)) for w in words)


def shared_run(topic: str, text: str) -> float:
    """The longest stretch of the question's words the text repeats, as a share of them."""
    if not topic:
        return 0.0
    sentence = re.sub(r"\W+", "", normalize(text))
    best = 0
    for start in range(len(topic)):
        length = best + 1
        while start + length <= len(topic) and topic[start : start + length] in sentence:
            best = length
            length += 1
    return best / len(topic)


def coverage_of(text: str, terms: dict[str, float]) -> float:
    """Share of the terms' weight found in the text (0 when there are no terms)."""
    total = sum(terms.values())
    if total <= 0:
        return 0.0
    norm = normalize(text)
    return sum(w for t, w in terms.items() if t in norm) / total


def missing_weight(text: str, terms: dict[str, float]) -> float:
    """The weight share of the heaviest question term the text lacks (0 when it has them all)."""
    total = sum(terms.values())
    if total <= 0:
        return 0.0
    norm = normalize(text)
    return max((w for t, w in terms.items() if t not in norm), default=0.0) / total


def is_given(quantity: Quantity, given: Sequence[tuple[str, float, float]]) -> bool:
    """True if a figure is one of the question's own (「那4万多人里」 states 44 435)."""
    return any(kind == quantity.kind and low <= quantity.value <= high for kind, low, high in given)


def wanted_quantities(text: str, wants: str, units: Sequence[str] = ()) -> list[Quantity]:
    """The quantities in the text of the kind (and, if given, one of the units) the question asks for."""
    kinds = KINDS_WANTED.get(wants)
    if not kinds:
        return []
    # A bare count (「960多万生活在…的贫困人口」) names its unit after the number, if at all.
    return [q for q in find_quantities(text) if q.kind in kinds and (not units or q.unit in (*units, ""))]


def focus_near_number(text: str, focus: Sequence[dict[str, float]], quantities: Sequence[Quantity]) -> float:
    """How fully the clause of a quantity names one of the focus phrases (0–1; the best pair).

    「对52个未摘帽贫困县」 states the count of 未摘帽贫困县; a sentence that names the focus
    in another clause than its numbers (which count other things) does not answer, nor does
    「主电网覆盖率达93%」 the question about 森林覆盖率.
    """
    return max(
        (
            coverage_of(clause_with_previous(text, q.start, q.end, FOCUS_WINDOW), terms)
            for q in quantities
            for terms in focus
        ),
        default=0.0,
    )


def defines(text: str, question_bigrams: frozenset[str], quoted: Sequence[str]) -> float:
    """1 if the text says what something of the question is: a clause naming it followed by
    即/就是/是指/——/： (「中央统筹,就是要做好顶层设计」)."""
    for marker in DEFINITION_MARKER.finditer(text):
        clause_start = max((m.end() for m in CLAUSE_BREAK.finditer(text, 0, marker.start())), default=0)
        named = text[clause_start : marker.start()]
        if any(term in named for term in quoted):
            return 1.0
        bigrams = char_bigrams(named, frozenset())
        if bigrams and len(bigrams & question_bigrams) >= DEFINED_SHARE * len(bigrams):
            return 1.0
    return 0.0


def ordinal_of(text: str) -> int | None:
    """The item number a sentence opens with (「二是」→2, 「（三）」→3, 「4.」→4), else None."""
    match = ORDINAL_START.match(text)
    if not match:
        return None
    number = parse_quantity(next(g for g in match.groups() if g))
    return int(number.value) if number else None


def asks_a_part(question: str, sentence: str) -> bool:
    """The question asks a part of something (「其中」「光」「单独」) that the sentence does not restrict
    to: an "only" it says too (「仅打印费就花了…」 for 「光印材料就花了多少」), or the same part after its
    own 「其中」, is the part asked."""
    if not RESTRICTIVE.search(question):
        return False
    if ONLY.search(question) and ONLY.search(sentence):
        return False
    # 「其中妇女占多少」 against 「…就业,其中妇女占比达78%」: the sentence names the same part.
    asked = PART_NAMED.search(question)
    return not (asked and any(m.group(1).startswith(asked.group(1)) for m in PART_NAMED.finditer(sentence)))


def numbered_slogans(text: str) -> tuple[tuple[int, str], ...]:
    """The numbered slogans a text names, as (how many items, their shared word): 「两不愁三保障」
    names (2, 不愁) and (3, 保障), 「六个精准」 (6, 精准)."""
    return tuple((SLOGAN_COUNTS[m.group(1)], m.group(2)) for m in NUMBERED_SLOGAN.finditer(text))


def list_runs(text: str) -> list[list[str]]:
    """Each clause of a text as its 、-separated items (one item where it lists nothing)."""
    return [run.split("、") for run in CLAUSE_BREAK.split(text)]


def spells_out(text: str, slogans: Sequence[tuple[int, str]]) -> bool:
    """True if the sentence lists the items of every slogan: the shared word in as many items of
    a 、-list (「不愁吃、不愁穿」; a word repeated elsewhere lists nothing), or a list of as many
    items that ends on it (「义务教育、基本医疗、住房安全有保障」, 「扶持对象、…、脱贫成效“六个精准”」)."""
    runs = list_runs(text)
    listed = [item for items in runs if len(items) > 1 for item in items]
    return bool(slogans) and all(
        sum(word in item for item in listed) >= count
        or any(len(items) >= count and word in items[-1] for items in runs)
        for count, word in slogans
    )


def numbered_items(sentence: Sentence, following: Sequence[Sentence]) -> list[Sentence]:
    """The numbered items (「一是…」「二是…」) that follow a sentence, in order."""
    items: list[Sentence] = []
    previous_end = sentence.end
    for position, candidate in enumerate(following, start=1):
        if candidate.start - previous_end > LIST_WINDOW_CHARS:
            break
        if not items and position > FIRST_ITEM_WITHIN_SENTENCES:
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


def enumeration_score(text: str, listed: int, terms: dict[str, float], wanted: int) -> float:
    """How much a sentence is, or introduces, a list of the asked length (0–1): items
    「、」-separated in a clause, numbered sentences that follow (``listed``), or clauses
    repeating a question term (「通过…一批，通过…一批」)."""
    inline = max((clause.count("、") + 1 for clause in CLAUSE_BREAK.split(text) if "、" in clause), default=0)
    repeated = max((text.count(t) for t in terms), default=0)
    items = max(inline, repeated, listed)
    if not wanted:
        return min(1.0, items / LIST_ITEMS_FOR_FULL_SCORE)
    if wanted in (inline, repeated, listed):
        return 1.0
    return 0.5 if items > wanted else 0.5 * items / wanted


def novelty(text: str, question_bigrams: frozenset[str]) -> float:
    """Share of a text's character bigrams that the question does not use (0–1)."""
    bigrams = char_bigrams(text, frozenset())
    return len(bigrams - question_bigrams) / len(bigrams) if bigrams else 0.0


def sure_places(text: str) -> list[str]:
    """The places a text names that are surely places (qa.scope.is_sure_place)."""
    return [p for p in place_names(text) if is_sure_place(p)]


def form_check(text: str) -> ScopeCheck:
    """A heading (a short line with no sentence end) or a byline never answers anything."""
    # A timeline line (「◆ 2016年11月23日，国务院印发…」) has no sentence end either, but has clauses.
    heading = len(text) <= HEADING_MAX_CHARS and not SENTENCE_END.search(text) and not CLAUSE_BREAK.search(text)
    byline = len(text) <= HEADING_MAX_CHARS and bool(BYLINE.search(text))
    return ScopeCheck("form", text) if heading or byline else ScopeCheck()


def part_features(
    part: SubQuestion, evidence: Evidence, similarities: np.ndarray
) -> tuple[np.ndarray, list[ScopeCheck]]:
    """The feature matrix of one question part (a row per evidence sentence, a column per
    ``NAMES``) and each sentence's scope check."""
    sentences = evidence.sentences
    rows = np.zeros((len(sentences), len(NAMES)), dtype=np.float64)
    checks: list[ScopeCheck] = []
    if not sentences:
        return rows, checks
    pt = part_terms(part, evidence.term_weight, evidence.tokenizer)
    total_weight = sum(pt.terms.values())
    best_lexical = max((h.lexical_score for h in evidence.hits), default=0.0) or 1.0
    order = np.argsort(-similarities)
    sim_rank = np.empty(len(sentences))
    sim_rank[order] = np.arange(len(sentences))
    for i, item in enumerate(sentences):
        rows[i], check = _row(part, pt, item, evidence, float(similarities[i]), best_lexical, total_weight)
        rows[i, INDEX["similarity_rank"]] = 1 / (1 + sim_rank[i])
        checks.append(check)
    rows[:, INDEX["similarity_gap"]] = similarities - similarities.max()
    coverage = rows[:, INDEX["coverage_with_context"]]
    rows[:, INDEX["coverage_gap"]] = coverage - coverage.max()
    coverage_order = np.argsort(-coverage, kind="stable")
    coverage_rank = np.empty(len(sentences))
    coverage_rank[coverage_order] = np.arange(len(sentences))
    rows[:, INDEX["coverage_rank"]] = 1 / (1 + coverage_rank)
    rows[:, INDEX["similar_and_covered"]] = similarities * coverage
    return rows, checks


def _row(
    part: SubQuestion,
    pt: PartTerms,
    item: EvidenceSentence,
    evidence: Evidence,
    similarity: float,
    best_lexical: float,
    total_weight: float,
) -> tuple[np.ndarray, ScopeCheck]:
    text = item.text
    # The title is left out: a magazine's name (「新西藏」) is not where its articles speak of.
    near = item.context + text
    f = np.zeros(len(NAMES))
    f[INDEX["bias"]] = 1.0
    f[INDEX["similarity"]] = similarity
    f[INDEX["passage_similarity"]] = item.hit.dense_score
    f[INDEX["passage_rank"]] = 1 / (1 + item.hit_rank)
    f[INDEX["passage_lexical"]] = item.hit.lexical_score / best_lexical
    f[INDEX["coverage"]] = coverage_of(text, pt.terms)
    f[INDEX["coverage_with_context"]] = coverage_of(item.context + text, pt.terms)
    f[INDEX["missing_weight"]] = missing_weight(item.context + text, pt.terms)
    f[INDEX["shared_run"]] = shared_run(pt.topic, text)
    f[INDEX["log_question_weight"]] = math.log1p(total_weight)
    # figures
    wants = part.wants
    quantities = wanted_quantities(text, wants, part.units) if wants else []
    f[INDEX["wants_figure"]] = float(bool(wants))
    f[INDEX["has_wanted_number"]] = float(bool(quantities))
    f[INDEX["restricted"]] = float(asks_a_part(part.text, text))
    f[INDEX["has_any_number"]] = float(bool(find_quantities(text)))
    f[INDEX["wants_figure_no_number"]] = float(bool(wants) and not quantities)
    answering: list[Quantity] = []
    if quantities:
        focus_of = [focus_near_number(text, pt.focus or (pt.terms,), [q]) for q in quantities]
        f[INDEX["focus"]] = max(focus_of)
        best = quantities[int(np.argmax(focus_of))]
        clause = clause_with_previous(text, best.start, best.end, FOCUS_WINDOW)
        f[INDEX["focus_missing"]] = min((missing_weight(clause, terms) for terms in pt.focus), default=0.0)
        f[INDEX["restricted_unfocused"]] = f[INDEX["restricted"]] * (1 - f[INDEX["focus"]])
        # The figures that name the counted thing best are the ones that would answer.
        answering = [q for q, focus in zip(quantities, focus_of) if focus >= max(focus_of) - 1e-9]
        # A figure the question states is what it asks about, not its answer (a part of it is asked).
        f[INDEX["figure_given"]] = float(all(is_given(q, pt.given) for q in answering))
    f[INDEX["unknown_focus"]] = pt.unknown_focus
    f[INDEX["unknown_terms"]] = pt.unknown_terms
    clause_years = [years_in(clause_with_previous(text, q.start, q.end, FOCUS_WINDOW)) for q in answering]
    f[INDEX["year_asked"]] = float(bool(pt.years))
    if pt.years:
        f[INDEX["year_in_clause"]] = float(any(years & pt.years for years in clause_years))
        f[INDEX["year_near"]] = float(bool(years_in(item.context + text) & pt.years))
        other_years = bool(clause_years) and all(y and not y & pt.years for y in clause_years)
        f[INDEX["other_year_in_clause"]] = float(other_years)
    number_clauses = "".join(clause_with_previous(text, q.start, q.end, FOCUS_WINDOW) for q in answering)
    # An asked per-unit measure may be stated in other words (「人均年增收」), the others as asked.
    stated_per = {
        name
        for name in PER_UNIT
        if (PER_UNIT_STATED if name in pt.per_unit else PER_UNIT)[name].search(number_clauses or text)
    }
    f[INDEX["per_unit_mismatch"]] = float(stated_per != set(pt.per_unit))
    # places
    sentence_places = sure_places(text)
    sentence_nation = names_nation(text)
    f[INDEX["place_asked"]] = float(bool(pt.places))
    f[INDEX["nation_asked"]] = float(pt.nation)
    f[INDEX["sentence_local"]] = float(bool(sentence_places) and not sentence_nation and not pt.where)
    f[INDEX["sentence_national"]] = float(sentence_nation)
    if pt.places:
        named = [keys for keys in pt.places if names_place(keys, near)]
        f[INDEX["place_named_near"]] = len(named) / len(pt.places)
        in_article = all(names_place(keys, item.article + text) for keys in pt.places)
        f[INDEX["place_in_article"]] = float(in_article)
        f[INDEX["place_other"]] = float(not named and (sentence_nation or bool(sentence_places)))
    else:
        article_places = sure_places(item.context) or sure_places(item.article[-600:])
        local = bool(sentence_places or article_places) and not sentence_nation
        f[INDEX["nation_vs_local"]] = float(local and not pt.where)
    if pt.places:
        f[INDEX["local_vs_nation"]] = float(sentence_nation and not f[INDEX["place_named_near"]])
    # policy questions
    if not wants:
        f[INDEX["novelty"]] = novelty(text, pt.bigrams)
        f[INDEX["defines"]] = defines(text, pt.bigrams, pt.quoted)
    if part.is_list:
        listed = len(numbered_items(item.sentence, evidence.following(item.sentence)))
        f[INDEX["list_asked"]] = 1.0
        f[INDEX["enumeration"]] = enumeration_score(text, listed, pt.terms, part.list_size)
    f[INDEX["why_asked"]] = float(pt.why)
    f[INDEX["why_cue"]] = float(pt.why and bool(WHY_CUES.search(text)))
    f[INDEX["how_asked"]] = float(pt.how)
    f[INDEX["how_cue"]] = float(pt.how and bool(HOW_CUES.search(text)))
    f[INDEX["who_asked"]] = float(pt.who)
    f[INDEX["names_role"]] = float(pt.who and bool(ROLE.search(text)))
    f[INDEX["where_names_place"]] = float(pt.where and bool(sentence_places))
    # the sentence itself
    stripped = text.strip()
    f[INDEX["heading_like"]] = float(len(stripped) <= 40 and not SENTENCE_END.search(stripped))
    f[INDEX["byline"]] = float(bool(BYLINE.search(stripped)) and len(stripped) <= 40)
    f[INDEX["log_length"]] = math.log1p(len(stripped))
    f[INDEX["is_question"]] = float(stripped.endswith(("？", "?")))
    f[INDEX["tibetan"]] = float(bool(TIBETAN.search(stripped)))
    figures = answering or (wanted_quantities(text, wants) if wants else [])
    check = form_check(stripped) or check_place(pt.scope, text, item.context, item.article, answering)
    if wants and not check:
        check = check_figure(pt.scope, part.units, text, figures, item.context)
    if check:
        f[SCOPE_COLUMNS[check.conflict]] = 1.0
    return f, check
