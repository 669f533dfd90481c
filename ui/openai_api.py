"""The OpenAI-compatible chat API, so chat front ends (Open WebUI, LobeChat, Chatbox…) can use the app.

    GET  /v1/models            {"object": "list", "data": [{"id": "policyqa", …}]}
    POST /v1/chat/completions  the last user message is the question, earlier messages the history;
                               "stream": false → a chat.completion, true → chat.completion.chunk
                               server-sent events ending with ``data: [DONE]``

The assistant's content is the cited answer followed by its 「来源」 list (``ui.render.plain_text``);
the answer's JSON (``qa.pipeline.answer_to_json``: citations, figures, notes) rides along in the
extra field ``"policyqa"``, which clients ignore. Access control, rate limits and the answer slots
are those of ``/api/*`` (``ui.api.RequestGuard``); errors have OpenAI's shape with a Chinese message.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncGenerator, Generator, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from index.errors import QuestionError
from qa.answer_json import answer_to_json
from qa.pipeline import QAPipeline
from qa.types import Answer
from ui import render
from ui.security import Guards
from ui.stream import answer_stream

MODEL_ID = "policyqa"
# What a streamed answer adds when the checked answer differs from the text streamed so far
# (a generated answer whose markers were repaired, or replaced by the extractive one).
CHECKED_HEADING = "\n\n——（核对后的回答）——\n"
NO_QUESTION = "消息中没有用户的问题：最后一条 user 消息就是要回答的问题。 The messages hold no user question."
UNKNOWN_MODEL = (
    "没有名为“{model}”的模型；本服务只提供 “" + MODEL_ID + "”。 Unknown model {model!r}; use " + MODEL_ID + "."
)
# OpenAI's error "type" for each status the API returns.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ChatMessage(BaseModel):
    """One message; content is a string or OpenAI's list of parts ({"type": "text", "text": …})."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields of OpenAI's chat-completions request that matter here; others are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(default=MODEL_ID, description="模型名：policyqa")
    messages: list[ChatMessage] = Field(description="对话：最后一条 user 消息是问题，之前的消息是上下文")
    stream: bool = Field(default=False, description="true：以 SSE 逐段返回（chat.completion.chunk）")


def openai_error(
    status: int, message: str, headers: Mapping[str, str] | None = None, code: str | None = None
) -> JSONResponse:
    """An error response in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""
    kind = ERROR_TYPES.get(status, "server_error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def message_text(content: str | list[dict[str, Any]] | None) -> str:
    """The text of a message's content (text parts joined; images and other parts left out)."""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content or () if p.get("type") == "text")


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """(the question, the earlier messages as history): the question is the last user message.

    Raises:
        QuestionError: no message is from the user.
    """
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            history = [
                {"role": m.role, "content": message_text(m.content)}
                for m in messages[:i]
                if m.role in ("user", "assistant")
            ]
            return message_text(messages[i].content), history
    raise QuestionError(NO_QUESTION)


def completion(answer: Answer, completion_id: str, created: int) -> dict:
    """A chat.completion object for a finished answer."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": render.plain_text(answer, bullet="- "), "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "policyqa": answer_to_json(answer),
    }


def chunk(completion_id: str, created: int, delta: dict, finish_reason: str | None = None, **extra) -> str:
    """One server-sent event holding a chat.completion.chunk."""
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def stream_events(items: Iterator[str | Answer], completion_id: str, created: int) -> Generator[str, None, None]:
    """The SSE events of a streamed answer: its pieces, then its sources, then the finish and [DONE]."""
    yield chunk(completion_id, created, {"role": "assistant", "content": ""})
    shown = ""
    for item in items:
        if isinstance(item, str):
            shown += item
            yield chunk(completion_id, created, {"content": item})
            continue
        if shown == item.text:
            tail = render.plain_text_tail(item, bullet="- ")
        else:  # nothing shown yet, or a generated text that checking changed: the whole answer
            tail = (CHECKED_HEADING if shown else "") + render.plain_text(item, bullet="- ")
        yield chunk(completion_id, created, {"content": tail})
        yield chunk(completion_id, created, {}, "stop", policyqa=answer_to_json(item))
    yield "data: [DONE]\n\n"


def add_openai_routes(api: FastAPI, pipeline: QAPipeline, guards: Guards) -> None:
    """Mount /v1/models and /v1/chat/completions on the API."""
    created_at = int(time.time())
    errors: dict[int | str, dict[str, Any]] = {
        status: {"description": "OpenAI 格式的错误，message 为中文"} for status in (400, 401, 404, 413, 429, 503)
    }

    @api.get("/v1/models", summary="可用的模型（OpenAI 兼容）", tags=["OpenAI 兼容"])
    def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": created_at, "owned_by": "policyqa"}],
        }

    @api.post(
        "/v1/chat/completions",
        summary="带引用来源的回答（OpenAI chat completions 兼容，支持 stream）",
        tags=["OpenAI 兼容"],
        responses=errors,
        response_model=None,
    )
    def chat_completions(request: ChatRequest):
        if request.model != MODEL_ID:
            return openai_error(404, UNKNOWN_MODEL.format(model=request.model), code="model_not_found")
        question, history = split_messages(request.messages)
        completion_id = "chatcmpl-" + secrets.token_hex(12)
        created = int(time.time())
        if not request.stream:
            with guards.slots.slot():
                answer = pipeline.ask(question, history=history)
            return JSONResponse(completion(answer, completion_id, created))
        slot = guards.slots.slot()
        slot.__enter__()  # released when the stream ends or the client goes away (_released)
        try:
            items = answer_stream(pipeline, question, history)
            first = next(items)  # a bad question fails here, before any byte is sent: a 400, not a broken stream
        except BaseException:
            slot.__exit__(None, None, None)
            raise
        events = stream_events(_prepend(first, items), completion_id, created)
        return _ClosingStream(
            _released(events, slot),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


class _ClosingStream(StreamingResponse):
    """A streamed response that closes its body iterator however it ends.

    When the client goes away mid-stream, Starlette stops iterating but leaves the generator
    to the garbage collector; closing it here frees the answer slot at once (a test checks).
    """

    def __init__(self, content: AsyncGenerator[str, None], **options: Any) -> None:
        super().__init__(content, **options)
        self._events = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._events.aclose()


def _prepend(first: str | Answer, rest: Iterator[str | Answer]) -> Iterator[str | Answer]:
    yield first
    yield from rest


async def _released(
    events: Generator[str, None, None], slot: AbstractContextManager[None]
) -> AsyncGenerator[str, None]:
    """The events, each computed in a worker thread; the answer slot is freed however the stream ends."""
    try:
        while True:
            event = await run_in_threadpool(next, events, None)
            if event is None:
                return
            yield event
    finally:
        try:
            # Shielded: a client that leaves while an event is being computed cancels this body,
            # and any await in a cancelled scope raises at once, which skipped freeing the slot.
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(events.close)  # closes the pipeline's generator (and an LLM connection)
        finally:
            slot.__exit__(None, None, None)
