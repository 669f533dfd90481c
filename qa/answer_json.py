"""The answer as JSON, defined once: the shape of ``policyqa ask --json``, ``POST /api/ask``
and the web app's client API, and the schema ``/docs`` shows for it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from qa.types import Answer, Conflict, Figure


class CitationOut(BaseModel):
    marker: int
    source: str = Field(description="the document id: its path relative to the corpus folder")
    title: str
    date: str | None
    text: str = Field(description="the cited sentence (or the clauses of it that answer)")
    start: int = Field(description="character offset of the sentence in the document's cleaned text")
    end: int


class PassageOut(BaseModel):
    source: str
    text: str
    start: int
    end: int
    score: float


class FigureOut(BaseModel):
    text: str
    value: float = Field(description="normalized: 9899万 → 98990000; a date encodes its parts (20131103)")
    unit: str
    marker: int | None
    verified: bool
    reason: str = Field(description="why the figure is not verified (empty when it is)")


class ConflictValueOut(BaseModel):
    text: str
    value: float
    unit: str
    source: str
    title: str
    date: str | None
    marker: int | None
    sentence: str
    period: list[str]


class ConflictOut(BaseModel):
    measure: str
    values: list[ConflictValueOut] = Field(description="each document's value, the answer's own first")


class AskResponse(BaseModel):
    """The answer, as ``policyqa ask --json`` prints it."""

    id: Any
    question: str
    answered: bool
    answer: str
    citations: list[CitationOut]
    passages: list[PassageOut]
    timings_ms: dict[str, float]
    rewritten_question: str | None = Field(
        description="a follow-up as it was understood (「那那曲呢？」 → 「那曲2020年…是多少？」); null otherwise"
    )
    confidence: float = Field(description="the answer model's probability that the quoted sentence answers (0–1)")
    figures: list[FigureOut]
    conflicts: list[ConflictOut]
    notes: list[str] = Field(description="what a reader must know about this answer, e.g. an LLM fallback")


def figure_to_json(figure: Figure) -> dict:
    """The JSON object of one figure (``answer_to_json``'s "figures" items)."""
    return FigureOut(
        text=figure.text,
        value=figure.value,
        unit=figure.unit,
        marker=figure.marker,
        verified=figure.verified,
        reason=figure.reason,
    ).model_dump()


def conflict_to_json(conflict: Conflict) -> dict:
    """The JSON object of one conflict: the measure and each document's value."""
    return ConflictOut(measure=conflict.measure, values=[ConflictValueOut(**v) for v in conflict.values]).model_dump()


def answer_to_json(answer: Answer, question_id: object = None) -> dict:
    """The JSON object of ``policyqa ask --json`` and ``POST /api/ask`` (keys exactly as documented)."""
    return AskResponse(
        id=question_id,
        question=answer.question,
        answered=answer.answered,
        answer=answer.text,
        citations=[
            CitationOut(
                marker=c.marker, source=c.doc_id, title=c.title, date=c.date, text=c.text, start=c.start, end=c.end
            )
            for c in answer.citations
        ],
        passages=[
            PassageOut(source=h.doc_id, text=h.text, start=h.start, end=h.end, score=h.score) for h in answer.passages
        ],
        timings_ms=dict(answer.timings_ms),
        rewritten_question=answer.rewritten_question,
        confidence=answer.confidence,
        figures=[FigureOut(**figure_to_json(f)) for f in answer.figures],
        conflicts=[ConflictOut(**conflict_to_json(c)) for c in answer.conflicts],
        notes=list(answer.notes),
    ).model_dump()
