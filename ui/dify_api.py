"""Dify's external knowledge API: Dify retrieves passages from this app's knowledge base.

    POST /api/dify/retrieval   {"knowledge_id", "query", "retrieval_setting": {"top_k", "score_threshold"}}
                               → {"records": [{"content", "score", "title", "metadata"}]}

Register ``http://SERVER:7860/api/dify`` as the endpoint (Dify appends ``/retrieval``) and
``policyqa`` as the knowledge id. Dify always sends ``Authorization: Bearer <API key>``: without
access control any key is accepted, with it the key must be ``POLICYQA_API_TOKEN``. Errors use
Dify's codes: 1001 malformed Authorization header, 1002 authorization failed, 2001 unknown
knowledge base. Scores are the retriever's fused scores scaled to [0, 1] (``relevance``);
metadata is always an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from qa.fuse import RRF_K
from qa.pipeline import QAPipeline
from qa.retrieve import FusionConfig
from ui.security import Guards

KNOWLEDGE_ID = "policyqa"
# Dify's suggested error codes (its external knowledge API documentation).
BAD_HEADER, AUTH_FAILED, NO_SUCH_KNOWLEDGE = 1001, 1002, 2001
BAD_HEADER_MESSAGE = (
    "Authorization 头格式不对，应为 “Bearer <API Key>”。 "
    "Invalid Authorization header format; expected 'Bearer <api-key>'."
)
AUTH_FAILED_MESSAGE = "API Key 不正确。 Authorization failed."
NO_SUCH_KNOWLEDGE_MESSAGE = (
    "知识库“{kid}”不存在；本服务的知识库 ID 是 “" + KNOWLEDGE_ID + "”。 The knowledge does not exist."
)
# Dify asks for at most this many records (its top-k slider stops at 10; the pipeline allows 100).
MAX_TOP_K = 100


class RetrievalSetting(BaseModel):
    model_config = ConfigDict(extra="allow")
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, description="最多返回几条")
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0, description="最低分数（0–1）；0 表示不过滤")


class RetrievalRequest(BaseModel):
    """Dify's retrieval request (metadata_condition is accepted and ignored: Dify offers no UI for it)."""

    model_config = ConfigDict(extra="allow")
    knowledge_id: str = Field(description="知识库 ID：policyqa")
    query: str = Field(description="检索的问题或关键词")
    retrieval_setting: RetrievalSetting = Field(default_factory=RetrievalSetting)


def dify_error(status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error in Dify's shape: {"error_code", "error_msg"}."""
    return JSONResponse({"error_code": code, "error_msg": message}, status_code=status, headers=headers)


def relevance(score: float, fusion: FusionConfig) -> float:
    """A fused retrieval score scaled to [0, 1] by the largest score the fusion can give.

    Weighted fusion sums min-max normalized scores times their weights (``qa.fuse.weighted``),
    so the best possible chunk scores the sum of the weights; RRF gives at most each weight
    over ``RRF_K + 1``; a single retriever's score (a cosine) is clipped.
    """
    weights = [w for w in (fusion.dense_weight, fusion.lexical_weight, fusion.sentence_weight) if w]
    if fusion.method == "weighted" and weights:
        top = sum(weights)
    elif fusion.method == "rrf" and weights:
        top = sum(weights) / (RRF_K + 1)
    else:
        top = 1.0
    return round(min(1.0, max(0.0, score / top)), 4)


def records(pipeline: QAPipeline, query: str, top_k: int, threshold: float) -> list[dict[str, Any]]:
    """The best passages for the query as Dify records, those scoring below the threshold left out."""
    answer = pipeline.ask(query, top_k=top_k)
    fusion = pipeline.retriever.fusion
    found = []
    for hit in answer.passages:
        score = relevance(hit.score, fusion)
        if score < threshold:
            continue
        metadata = {"source": hit.doc_id, "date": hit.date or "", "start": hit.start, "end": hit.end}
        if hit.page is not None:  # a PDF or picture: the page, and whether OCR read it
            metadata |= {"page": hit.page, "ocr": hit.ocr}
        found.append({"content": hit.text, "score": score, "title": hit.title, "metadata": metadata})
    return found


def add_dify_routes(api: FastAPI, pipeline: QAPipeline, guards: Guards) -> None:
    """Mount POST /api/dify/retrieval (the bearer key is checked by ``ui.api.RequestGuard``)."""

    @api.post(
        "/api/dify/retrieval",
        summary="Dify 外部知识库检索接口：返回最相关的段落",
        tags=["Dify 外部知识库"],
        responses={status: {"description": "Dify 格式的错误：error_code、error_msg"} for status in (403, 404, 429)},
        response_model=None,
    )
    def retrieval(request: RetrievalRequest):
        if request.knowledge_id != KNOWLEDGE_ID:
            return dify_error(404, NO_SUCH_KNOWLEDGE, NO_SUCH_KNOWLEDGE_MESSAGE.format(kid=request.knowledge_id))
        setting = request.retrieval_setting
        with guards.slots.slot():
            found = records(pipeline, request.query, setting.top_k, setting.score_threshold)
        return {"records": found}
