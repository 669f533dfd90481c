"""The extractive answer: quote the few sentences that answer, cite each one — or decline.

Each part of the question (「…多少人？其中…多少？」 has two) gets the sentence the fitted model
(qa.model) finds most likely to answer it, among the sentences whose figure has the asked scope
(qa.scope). Whether the question is answered is the fitted decision's (qa.decision), from how
the parts' rankings look; a declined question whose best sentence had the wrong scope gets a
reply saying what the documents do state (「文档中没有所问范围的这一数字，只有日喀则的：…[1]」). Policy questions
also quote close runner-ups, list questions the numbered items that follow. Sentences are
quoted, never rewritten, so every figure of an answer is a figure of its source.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace

import jieba
import numpy as np

from index.types import Sentence
from qa.answering import Draft
from qa.decision import Ranked, decision_features
from qa.evidence import Evidence, EvidenceSentence
from qa.features import (
    INDEX,
    NUMBERED_SLOGAN,
    coverage_of,
    list_runs,
    numbered_items,
    numbered_slogans,
    part_features,
    spells_out,
    wanted_quantities,
    weighted_terms,
)
from qa.model import AnswerModel
from qa.query import QuestionInfo, SubQuestion
from qa.scope import ScopeCheck
from qa.text import char_bigrams, clauses
from qa.types import Citation, Hit

MAX_PARTS = 3
# Sentences are taken from this many of the best passages (of each part).
PASSAGES_FOR_ANSWER = 5
MAX_ANSWER_CHARS = 280  # the eval counts at most 300 characters, markers excluded
# A sentence longer than this is trimmed to the clauses that carry the answer.
TRIM_ABOVE_CHARS = 90
TRIM_POLICY_ABOVE_CHARS = 140
# Non-figure parts also quote sentences this close to the best one (what a policy is or
# includes is often said over two or three sentences). Measured on the training questions
# (out of fold) and bank-dev: 0.6 → 0.4 answered correctly 0.729 → 0.740, declined alike.
RUNNER_UP_SHARE = 0.4
RUNNER_UPS = 2
# Once a question is answered, each other part is answered whose strength (best probability /
# its threshold) is at least this share of the strongest part's (or of 1, if that is lower):
# the question is about the documents, each part quotes its likeliest sentence. Measured as
# above: 0.5 → 0.3 answered correctly 0.740 → 0.747, declined 0.783 → 0.787 (lower: no change).
LATER_PART_SHARE = 0.3
# A part whose likeliest sentence a stronger part quotes takes its next one at least this likely
# (as a share of its likeliest).
SHARED_SENTENCE_SHARE = 0.5
SCOPE_WORDS = {
    "place": "{stated}",
    "nation": "{stated}",
    "year": "{stated}",
    "unit": "其他单位",
    "per_unit": "{stated}",
    "limit": "累计数而非上限",
    "round": "{stated}",
}
# Two quotes are one statement when this share of the shorter one's character bigrams is the other's.
SAME_STATEMENT_SHARE = 0.8
# Sentences quoted that list a slogan's items, when several do.
SPELLED_OUT_QUOTED = 2
# Words that ask what something means (the rest of 「“两不愁三保障”具体是什么意思」), and how people
# ask it (「麻烦列一下」).
MEANING_ASKED = re.compile(
    r"[是指]?(?:什么|啥)(?:意思)?|意思|含义|内涵|内容|说法|指的?是?|是指|具体|到底|究竟|都|就|包括|包含|分别|"
    r"哪(?:些|几|[一二两三四五六七八九十]+)(?:个|样|条|项|方面|类)?|麻烦|列一下|一下|说说|讲讲|解释|帮我|请问|\W"
)
# A sentence ending in a semicolon runs on into the next (at most this many are added).
RUNS_ON = re.compile(r"[;；]\s*$")
MAX_RUN_ON_SENTENCES = 3
DECLINE_FOR_SCOPE = "文档中没有所问范围的这一数字，只有{what}的：{quote}"


@dataclass(frozen=True)
class Pick:
    """A sentence chosen for a part, with the model's probability that it answers."""

    item: EvidenceSentence
    probability: float
    part: int
    list_item: bool = False


