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
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass

from index.embed import Embedder, SentenceTransformerEmbedder
from index.settings import Settings
from index.store import IndexData, current_build, load_index
from index.types import Sentence
from qa import answer as extractive
from qa import llm
from qa.conflicts import anchor_statements, find_disagreements, report_conflicts, statements_of
from qa.dates import asks_for_latest, prefer_recent
from qa.figures import MARKER, figure_to_json, sentence_spans, uncited_sentences, verify_figures
from qa.query import (
    QuestionInfo,
    analyze,
    asked_number_kind,
    clean_history,
    clean_question,
    is_follow_up,
    previous_questions,
    split_question,
    warm_up,
)
from qa.retrieve import Retriever
from qa.types import Answer, Citation, Conflict, Hit

# Questions about the latest state re-rank this many times the usual candidates by date,
# so a recent document just outside the usual cut can come in.
LATEST_POOL = 2
NOTE_FALLBACK = "大模型回答失败（{reason}），本回答为摘录式回答。"
NOTE_REMOVED_MARKERS = "已删除指向不存在段落的引用标记：{markers}。"
NOTE_UNCITED = "以下内容没有标注来源，无法核对：{sentences}"


@dataclass(frozen=True)
class Draft:
    """An answer before its figures are checked and conflicts reported."""

    text: str
    citations: tuple[Citation, ...]
    snippets: dict[int, str]  # marker → the source text it cites
    answered: bool
    notes: tuple[str, ...] = ()


class QAPipeline:
    """A loaded index and model, answering questions; reloads when a new index is swapped in."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        # The index is checked before the model loads, so a missing index fails at once.
        self.data: IndexData = load_index(settings.index_dir, model_id=settings.embedding_model)
        self.embedder = embedder or SentenceTransformerEmbedder(settings)
        self.retriever = Retriever(self.data, self.embedder)
        self._chat = llm.ChatClient(settings) if llm.llm_enabled(settings) else None
        warm_up()

    def _load(self) -> None:
        self.data = load_index(self.settings.index_dir, model_id=self.settings.embedding_model)
        self.retriever = Retriever(self.data, self.embedder)

    def reload_if_changed(self) -> bool:
        """Load the live index if a build has swapped in a new one since; True if it did."""
        if current_build(self.settings.index_dir) == self.data.build_dir:
            return False
        with self._lock:
            if current_build(self.settings.index_dir) != self.data.build_dir:
                self._load()
                return True
        return False

    def ask(self, question: str, history: Sequence[object] | None = None, top_k: int | None = None) -> Answer:
        """Answer one question.

        Args:
            question: the user's question.
            history: earlier turns (see ``qa.query.previous_questions`` for the shapes accepted).
            top_k: how many passages to retrieve (default: the configured top-k).
        Raises:
            QuestionError: the question is empty, too long or not text.
        """
        answer = None
        for item in self.ask_stream(question, history, top_k):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def ask_stream(
        self, question: str, history: Sequence[object] | None = None, top_k: int | None = None
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
        retriever, data, chat = self.retriever, self.data, self.chat
        failure: str | None = None
        try:
            info, rewritten = self._understand(text, history)
        except llm.LLMError as exc:
            failure = str(exc)
            info, rewritten = analyze(text, history)
        query_vector = self.embedder.embed_query(info.text)
        wanted = max(k, extractive.PASSAGES_FOR_ANSWER)
        if asks_for_latest(info.text):
            hits = prefer_recent(retriever.search(info.text, wanted * LATEST_POOL, query_vector))[:wanted]
        else:
            hits = retriever.search(info.text, wanted, query_vector)
        retrieved = time.perf_counter()
        draft: Draft | None = None
        notes: list[str] = []
        streamed = False  # pieces were shown: the final Answer replaces them, nothing is streamed twice
        if chat is not None and failure is None:
            generation = self._generate(chat, info.text, hits, data)
            try:
                while True:
                    piece = next(generation)
                    streamed = True
                    yield piece
            except StopIteration as finished:
                draft = finished.value
            except llm.LLMError as exc:
                failure = str(exc)
            finally:
                generation.close()  # a reader that stops early closes the connection too
        if failure is not None:
            notes.append(NOTE_FALLBACK.format(reason=failure))
        if draft is None:
            draft = self._extract(info, hits, data, query_vector)
        answer_text, citations, figures, conflicts = draft.text, draft.citations, (), ()
        if draft.answered:
            figures = verify_figures(draft.text, draft.snippets)
            sentences = _passage_sentences(hits, data)
            disagreements = find_disagreements(
                anchor_statements(citations, figures, sentences), statements_of(sentences)
            )
            answer_text, citations, conflicts = report_conflicts(draft.text, citations, disagreements)
        notes.extend(draft.notes)
        done = time.perf_counter()
        if not streamed:
            for start, end in sentence_spans(answer_text):
                yield answer_text[start:end]
        yield Answer(
            question=text,
            answered=draft.answered,
            text=answer_text,
            citations=citations,
            passages=tuple(hits[:k]),
            timings_ms={
                "retrieve": round((retrieved - started) * 1000, 2),
                "answer": round((done - retrieved) * 1000, 2),
                "total": round((done - started) * 1000, 2),
            },
            rewritten_question=rewritten,
            figures=figures,
            conflicts=conflicts,
            notes=tuple(notes),
        )

    @property
    def chat(self) -> llm.ChatClient | None:
        """The LLM endpoint's client when answers are generated, else None."""
        return self._chat

    def _understand(self, question: str, history: Sequence[object] | None) -> tuple[QuestionInfo, str | None]:
        """The question as retrieval should see it; follow-ups rewritten by the LLM when there is one."""
        if self._chat is not None and is_follow_up(question):
            previous = previous_questions(history)
            if previous:
                rewritten = llm.rewrite_follow_up(self._chat, question, previous)
                if rewritten:
                    return QuestionInfo(rewritten, asked_number_kind(rewritten), split_question(rewritten)), rewritten
        return analyze(question, history)

    def _extract(self, info: QuestionInfo, hits: list[Hit], data: IndexData, query_vector) -> Draft:
        term_weight, method = data.lexical.term_weight, data.lexical.method
        candidates = extractive.candidate_sentences(hits, data, query_vector)
        extract = extractive.select_sentences(info, candidates, term_weight, method, data)
        if not extract.answerable:
            return Draft(self.settings.refusal_text, (), {}, False)
        answer_text, citations = extractive.compose(info, extract, data, term_weight, method)
        return Draft(answer_text, citations, {c.marker: c.text for c in citations}, True)

    def _generate(
        self, chat: llm.ChatClient, question: str, hits: list[Hit], data: IndexData
    ) -> Generator[str, None, Draft]:
        """Stream a generated answer's tokens; return it tied to its sources.

        Raises:
            LLMError: the endpoint failed, or the reply cites nothing (the format was not followed).
        """
        given = hits[: llm.PASSAGES_FOR_LLM]
        pieces: list[str] = []
        for piece in llm.visible_pieces(chat.stream(llm.build_messages(question, given, self.settings.refusal_text))):
            pieces.append(piece)
            yield piece
        reply = llm.strip_thinking("".join(pieces))
        if not reply:
            raise llm.LLMError("大模型没有给出回答")
        if llm.is_refusal(reply, self.settings.refusal_text):
            return Draft(self.settings.refusal_text, (), {}, False)
        repaired = llm.repair_markers(reply, len(given))
        if not MARKER.search(repaired.text):
            raise llm.LLMError("大模型的回答没有标注引用来源")
        grounded = llm.ground(repaired.text, given, [data.sentences_in(data.chunks[h.chunk_id]) for h in given])
        notes = []
        if repaired.removed:
            notes.append(NOTE_REMOVED_MARKERS.format(markers="、".join(f"[{n}]" for n in repaired.removed)))
        uncited = uncited_sentences(grounded.text)
        if uncited:
            notes.append(NOTE_UNCITED.format(sentences="；".join(f"「{s}」" for s in uncited)))
        return Draft(grounded.text, grounded.citations, grounded.snippets, True, tuple(notes))


