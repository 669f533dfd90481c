"""One question in, one cited answer out: the entry point of every edge (CLI, API, UI).

    question → validate → rewrite follow-up → embed once → retrieve (dense + BM25, fused)
             → score sentences → answer or decline → citations → JSON
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from index.embed import Embedder, SentenceTransformerEmbedder
from index.settings import Settings
from index.store import IndexData, current_build, load_index
from qa import answer as extractive
from qa.query import analyze, clean_question
from qa.retrieve import Retriever
from qa.types import Answer


class QAPipeline:
    """A loaded index and model, answering questions; reloads when a new index is swapped in."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        # The index is checked before the model loads, so a missing index fails at once.
        self.data: IndexData = load_index(settings.index_dir, model_id=settings.embedding_model)
        self.embedder = embedder or SentenceTransformerEmbedder(settings)
        self.retriever = Retriever(self.data, self.embedder)

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
        started = time.perf_counter()
        text = clean_question(question, self.settings.max_question_chars)
        k = _checked_top_k(top_k if top_k is not None else self.settings.top_k)
        self.reload_if_changed()
        retriever, data = self.retriever, self.data
        info, rewritten = analyze(text, history)
        query_vector = self.embedder.embed_query(info.text)
        hits = retriever.search(info.text, max(k, extractive.PASSAGES_FOR_ANSWER), query_vector)
        retrieved = time.perf_counter()
        idf, method = data.lexical.idf, data.lexical.method
        candidates = extractive.candidate_sentences(hits, data, query_vector)
        extract = extractive.select_sentences(info, candidates, idf, method, data)
        if extract.answerable:
            answer_text, citations = extractive.compose(info, extract, data, idf, method)
            answered = True
        else:
            answer_text, citations, answered = self.settings.refusal_text, (), False
        done = time.perf_counter()
        return Answer(
            question=text,
            answered=answered,
            text=answer_text,
            citations=citations,
            passages=tuple(hits[:k]),
            timings_ms={
                "retrieve": round((retrieved - started) * 1000, 2),
                "answer": round((done - retrieved) * 1000, 2),
                "total": round((done - started) * 1000, 2),
            },
            rewritten_question=rewritten,
        )


MAX_TOP_K = 100


def _checked_top_k(top_k: int) -> int:
    from index.errors import QuestionError

    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise QuestionError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, not {top_k!r}")
    return top_k


def answer_to_json(answer: Answer, question_id: object = None) -> dict:
    """The JSON object of ``policyqa ask --json`` and ``POST /api/ask`` (keys exactly as documented)."""
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
    }