class ExtractiveAnswerer:
    """Answers from the evidence by quoting it, deciding with a fitted model."""

    max_parts = MAX_PARTS

    def __init__(self, model: AnswerModel, refusal_text: str) -> None:
        self.model = model
        self.refusal_text = refusal_text

    def stream(
        self, info: QuestionInfo, evidence: Evidence, part_vectors: Sequence[np.ndarray]
    ) -> Generator[str, None, Draft]:
        """The strategy interface: nothing to stream, the draft is complete at once."""
        return self.answer(info, evidence, part_vectors)
        yield  # a generator that yields nothing

    def answer(self, info: QuestionInfo, evidence: Evidence, part_vectors: Sequence[np.ndarray]) -> Draft:
        """Answer or decline one question (``part_vectors``: the embedding of each part)."""
        each_part = [self._rank(part, evidence, vector) for part, vector in zip(info.parts[:MAX_PARTS], part_vectors)]
        ranked = [r for r in each_part if r is not None]
        if not ranked:
            return Draft(self.refusal_text, (), {}, False, confidence=0.0)
        strongest = max(ranked, key=lambda r: r.strength)
        answers, confidence = self.model.decide(
            decision_features(ranked), strongest.strength, strongest.best_probability
        )
        spelled = spelled_out_slogans(ranked, evidence)
        # Only sentences of the right scope are quoted: a part whose every sentence had another
        # scope (all at probability 0) has nothing to quote. A sentence that lists a slogan's
        # items is what the slogan means, however few words it shares with the question.
        if not spelled and (not answers or strongest.best_probability <= 0):
            return self._decline(ranked, info, evidence, confidence)
        # The question is answered: every other part that has a likely answer gets it too.
        picks: list[Pick] = []
        runner_ups: list[Pick] = []
        bar_share = LATER_PART_SHARE * min(1.0, strongest.strength)
        chosen = {**dict(enumerate(own_sentences(ranked, evidence))), **{i: found[0] for i, found in spelled.items()}}
        for index, r in enumerate(ranked):
            if index not in spelled and (r.strength < bar_share or r.best_probability <= 0 or not answers):
                continue
            bar = r.threshold * bar_share
            pick = Pick(evidence.sentences[chosen[index]], float(r.probability[chosen[index]]), index)
            picks.append(pick)
            if r.part.is_list:
                picks.extend(self._list_items(pick, evidence))
            if not r.part.wants:
                picks.extend(self._continued(pick, evidence))
            # Documents word a slogan's items differently (「扶持对象精准、…」, 「扶持对象、…“六个精准”」).
            for other in spelled.get(index, [])[1:]:
                runner_ups.append(Pick(evidence.sentences[other], float(r.probability[other]), index))
            if not r.part.wants:
                floor = max(bar, RUNNER_UP_SHARE * r.best_probability)
                for i in r.order[1 : 1 + RUNNER_UPS]:
                    if r.probability[i] >= floor:
                        runner_up = Pick(evidence.sentences[i], float(r.probability[i]), index)
                        runner_ups.append(runner_up)
                        if r.part.is_list:  # the list may follow the runner-up (「实施“五个一批”工程。」)
                            runner_ups.extend(self._list_items(runner_up, evidence))
        text, citations = compose(info, [*picks, *runner_ups], evidence)
        return Draft(text, citations, {c.marker: c.text for c in citations}, True, confidence=confidence)

    def _decline(self, ranked: Sequence[Ranked], info: QuestionInfo, evidence: Evidence, confidence: float) -> Draft:
        """The refusal, or, when a sentence of another scope would have answered, what it states."""
        # Each scope block that would have answered, by how far it clears its part's threshold.
        # A heading or a byline is no other scope: it states nothing to offer instead.
        blocked = [
            (r.blocked[0] / r.threshold, r.blocked)
            for r in ranked
            if r.blocked is not None and r.blocked[0] >= r.threshold and r.blocked[2].conflict != "form"
        ]
        if blocked:
            _, (_, item, check) = max(blocked, key=lambda b: b[0])
            return self._decline_for_scope(item, check, info, evidence, confidence)
        return Draft(self.refusal_text, (), {}, False, confidence=confidence)

    def _rank(self, part: SubQuestion, evidence: Evidence, vector: np.ndarray) -> Ranked | None:
        """The evidence sentences ranked for one part, those of the wrong scope set aside."""
        if not evidence.sentences:
            return None
        features, checks = part_features(part, evidence, evidence.similarities(vector))
        probability = self.model.probabilities(features)
        blocked = np.array([bool(c) for c in checks])
        open_probability = np.where(blocked, 0.0, probability)
        order = np.argsort(-open_probability, kind="stable")
        top = int(np.argmax(probability))
        wrong_scope = None
        if blocked[top] and probability[top] > open_probability[order[0]]:
            wrong_scope = (float(probability[top]), evidence.sentences[top], checks[top])
        threshold = self.model.threshold_for(bool(part.wants))
        return Ranked(part, features, open_probability, order, wrong_scope, threshold)

    def _list_items(self, intro: Pick, evidence: Evidence) -> list[Pick]:
        """The numbered items that follow an introducing sentence, cited where they stand."""
        items = numbered_items(intro.item.sentence, evidence.following(intro.item.sentence))
        return [
            Pick(
                replace(intro.item, sentence=sentence, hit=evidence.passage_of(sentence), context="", article=""),
                intro.probability,
                intro.part,
                list_item=True,
            )
            for sentence in items
        ]

    def _continued(self, pick: Pick, evidence: Evidence) -> list[Pick]:
        """The sentences a quoted one runs on into: a statement that ends in a semicolon is not
        finished (「“两个确保”:确保…全部脱贫,消除绝对贫困;」 goes on 「确保贫困县全部摘帽…」)."""
        found: list[Pick] = []
        previous = pick.item.sentence
        for sentence in evidence.following(previous)[:MAX_RUN_ON_SENTENCES]:
            if not RUNS_ON.search(previous.text) or sentence.start - previous.end > 2:
                break
            item = replace(pick.item, sentence=sentence, hit=evidence.passage_of(sentence), context="", article="")
            found.append(Pick(item, pick.probability, pick.part))
            previous = sentence
        return found

    def _decline_for_scope(
        self, item: EvidenceSentence, check: ScopeCheck, info: QuestionInfo, evidence: Evidence, confidence: float
    ) -> Draft:
        """Decline, saying what the documents state for another scope, with its citation."""
        terms = weighted_terms(info.text, evidence.term_weight, evidence.tokenizer)
        start, end = trim_to_relevant(item.sentence, terms, info.wants)
        quote = item.sentence.text[start - item.sentence.start : end - item.sentence.start].rstrip("，,；;：:")
        what = SCOPE_WORDS[check.conflict].format(stated=check.stated or "其他范围")
        citation = _citation(1, item, start, quote)
        text = f"{DECLINE_FOR_SCOPE.format(what=what, quote=quote)}[1]"
        return Draft(text, (citation,), {1: quote}, False, confidence=confidence)


