"""The answer as JSON, defined once: the shape of ``policyqa ask --json``, ``POST /api/ask``
and the web app's client API, and the schema ``/docs`` shows for it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from qa.types import Answer, Conflict, Figure


class CitationOut(BaseModel):
    marker: int
    source: str = Field(description="文档编号：相对于文档文件夹的路径")
    title: str
    date: str | None
    text: str = Field(description="引用的句子（或其中回答问题的分句）")
    start: int = Field(description="该句在文档清洗后文本中的字符位置")
    end: int
    page: int | None = Field(default=None, description="该句所在页码（PDF 与图片，从 1 起）；没有分页的文档为 null")
    ocr: bool = Field(default=False, description="该页文字由 OCR 从扫描图像识别得到（可能有识别错误）")


class PassageOut(BaseModel):
    source: str
    text: str
    start: int
    end: int
    score: float
    page: int | None = Field(default=None, description="段落开始处的页码（PDF 与图片）；没有分页的文档为 null")
    ocr: bool = Field(default=False, description="该页文字由 OCR 识别得到")


class FigureOut(BaseModel):
    text: str
    value: float = Field(description="规范化的数值：9899万 → 98990000；日期按年月日编码（20131103）")
    unit: str
    marker: int | None
    verified: bool
    reason: str = Field(description="数字未能核实的原因（已核实时为空）")


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
    values: list[ConflictValueOut] = Field(description="各文件的说法，回答自己的说法在前")


class AskResponse(BaseModel):
    """回答，与 ``policyqa ask --json`` 输出的对象相同。"""

    id: Any
    question: str
    answered: bool
    answer: str
    citations: list[CitationOut]
    passages: list[PassageOut]
    timings_ms: dict[str, float] = Field(
        description="耗时（毫秒）：retrieve、answer、total；大模型写回答时另有 "
        "llm_first_token（发出请求到第一个词元，毫秒）和 llm_tokens_per_s（此后每秒生成的词元数）"
    )
    rewritten_question: str | None = Field(
        description="追问改写成的完整问题（「那那曲呢？」→「那曲2020年…是多少？」）；不是追问时为 null"
    )
    confidence: float = Field(description="回答模型认为所引句子回答了问题的概率（0–1）")
    figures: list[FigureOut]
    conflicts: list[ConflictOut]
    notes: list[str] = Field(description="读者需要知道的说明，例如大模型失败后改用摘录式回答")


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
                marker=c.marker,
                source=c.doc_id,
                title=c.title,
                date=c.date,
                text=c.text,
                start=c.start,
                end=c.end,
                page=c.page,
                ocr=c.ocr,
            )
            for c in answer.citations
        ],
        passages=[
            PassageOut(source=h.doc_id, text=h.text, start=h.start, end=h.end, score=h.score, page=h.page, ocr=h.ocr)
            for h in answer.passages
        ],
        timings_ms=dict(answer.timings_ms),
        rewritten_question=answer.rewritten_question,
        confidence=answer.confidence,
        figures=[FigureOut(**figure_to_json(f)) for f in answer.figures],
        conflicts=[ConflictOut(**conflict_to_json(c)) for c in answer.conflicts],
        notes=list(answer.notes),
    ).model_dump()
