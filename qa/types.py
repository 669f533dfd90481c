"""The records that travel between the answering stages and out to the CLI, API and UI."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score, best first in a result list."""

    chunk_id: int
    doc_id: str
    title: str
    date: str | None
    text: str
    start: int
    end: int
    score: float
    dense_score: float = 0.0
    lexical_score: float = 0.0
    page: int | None = None  # the page it starts on, for PDFs and pictures (qa.pages)
    ocr: bool = False  # that page's text was recognized from its image


@dataclass(frozen=True)
class Citation:
    """What an answer's marker [n] points at: one sentence inside its passage."""

    marker: int
    doc_id: str
    title: str
    date: str | None
    text: str  # the cited sentence
    start: int  # offsets of the sentence in the document's cleaned text
    end: int
    passage: str  # the surrounding chunk
    passage_start: int
    passage_end: int
    page: int | None = None  # the page the sentence starts on, for PDFs and pictures (qa.pages)
    ocr: bool = False  # that page's text was recognized from its image


@dataclass(frozen=True)
class Figure:
    """A number in an answer and whether the snippet its marker cites states it too (qa.figures)."""

    text: str  # as written in the answer, e.g. "6601亿元"
    value: float  # normalized (qa.numbers): 660100000000.0; a date encodes its parts (20131103)
    unit: str  # "元", "%", "年", "年月日", … ("" when none)
    marker: int | None  # the marker whose snippet states it, else the first citing it; None: uncited
    verified: bool
    reason: str = ""  # why it is not verified (Chinese, for the tooltip); "" when verified


@dataclass(frozen=True)
class Conflict:
    """Documents that state different values for the same measure, period and place (qa.conflicts)."""

    measure: str  # the anchor's clause with its figure cut out, e.g. "全国累计选派…驻村工作队"
    # each {"text", "value", "unit", "source", "title", "date", "marker", "sentence", "period"};
    # the answer's own value first, every value cited by its "marker"
    values: tuple[dict, ...]


@dataclass(frozen=True)
class Answer:
    """The reply to one question."""

    question: str
    answered: bool
    text: str  # the answer with its [n] markers
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]  # the top-k retrieved chunks, best first
    timings_ms: dict[str, float]
    rewritten_question: str | None = None
    figures: tuple[Figure, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    notes: tuple[str, ...] = field(default=())  # e.g. "LLM unavailable, extractive answer shown"
    confidence: float = 0.0  # the answer model's probability that the best sentence answers