def spelled_out_slogans(ranked: Sequence[Ranked], evidence: Evidence) -> dict[int, list[int]]:
    """For each part asking what numbered slogans mean (「“两不愁三保障”是什么意思」), the likeliest
    sentences of the right scope that list all their items (「不愁吃、不愁穿，义务教育、基本医疗、
    住房安全有保障」), by part index."""
    found: dict[int, list[int]] = {}
    for index, r in enumerate(ranked):
        slogans = numbered_slogans(r.part.text) if not r.part.wants else ()
        if not slogans:
            continue
        # Only what the slogans mean is asked: the question's other words are words of asking
        # (「是什么意思」「具体指哪些」) or the sentence's own; 「“三保障”工作由哪些部门主管」 asks about
        # the departments, 「“三保障”里的基本医疗有保障指的是什么」 about one of the items.
        rest = [w for w in jieba.lcut(MEANING_ASKED.sub(" ", NUMBERED_SLOGAN.sub(" ", r.part.text))) if len(w) > 1]
        listing = [
            int(i) for i in r.order if r.probability[i] > 0 and _means(evidence.sentences[i].text, slogans, rest)
        ]
        if listing:
            found[index] = listing[:SPELLED_OUT_QUOTED]
    return found


def _means(text: str, slogans: Sequence[tuple[int, str]], rest: Sequence[str]) -> bool:
    """The sentence lists the slogans' items and holds the question's other words, none of them
    among its items."""
    if not spells_out(text, slogans) or not all(word in text for word in rest):
        return False
    items = "".join(item for items in list_runs(text) if len(items) > 1 for item in items)
    return not any(word in items for word in rest)


def own_sentences(ranked: Sequence[Ranked], evidence: Evidence) -> list[int]:
    """The sentence each part quotes: its likeliest, unless a stronger part quotes that one and the
    part's likeliest other sentence is nearly as likely (two facts are two sentences: 「14年识别出多少
    贫困人口？最后全部脱贫的又是多少」 had both parts quote the first fact's sentence). A part keeps a
    sentence it shares when nothing else comes close (「因病、因残…分别超过40%和14%」 answers both)."""
    chosen = [int(r.order[0]) for r in ranked]
    taken: set[str] = set()
    for index in sorted(range(len(ranked)), key=lambda i: -ranked[i].strength):
        r = ranked[index]
        if _sentence_key(evidence, chosen[index]) in taken:
            floor = SHARED_SENTENCE_SHARE * r.best_probability
            for other in r.order[1:]:
                if r.probability[other] < floor:
                    break
                # (a figure part only to a sentence with a figure of the kind asked)
                lacks_figure = r.part.wants and not r.features[other, INDEX["has_wanted_number"]]
                if _sentence_key(evidence, int(other)) not in taken and not lacks_figure:
                    chosen[index] = int(other)
                    break
        taken.add(_sentence_key(evidence, chosen[index]))
    return chosen


