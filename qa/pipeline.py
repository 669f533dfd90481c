"""One question in, one cited answer out: the entry point of every edge (CLI, API, UI).

    question → validate → rewrite follow-up → embed once → retrieve (dense + BM25, fused)
             → prefer recent documents (最新/目前 questions) → score sentences
             → answer or decline (extractive, or generated when an LLM endpoint is configured)
             → citations → check every figure → report documents that disagree → JSON

``ask`` returns the Answer; ``ask_stream`` yields the text as it is produced, then the Answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np

from index.embed import Embedder, SentenceTransformerEmbedder
from index.settings import Settings
from index.stores import Store, open_store
from index.types import Sentence
from qa import llm
from qa.answering import Draft
from qa.conflicts import anchor_statements, find_disagreements, report_conflicts, statements_of
from qa.dates import asks_for_latest, prefer_recent
from qa.evidence import Evidence, gather_evidence
from qa.extractive import PASSAGES_FOR_ANSWER, ExtractiveAnswerer
from qa.features import asks_of_nothing_known
from qa.figures import verify_figures
from qa.followup import is_follow_up
from qa.model import AnswerModel, load_model
from qa.pages import locate_citations, locate_hits
from qa.query import (
    QuestionInfo,
    analyze,
    asked_number_kind,
    clean_history,
    clean_question,
    previous_questions,
    split_question,
    warm_up,
)
from qa.retrieve import Retriever
from qa.scope import unknown_places
from qa.text import answer_sentences
from qa.types import Answer, Citation, Conflict, Figure, Hit

# Questions about the latest state re-rank this many times the usual candidates by date,
# so a recent document just outside the usual cut can come in.
LATEST_POOL = 2
NOTE_FALLBACK = "大模型回答失败（{reason}），本回答为摘录式回答。"


class QAPipeline:
    """An open store (index.stores) and model, answering questions; follows a new index when one is swapped in."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, model: AnswerModel | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        # The index is checked before the model loads, so a missing index fails at once.
        self.store: Store = open_store(settings)
        self.embedder = embedder or SentenceTransformerEmbedder(settings)
        self.retriever = Retriever(self.store, self.embedder)
        self._chat = llm.ChatClient(settings) if llm.llm_enabled(settings) else None
        self.extractive = ExtractiveAnswerer(model or load_model(), settings.refusal_text)
        warm_up()

    def reload_if_changed(self) -> bool:
        """Open the live index if a build has made a new one live since; True if it did."""
        if not self.store.is_stale():
            return False
        with self._lock:
            if self.store.is_stale():
                self.store = open_store(self.settings)
                self.retriever = Retriever(self.store, self.embedder)
                return True
        return False

    def ask(
        self,
        question: str,
        history: Sequence[object] | None = None,
        top_k: int | None = None,
        generate: bool = True,
    ) -> Answer:
        """Answer one question.

        Args:
            question: the user's question.
            history: earlier turns (see ``qa.query.previous_questions`` for the shapes accepted).
            top_k: how many passages to retrieve (default: the configured top-k).
            generate: False to answer without the LLM even when one is configured (the app's
                example questions are checked that way: one model call each would hold up start-up).
        Raises:
            QuestionError: the question is empty, too long or not text.
        """
        answer = None
        for item in self.ask_stream(question, history, top_k, generate):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def ask_stream(
        self,
        question: str,
        history: Sequence[object] | None = None,
        top_k: int | None = None,
        generate: bool = True,
    ) -> Iterator[str | Answer]:
        """Answer one question piece by piece: text pieces as they are produced, then the Answer.

        The final Answer is authoritative: show its ``text`` once it arrives. A generated
        answer streams the model's raw tokens, which the Answer replaces by the checked
        text (markers repaired and renumbered); if generation fails midway the Answer is
        the extractive one and ``Answer.notes`` says why (its sentences are streamed only
        if nothing was shown before). Extractive answers stream their sentences, which
        join to exactly ``Answer.text``.

        Args and errors as ``ask`` (a QuestionError is raised by the first ``next``).
        """
        started = time.perf_counter()
        text = clean_question(question, self.settings.max_question_chars)
        history = clean_history(history, self.settings.max_question_chars)
        k = _checked_top_k(top_k if top_k is not None else self.settings.top_k)
        self.reload_if_changed()
        chat = self.chat if generate else None
        failure: str | None = None
        failure_notes: tuple[str, ...] = ()
        llm_timings: dict[str, float] = {}  # the model's speed, also when its reply was not used
        try:
            info, rewritten = self._understand(text, history, chat)
        except llm.LLMError as exc:
            failure = str(exc)
            info, rewritten = analyze(text, history)
        document = self.retriever.store.document  # the index this question is answered from
        hits, evidence, part_vectors = self.gather(info, k)
        retrieved = time.perf_counter()
        draft: Draft | None = None
        notes: list[str] = []
        streamed = False  # pieces were shown: the final Answer replaces them, nothing is streamed twice
        if chat is not None and failure is None:
            generation = llm.GeneratedAnswerer(chat, self.settings.refusal_text).stream(info, evidence, part_vectors)
            try:
                while True:
                    piece = next(generation)
                    streamed = True
                    yield piece
            except StopIteration as finished:
                draft = finished.value
            except llm.LLMError as exc:
                failure, failure_notes, llm_timings = str(exc), exc.notes, exc.timings_ms
            finally:
                generation.close()  # a reader that stops early closes the connection too
        if failure is not None:
            notes.append(NOTE_FALLBACK.format(reason=failure))
            notes.extend(failure_notes)
        if draft is None:
            draft = self._extract(info, evidence, part_vectors)
        answer_text, citations = draft.text, draft.citations
        figures: tuple[Figure, ...] = ()
        conflicts: tuple[Conflict, ...] = ()
        if draft.answered:
            figures = verify_figures(draft.text, draft.snippets)
            sentences = _passage_sentences(hits, evidence)
            disagreements = find_disagreements(
                anchor_statements(citations, figures, sentences), statements_of(sentences)
            )
            answer_text, citations, conflicts = report_conflicts(draft.text, citations, disagreements)
        notes.extend(draft.notes)
        done = time.perf_counter()
        if not streamed:
            for start, end in answer_sentences(answer_text):
                yield answer_text[start:end]
        yield Answer(
            question=text,
            answered=draft.answered,
            text=answer_text,
            citations=locate_citations(citations, document),
            passages=tuple(locate_hits(cited_first(hits, citations)[:k], document)),
            timings_ms={
                "retrieve": round((retrieved - started) * 1000, 2),
                "answer": round((done - retrieved) * 1000, 2),
                "total": round((done - started) * 1000, 2),
                **llm_timings,
                **draft.timings_ms,
            },
            rewritten_question=rewritten,
            figures=figures,
            conflicts=conflicts,
            notes=tuple(notes),
            confidence=round(draft.confidence, 4),
        )

    def gather(self, info: QuestionInfo, k: int) -> tuple[list[Hit], Evidence, list[np.ndarray]]:
        """The passages, the evidence view and each part's query vector for an analysed question
        (also what ``bench.train_answerer`` fits the answer model on)."""
        retriever = self.retriever  # one index for the whole question, even if a build swaps in another
        hits, part_vectors = self._retrieve(info, max(k, PASSAGES_FOR_ANSWER), retriever)
        passages = PASSAGES_FOR_ANSWER * len(part_vectors)
        evidence = gather_evidence(hits, retriever.store, passages, question_texts(info))
        return hits, evidence, part_vectors

    def _retrieve(self, info: QuestionInfo, wanted: int, retriever: Retriever) -> tuple[list[Hit], list[np.ndarray]]:
        """The passages for a question and each part's query vector.

        A question of several parts (「昌都和那曲各脱贫了多少人？」) is searched part by part, the
        results taken in turn, so that each fact finds its own passage.
        """
        parts = info.parts[: ExtractiveAnswerer.max_parts]
        if len(parts) <= 1:
            expansions = tuple(term for part in parts for term in part.expansions)
            queries = [(info.text, " ".join((info.text, *expansions)), any(part.wants for part in parts))]
        else:
            queries = [(part.text, part.search_text, bool(part.wants)) for part in parts]
        vectors = [self.embedder.embed_query(text) for text, _, _ in queries]
        results = []
        for (text, search_text, wants_figure), vector in zip(queries, vectors):
            # The latest figure is the most recent document's (cumulative figures grow); what a
            # policy says 「现在」 is not — a 2018 speech says what to guard against now.
            if wants_figure and asks_for_latest(text):
                found = prefer_recent(retriever.search(search_text, wanted * LATEST_POOL, vector))[:wanted]
            else:
                found = retriever.search(search_text, wanted, vector)
            results.append(found)
        return interleave(results), vectors

    @property
    def chat(self) -> llm.ChatClient | None:
        """The LLM endpoint's client when answers are generated, else None."""
        return self._chat

    def _understand(
        self, question: str, history: Sequence[object] | None, chat: llm.ChatClient | None
    ) -> tuple[QuestionInfo, str | None]:
        """The question as retrieval should see it; follow-ups rewritten by the LLM when there is one."""
        if chat is not None and is_follow_up(question):
            previous = previous_questions(history)
            if previous:
                rewritten = llm.rewrite_follow_up(chat, question, previous)
                if rewritten:
                    return QuestionInfo(rewritten, asked_number_kind(rewritten), split_question(rewritten)), rewritten
        return analyze(question, history)

    def _extract(self, info: QuestionInfo, evidence: Evidence, part_vectors: list[np.ndarray]) -> Draft:
        places = [p for part in info.parts for p in part.places]
        if unknown_places(places, evidence.term_weight, evidence.tokenizer):
            # No document names the place asked about, so no figure of theirs is its figure.
            return Draft(self.settings.refusal_text, (), {}, False)
        if asks_of_nothing_known(info.text, places, evidence.term_weight, evidence.tokenizer):
            # The question is about something no document speaks of (the weather in 拉萨).
            return Draft(self.settings.refusal_text, (), {}, False)
        return self.extractive.answer(info, evidence, part_vectors)


