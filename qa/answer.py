"""The extractive answerer: pick the 1–3 sentences that answer, cite each one.

Sentences of the best retrieved passages are scored by their similarity to the
question (vectors computed at index time, so the only model call per question
is the query's own), by how much of the question's key terms they cover
(IDF-weighted), and — for 多少/几/哪一年/百分之几 questions — by whether they
state a number of the asked kind. Sentences are quoted, never rewritten, so a
figure in an answer is always the figure in its source.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from index.lexical import normalize, tokenize
from index.store import IndexData
from index.types import Sentence
from qa.numbers import find_quantities
from qa.query import QuestionInfo
from qa.types import Citation, Hit

# Sentences are taken from this many of the best passages.
PASSAGES_FOR_ANSWER = 5
MAX_SENTENCES = 3
MAX_ANSWER_CHARS = 280  # the eval counts at most 300 characters, markers excluded

# Sentence score = weighted sum of features in [0, 1] (weights tuned on the dev set).
W_SIMILARITY = 1.0
W_COVERAGE = 1.0
W_NUMBER = 0.3
W_PASSAGE_RANK = 0.3
# A further sentence must add this share of the question's key-term weight.
MIN_COVERAGE_GAIN = 0.12

# Which quantity kinds answer which question kinds.
KINDS_WANTED = {
    "year": {"date"},
    "percent": {"percent", "percentage_point"},
    "number": {"amount", "percent", "percentage_point", "duration"},
}


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate sentence with the features that ranked it."""

    sentence: Sentence
    hit: Hit
    hit_rank: int
    similarity: float
    coverage: float
    has_number: bool
    score: float


@dataclass(frozen=True)
class Extract:
    """The chosen sentences and how strong the evidence is."""

    sentences: tuple[ScoredSentence, ...]
    coverage: float  # share of the question's key-term weight the chosen sentences cover
    best_similarity: float


def key_terms(question: str, idf: Callable[[str], float], method: str) -> dict[str, float]:
    """The question's lexical terms (as the lexical index tokenizes) with their IDF weights."""
    return {term: idf(term) for term in dict.fromkeys(tokenize(question, method))}


def coverage_of(text: str, terms: dict[str, float]) -> tuple[float, set[str]]:
    """Share of the terms' weight found in the text, and which terms were found."""
    total = sum(terms.values())
    if total <= 0:
        return 0.0, set()
    norm = normalize(text)
    found = {t for t in terms if t in norm}
    return sum(terms[t] for t in found) / total, found


def states_wanted_number(text: str, wants: str) -> bool:
    """True if the text states a quantity of the kind the question asks for."""
    kinds = KINDS_WANTED.get(wants)
    if not kinds:
        return False
    return any(q.kind in kinds for q in find_quantities(text))


def candidate_sentences(hits: Sequence[Hit], data: IndexData) -> list[tuple[Sentence, Hit, int]]:
    """Sentences of the best passages, each once (duplicated text across documents too)."""
    seen_ids: set[int] = set()
    seen_texts: set[str] = set()
    out = []
    for rank, hit in enumerate(hits[:PASSAGES_FOR_ANSWER]):
        for sentence in data.sentences_in(data.chunks[hit.chunk_id]):
            key = unicodedata.normalize("NFKC", sentence.text).replace(" ", "")
            if sentence.sentence_id in seen_ids or key in seen_texts:
                continue
            seen_ids.add(sentence.sentence_id)
            seen_texts.add(key)
            out.append((sentence, hit, rank))
    return out


def score_sentences(
    info: QuestionInfo,
    hits: Sequence[Hit],
    data: IndexData,
    query_vector: np.ndarray,
    terms: dict[str, float],
) -> list[ScoredSentence]:
    """Every candidate sentence with its features, best first."""
    candidates = candidate_sentences(hits, data)
    if not candidates:
        return []
    ids = np.array([s.sentence_id for s, _, _ in candidates])
    similarities = np.asarray(data.sentence_vectors[ids] @ query_vector, dtype=np.float64)
    scored = []
    for (sentence, hit, rank), similarity in zip(candidates, similarities):
        coverage, _ = coverage_of(sentence.text, terms)
        has_number = states_wanted_number(sentence.text, info.wants)
        score = (
            W_SIMILARITY * float(similarity)
            + W_COVERAGE * coverage
            + W_NUMBER * has_number
            + W_PASSAGE_RANK / (1 + rank)
        )
        scored.append(ScoredSentence(sentence, hit, rank, float(similarity), coverage, has_number, score))
    scored.sort(key=lambda s: -s.score)
    return scored


def select_sentences(scored: Sequence[ScoredSentence], terms: dict[str, float], wants: str) -> Extract:
    """The best sentence, plus up to two more that cover question terms it misses."""
    if not scored:
        return Extract((), 0.0, 0.0)
    chosen = [scored[0]]
    covered = coverage_of(scored[0].sentence.text, terms)[1]
    length = len(scored[0].sentence.text)
    total_weight = sum(terms.values()) or 1.0
    for candidate in scored[1:]:
        if len(chosen) == MAX_SENTENCES:
            break
        if length + len(candidate.sentence.text) > MAX_ANSWER_CHARS:
            continue
        found = coverage_of(candidate.sentence.text, terms)[1]
        gain = sum(terms[t] for t in found - covered) / total_weight
        if gain >= MIN_COVERAGE_GAIN:
            chosen.append(candidate)
            covered |= found
            length += len(candidate.sentence.text)
    coverage = sum(terms[t] for t in covered) / total_weight
    return Extract(tuple(chosen), coverage, max(s.similarity for s in chosen))


def compose(extract: Extract, data: IndexData) -> tuple[str, tuple[Citation, ...]]:
    """The answer text with a [n] marker after each sentence, and its citations.

    Sentences from the same passage keep their reading order.
    """
    ordered = sorted(extract.sentences, key=lambda s: (s.hit_rank, s.sentence.start))
    parts: list[str] = []
    citations: list[Citation] = []
    for marker, item in enumerate(ordered, start=1):
        sentence, hit = item.sentence, item.hit
        parts.append(f"{sentence.text}[{marker}]")
        citations.append(
            Citation(
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
        )
    return "".join(parts), tuple(citations)


# Evidence below these is too weak to answer from (calibrated on the dev set, README "No answer").
MIN_COVERAGE = 0.5
MIN_SIMILARITY = 0.80


def is_answerable(extract: Extract) -> bool:
    """True if the chosen sentences are strong enough evidence to answer from."""
    if not extract.sentences:
        return False
    return extract.coverage >= MIN_COVERAGE and extract.best_similarity >= MIN_SIMILARITY