def _sentence_key(evidence: Evidence, index: int) -> str:
    return _same_text_key(evidence.sentences[index].sentence.text)


def _same_text_key(text: str) -> str:
    # A document repeating another (「，」 for 「,」, 「 " 」 for 「“」) repeats the same text.
    return re.sub(r"\W+", "", unicodedata.normalize("NFKC", text))


def trim_to_relevant(
    sentence: Sentence, terms: dict[str, float], wants: str, list_item: bool = False
) -> tuple[int, int]:
    """Offsets (in the document) of the clauses of a long sentence that carry the answer.

    A long list item keeps its first clause: 「一是发展生产脱贫一批」 names the item.
    """
    if len(sentence.text) <= (TRIM_ABOVE_CHARS if wants or list_item else TRIM_POLICY_ABOVE_CHARS):
        return sentence.start, sentence.end
    spans = clauses(sentence.text)
    if list_item:
        return sentence.start, sentence.start + spans[0][1]
    useful = [
        i
        for i, (s, e) in enumerate(spans)
        if coverage_of(sentence.text[s:e], terms) > 0.15 or (wants and wanted_quantities(sentence.text[s:e], wants))
    ]
    if not useful:
        return sentence.start, sentence.end
    # What a policy is follows where the sentence names it: keep the rest of the sentence.
    last = useful[-1] if wants else len(spans) - 1
    start, end = spans[useful[0]][0], spans[last][1]
    return sentence.start + start, sentence.start + end


def compose(info: QuestionInfo, picks: Sequence[Pick], evidence: Evidence) -> tuple[str, tuple[Citation, ...]]:
    """The answer text with a [n] marker after each sentence, and its citations.

    Sentences are admitted in the picks' priority order (each part's best first, runner-ups
    last) while the answer stays under ``MAX_ANSWER_CHARS``, then shown in reading order.
    The same statement quoted twice (a document repeating another) is quoted once.
    """
    terms = weighted_terms(info.text, evidence.term_weight, evidence.tokenizer)
    admitted: list[tuple[Pick, int, str]] = []
    seen: list[tuple[int, str, frozenset[str]]] = []
    length = 0
    for pick in picks:
        sentence = pick.item.sentence
        part = info.parts[pick.part] if pick.part < len(info.parts) else info.parts[0]
        start, end = trim_to_relevant(sentence, _part_terms(part, terms, evidence), part.wants, pick.list_item)
        text = sentence.text[start - sentence.start : end - sentence.start].rstrip("，,；;：:")
        # A document repeating another (「，」 for 「,」, 「 " 」 for 「“」) is quoted once; within a part,
        # also where it leaves a clause out (two parts may ask one measure at two dates: kept).
        key, words = _same_text_key(text), char_bigrams(text)
        repeated = any(
            key == other_key or (pick.part == other_part and _same_statement(words, other_words))
            for other_part, other_key, other_words in seen
        )
        if repeated or (admitted and length + len(text) > MAX_ANSWER_CHARS):
            continue
        seen.append((pick.part, key, words))
        length += len(text)
        admitted.append((pick, start, text))
    parts: list[str] = []
    citations: list[Citation] = []
    for marker, (pick, start, text) in enumerate(admitted, start=1):
        parts.append(f"{text}[{marker}]")
        citations.append(_citation(marker, pick.item, start, text))
    return "".join(parts), tuple(citations)


def _same_statement(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a and b) and len(a & b) >= SAME_STATEMENT_SHARE * min(len(a), len(b))


def _part_terms(part: SubQuestion, question_terms: dict[str, float], evidence: Evidence) -> dict[str, float]:
    return weighted_terms(part.text, evidence.term_weight, evidence.tokenizer) or question_terms


def _citation(marker: int, item: EvidenceSentence, start: int, text: str) -> Citation:
    hit: Hit = item.hit
    return Citation(
        marker=marker,
        doc_id=item.sentence.doc_id,
        title=item.title,
        date=item.date,
        text=text,
        start=start,
        end=start + len(text),
        passage=hit.text,
        passage_start=hit.start,
        passage_end=hit.end,
    )