def question_texts(info: QuestionInfo) -> list[str]:
    """The texts of a question whose words the answer strategies weigh (the question, each part,
    what it searches for, counts and names), for ``gather_evidence`` to fetch their weights at once."""
    texts = [info.text]
    for part in info.parts:
        texts.extend((part.text, part.search_text, *part.focus, *part.places))
    return texts


def interleave(results: Sequence[Sequence[Hit]]) -> list[Hit]:
    """Hits of several searches taken in turn (best of each, then second of each…), each chunk once."""
    merged: dict[int, Hit] = {}
    for rank in range(max((len(r) for r in results), default=0)):
        for found in results:
            if rank < len(found):
                merged.setdefault(found[rank].chunk_id, found[rank])
    return list(merged.values())


def cited_first(hits: Sequence[Hit], citations: Sequence[Citation]) -> list[Hit]:
    """The hits with those holding a cited sentence first, in citation order: the passage an
    answer quotes is the best source to show for it."""
    first: list[Hit] = []
    for citation in citations:
        holder = next(
            (h for h in hits if h.doc_id == citation.doc_id and h.start <= citation.start < h.end and h not in first),
            None,
        )
        if holder is not None:
            first.append(holder)
    return [*first, *(h for h in hits if h not in first)]


def _passage_sentences(hits: Sequence[Hit], evidence: Evidence) -> list[tuple[Sentence, Hit]]:
    """Each sentence of the retrieved passages once, with the best passage holding it."""
    seen: set[int] = set()
    found = []
    for hit in hits:
        for sentence in evidence.sentences_of(hit):
            if sentence.sentence_id not in seen:
                seen.add(sentence.sentence_id)
                found.append((sentence, hit))
    return found


MAX_TOP_K = 100


def _checked_top_k(top_k: int) -> int:
    from index.errors import QuestionError

    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise QuestionError(
            f"top_k 须为 1 到 {MAX_TOP_K} 的整数。 top_k must be a whole number from 1 to {MAX_TOP_K}, not {top_k!r}"
        )
    return top_k
