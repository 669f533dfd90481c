"""What an answer strategy may see of the index: a narrow, read-only view of the evidence.

The sentences of the best retrieved passages, each with its passage, where it stands, what
comes before it (paragraph, heading, article) and its vector; the documents' term weights;
and the numbered items that follow a sentence. Strategies never touch the index itself, so
they are tested with hand-made evidence and work on any store.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from index.store import IndexData
from index.types import Sentence
from qa.types import Hit

# How much of the paragraph before a sentence counts as its context; a short line above
# the paragraph without a sentence end is its heading, and counts too.
CONTEXT_CHARS = 150
MAX_HEADING_CHARS = 40
HEADING_BREAKERS = frozenset("。！？；!?;")
# A place asked about may be named this far before a sentence that names none (its article:
# 「全市…」 under a 那曲 heading). On the question sets every answer whose place is named only
# in its article has it within 1,500 characters.
ARTICLE_CHARS = 1500
# Numbered items (「一是…」「二是…」) may have long bodies between them.
LIST_WINDOW_CHARS = 4000
MAX_FOLLOWING = 12


@dataclass(frozen=True)
class EvidenceSentence:
    """A sentence of a retrieved passage, with what surrounds it in its document."""

    sentence: Sentence
    hit: Hit  # the best-ranked retrieved passage holding it
    hit_rank: int  # that passage's rank (0 = best)
    title: str
    date: str | None
    context: str  # the paragraph before it, with the heading above the paragraph
    article: str  # up to ARTICLE_CHARS of the document before it: the article it belongs to
    vector: np.ndarray = field(repr=False)

    @property
    def text(self) -> str:
        return self.sentence.text


@dataclass(frozen=True)
class Evidence:
    """The read-only view of the evidence for one question."""

    sentences: tuple[EvidenceSentence, ...]
    hits: tuple[Hit, ...]
    term_weight: Callable[[str], float]  # idf of a lexical token, 0 when no document has it
    tokenizer: str  # how the lexical index tokenizes ("bigram" or "jieba")
    following: Callable[[Sentence], Sequence[Sentence]] = field(repr=False)  # sentences after one, in order
    passage_of: Callable[[Sentence], Hit] = field(repr=False)  # a passage holding a sentence
    sentences_of: Callable[[Hit], Sequence[Sentence]] = field(repr=False)  # the sentences of a passage

    def similarities(self, query_vector: np.ndarray) -> np.ndarray:
        """Cosine of every sentence with a query vector (vectors are normalized)."""
        if not self.sentences:
            return np.zeros(0)
        matrix = np.stack([s.vector for s in self.sentences])
        return np.asarray(matrix @ query_vector, dtype=np.float64)


def gather_evidence(hits: Sequence[Hit], data: IndexData, passages: int) -> Evidence:
    """The evidence view of the first ``passages`` hits.

    Text repeated across documents counts once, and a sentence contained in a longer one
    (「西藏率先实现…」 in 「2019年底，西藏率先实现…」, a copy cut short by a page break)
    gives way to it: the longer one says at least as much.
    """
    seen_ids: set[int] = set()
    keyed: dict[str, tuple[Sentence, Hit, int]] = {}
    for rank, hit in enumerate(hits[:passages]):
        for sentence in data.sentences_in(data.chunks[hit.chunk_id]):
            key = unicodedata.normalize("NFKC", sentence.text).replace(" ", "")
            if sentence.sentence_id not in seen_ids and key not in keyed:
                seen_ids.add(sentence.sentence_id)
                keyed[key] = (sentence, hit, rank)
    kept = [entry for key, entry in keyed.items() if not any(key in other and key != other for other in keyed)]
    sentences = []
    for sentence, hit, rank in kept:
        document = data.document(sentence.doc_id)
        sentences.append(
            EvidenceSentence(
                sentence=sentence,
                hit=hit,
                hit_rank=rank,
                title=document.title,
                date=document.date,
                context=paragraph_before(document.text, sentence.start),
                article=document.text[max(0, sentence.start - ARTICLE_CHARS) : sentence.start],
                vector=np.asarray(data.sentence_vectors[sentence.sentence_id], dtype=np.float32),
            )
        )

    def following(sentence: Sentence) -> list[Sentence]:
        found = []
        for next_id in range(sentence.sentence_id + 1, min(len(data.sentences), sentence.sentence_id + 1 + 200)):
            candidate = data.sentences[next_id]
            if candidate.doc_id != sentence.doc_id or candidate.start - sentence.end > LIST_WINDOW_CHARS:
                break
            found.append(candidate)
            if len(found) >= MAX_FOLLOWING * 8:
                break
        return found

    by_chunk = {hit.chunk_id: hit for hit in hits}

    def passage_of(sentence: Sentence) -> Hit:
        chunk_ids = data.chunks_containing(sentence)
        known = next((by_chunk[c] for c in chunk_ids if c in by_chunk), None)
        if known is not None:
            return known
        chunk = data.chunks[chunk_ids[0]]
        document = data.document(chunk.doc_id)
        return Hit(chunk.chunk_id, chunk.doc_id, document.title, document.date, chunk.text, chunk.start, chunk.end, 0.0)

    def sentences_of(hit: Hit) -> list[Sentence]:
        return data.sentences_in(data.chunks[hit.chunk_id])

    return Evidence(
        sentences=tuple(sentences),
        hits=tuple(hits),
        term_weight=data.lexical.term_weight,
        tokenizer=data.lexical.method,
        following=following,
        passage_of=passage_of,
        sentences_of=sentences_of,
    )


def paragraph_before(text: str, start: int) -> str:
    """At most ``CONTEXT_CHARS`` of the paragraph before offset ``start``, preceded by the heading
    line above the paragraph if there is one (「●党的十八届五中全会」 over 「2015年10月26日至29日在京召开」)."""
    paragraph_start = text.rfind("\n", 0, start) + 1
    context = text[max(paragraph_start, start - CONTEXT_CHARS) : start]
    if paragraph_start:
        line = text[text.rfind("\n", 0, paragraph_start - 1) + 1 : paragraph_start - 1]
        if len(line) <= MAX_HEADING_CHARS and not HEADING_BREAKERS.intersection(line):
            context = f"{line}\n{context}"
    return context