def _passage_sentences(hits: Sequence[Hit], data: IndexData) -> list[tuple[Sentence, Hit]]:
    """Each sentence of the retrieved passages once, with the best passage holding it."""
    seen: set[int] = set()
    found = []
    for hit in hits:
        for sentence in data.sentences_in(data.chunks[hit.chunk_id]):
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


def answer_to_json(answer: Answer, question_id: object = None) -> dict:
    """The JSON object of ``policyqa ask --json`` and ``POST /api/ask`` (keys exactly as documented).

    "figures": every figure of the answer, {"text", "value", "unit", "marker", "verified", "reason"};
    "conflicts": figures that documents state differently, {"measure", "values": [{"text", "value",
    "unit", "source", "title", "date", "marker", "sentence", "period"}]};
    "notes": what a reader must know about this answer (an LLM fallback, a removed marker, an
    uncited sentence), the notes the web app shows under it; unverified figures are in "figures".
    """
    return {
        "id": question_id,
        "question": answer.question,
        "answered": answer.answered,
        "answer": answer.text,
        "citations": [
            {
                "marker": c.marker,
                "source": c.doc_id,
                "title": c.title,
                "date": c.date,
                "text": c.text,
                "start": c.start,
                "end": c.end,
            }
            for c in answer.citations
        ],
        "passages": [
            {"source": h.doc_id, "text": h.text, "start": h.start, "end": h.end, "score": h.score}
            for h in answer.passages
        ],
        "timings_ms": dict(answer.timings_ms),
        "figures": [figure_to_json(f) for f in answer.figures],
        "conflicts": [conflict_to_json(c) for c in answer.conflicts],
        "notes": list(answer.notes),
    }


def conflict_to_json(conflict: Conflict) -> dict:
    """The JSON object of one conflict: the measure and each document's value."""
    return {"measure": conflict.measure, "values": [dict(v) for v in conflict.values]}
