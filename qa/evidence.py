"""What an answer strategy may see of the index: a narrow, read-only view of the evidence.

The sentences of the best retrieved passages, each with its passage, where it stands, what
comes before it (paragraph, heading, article) and its vector; the documents' term weights;
and the numbered items that follow a sentence. Strategies never touch the index itself, so
they are tested with hand-made evidence and work on any store (index.stores).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from index.stores import Store
from index.types import Chunk, Sentence
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
FOLLOWING_SEARCHED = 200  # sentences after one looked at for its list


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


def gather_evidence(hits: Sequence[Hit], store: Store, passages: int, questions: Sequence[str] = ()) -> Evidence:
    """The evidence view of the first ``passages`` hits.

    Text repeated across documents counts once, and a sentence contained in a longer one
    (「西藏率先实现…」 in 「2019年底，西藏率先实现…」, a copy cut short by a page break)
    gives way to it: the longer one says at least as much. ``questions``: the texts whose
    words the strategies will weigh (a remote store fetches those term weights at once).
    """
    store.prefetch([hit.chunk_id for hit in hits], questions)
    seen_ids: set[int] = set()
    keyed: dict[str, tuple[Sentence, Hit, int]] = {}
    for rank, hit in enumerate(hits[:passages]):
        for sentence in _sentences_of(store, hit):
            key = unicodedata.normalize("NFKC", sentence.text).replace(" ", "")
            if sentence.sentence_id not in seen_ids and key not in keyed:
                seen_ids.add(sentence.sentence_id)
                keyed[key] = (sentence, hit, rank)
    kept = [entry for key, entry in keyed.items() if not any(key in other and key != other for other in keyed)]
    vectors = store.sentence_vectors([sentence.sentence_id for sentence, _, _ in kept])
    sentences = []
    for (sentence, hit, rank), vector in zip(kept, vectors):
        document = store.document(sentence.doc_id)
        sentences.append(
            EvidenceSentence(
                sentence=sentence,
                hit=hit,
                hit_rank=rank,
                title=document.title,
                date=document.date,
                context=paragraph_before(document.text, sentence.start),
                article=document.text[max(0, sentence.start - ARTICLE_CHARS) : sentence.start],
                vector=vector,
            )
        )

    def following(sentence: Sentence) -> list[Sentence]:
        found = []
        for candidate in store.sentences_after(sentence, FOLLOWING_SEARCHED):
            if candidate.start - sentence.end > LIST_WINDOW_CHARS:
                break
            found.append(candidate)
            if len(found) >= MAX_FOLLOWING * 8:
                break
        return found

    by_chunk = {hit.chunk_id: hit for hit in hits}

    def passage_of(sentence: Sentence) -> Hit:
        chunk_ids = store.chunks_holding(sentence)
        known = next((by_chunk[c] for c in chunk_ids if c in by_chunk), None)
        if known is not None:
            return known
        (chunk,) = store.chunks(chunk_ids[:1])
        head = store.head(chunk.doc_id)
        return Hit(chunk.chunk_id, chunk.doc_id, head.title, head.date, chunk.text, chunk.start, chunk.end, 0.0)

    return Evidence(
        sentences=tuple(sentences),
        hits=tuple(hits),
        term_weight=store.term_weight,
        tokenizer=store.tokenizer,
        following=following,
        passage_of=passage_of,
        sentences_of=lambda hit: _sentences_of(store, hit),
    )


def _sentences_of(store: Store, hit: Hit) -> list[Sentence]:
    """The sentences of a retrieved passage, in order."""
    return store.sentences_in(Chunk(hit.chunk_id, hit.doc_id, hit.start, hit.end, hit.text))


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
