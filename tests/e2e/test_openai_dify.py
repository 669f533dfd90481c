"""The OpenAI-compatible API with the official `openai` client, and Dify's external knowledge API,
over real HTTP to the real server (with and without access control)."""

from __future__ import annotations

import base64
import time

import httpx
import openai
import pytest

from tests.e2e.conftest import API_TOKEN, READER

pytestmark = pytest.mark.e2e

FIGURE_QUESTION = "中央层面共安排多少个单位定点帮扶贫困县？"
FOLLOW_UP = "军队和武警部队呢？"
FIGURE_TITLE = "坚定不移推进脱贫攻坚"
DIFY_QUERY = {"knowledge_id": "policyqa", "query": "国务院将哪一天确定为扶贫日？"}


def _client(server, key: str = "sk-any-key-front-ends-insist-on") -> openai.OpenAI:
    # The base URL a person types into Open WebUI / LobeChat / Chatbox: the server with /v1.
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_the_openai_client_lists_the_model(app_server):
    models = _client(app_server).models.list()
    assert [m.id for m in models] == ["policyqa"]


def test_a_plain_completion_is_the_cited_answer_with_its_sources(app_server):
    completion = _client(app_server).chat.completions.create(
        model="policyqa",
        messages=[{"role": "system", "content": "你是助手"}, {"role": "user", "content": FIGURE_QUESTION}],
    )
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content
    text, sources = content.split("\n\n来源：\n")
    assert "320" in text and "[1]" in text
    assert sources.startswith(f"- [1] {FIGURE_TITLE}，日期不详：「")
    extra = completion.model_extra["policyqa"]  # the structured answer, which clients ignore
    assert extra["answered"] is True
    assert extra["citations"][0]["title"] == FIGURE_TITLE and extra["citations"][0]["marker"] == 1
    assert {"figures", "notes", "passages"} <= set(extra)


def test_a_streamed_follow_up_uses_the_history(app_server):
    client = _client(app_server)
    first = client.chat.completions.create(model="policyqa", messages=[{"role": "user", "content": FIGURE_QUESTION}])
    messages = [
        {"role": "user", "content": FIGURE_QUESTION},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]},  # the list-of-parts form
    ]
    chunks = list(client.chat.completions.create(model="policyqa", messages=messages, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) >= 2, "the answer did not arrive in pieces"
    text = "".join(c.choices[0].delta.content for c in content_chunks)
    assert "3500" in text and "按上下文理解为" in text and "来源：" in text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["policyqa"]["answered"] is True


def test_the_stream_ends_with_done_and_frees_its_slot_when_the_client_leaves(app_server):
    body = {"model": "policyqa", "messages": [{"role": "user", "content": FIGURE_QUESTION}], "stream": True}
    with httpx.stream("POST", app_server.url + "/v1/chat/completions", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)
    with httpx.stream("POST", app_server.url + "/v1/chat/completions", json=body, timeout=60) as response:
        next(response.iter_lines())  # leave after the first event
    deadline = time.monotonic() + 10
    while httpx.get(app_server.url + "/api/health").json()["answering"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert httpx.get(app_server.url + "/api/health").json()["answering"] == 0


@pytest.mark.parametrize(
    ("messages", "model", "error", "status", "message"),
    [
        ([{"role": "user", "content": "  "}], "policyqa", openai.BadRequestError, 400, "请输入问题"),
        ([{"role": "system", "content": "只有系统消息"}], "policyqa", openai.BadRequestError, 400, "没有用户的问题"),
        ([{"role": "user", "content": "问" * 600}], "policyqa", openai.BadRequestError, 400, "问题太长"),
        ([{"role": "user", "content": "扶贫日？"}], "gpt-4o", openai.NotFoundError, 404, "本服务只提供 “policyqa”"),
    ],
    ids=["blank", "no user message", "too long", "unknown model"],
)
def test_errors_are_openai_shaped_with_a_chinese_message(app_server, messages, model, error, status, message):
    with pytest.raises(error) as raised:
        _client(app_server).chat.completions.create(model=model, messages=messages)
    assert raised.value.status_code == status
    body = raised.value.response.json()["error"]
    assert message in body["message"] and body["type"] == "invalid_request_error"
    streamed = httpx.post(
        app_server.url + "/v1/chat/completions", json={"model": model, "messages": messages, "stream": True}
    )
    assert streamed.status_code == status and message in streamed.json()["error"]["message"]


def test_a_malformed_request_is_an_openai_shaped_422(app_server):
    response = httpx.post(app_server.url + "/v1/chat/completions", json={"model": "policyqa", "messages": "hi"})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("请求格式不对")


def test_with_access_control_the_api_token_or_a_user_is_required(auth_server):
    with pytest.raises(openai.AuthenticationError) as refused:
        _client(auth_server, key="sk-wrong").models.list()
    assert "需要身份验证" in refused.value.response.json()["error"]["message"]
    client = _client(auth_server, key=API_TOKEN)
    assert [m.id for m in client.models.list()] == ["policyqa"]
    answer = client.chat.completions.create(model="policyqa", messages=[{"role": "user", "content": FIGURE_QUESTION}])
    assert "320" in answer.choices[0].message.content
    basic = "Basic " + base64.b64encode(f"{READER[0]}:{READER[1]}".encode()).decode()
    assert httpx.get(auth_server.url + "/v1/models", headers={"Authorization": basic}).status_code == 200


def test_dify_retrieval_returns_records_with_scores_and_object_metadata(app_server, pipeline):
    headers = {"Authorization": "Bearer dify-key"}
    body = {**DIFY_QUERY, "retrieval_setting": {"top_k": 4, "score_threshold": 0.0}}
    records = httpx.post(app_server.url + "/api/dify/retrieval", json=body, headers=headers, timeout=60).json()[
        "records"
    ]
    assert len(records) == 4
    assert "10月17日" in records[0]["content"]
    assert all(0.0 <= r["score"] <= 1.0 for r in records)
    assert [r["score"] for r in records] == sorted((r["score"] for r in records), reverse=True)
    assert all(isinstance(r["metadata"], dict) and r["title"] and r["content"] for r in records)
    # The same passages the pipeline retrieves in-process, in the same order.
    expected = pipeline.ask(DIFY_QUERY["query"], top_k=4).passages
    assert [(r["metadata"]["source"], r["metadata"]["start"]) for r in records] == [
        (h.doc_id, h.start) for h in expected
    ]
    # The threshold leaves out what scores below it.
    cut = records[1]["score"] + 1e-4
    body["retrieval_setting"]["score_threshold"] = cut
    kept = httpx.post(app_server.url + "/api/dify/retrieval", json=body, headers=headers, timeout=60).json()["records"]
    assert kept and all(r["score"] >= cut for r in kept) and len(kept) < 4


@pytest.mark.parametrize(
    ("headers", "knowledge_id", "status", "code"),
    [
        ({}, "policyqa", 403, 1001),
        ({"Authorization": "Token abc"}, "policyqa", 403, 1001),
        ({"Authorization": "Bearer any"}, "another-kb", 404, 2001),
    ],
    ids=["no header", "not bearer", "unknown knowledge base"],
)
def test_dify_errors_use_difys_codes(app_server, headers, knowledge_id, status, code):
    body = {**DIFY_QUERY, "knowledge_id": knowledge_id, "retrieval_setting": {"top_k": 2, "score_threshold": 0}}
    response = httpx.post(app_server.url + "/api/dify/retrieval", json=body, headers=headers, timeout=60)
    assert response.status_code == status
    assert response.json()["error_code"] == code and response.json()["error_msg"]


def test_dify_with_access_control_needs_the_api_token(auth_server):
    body = {**DIFY_QUERY, "retrieval_setting": {"top_k": 2, "score_threshold": 0}}
    url = auth_server.url + "/api/dify/retrieval"
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer wrong"}, timeout=60)
    assert wrong.status_code == 403 and wrong.json()["error_code"] == 1002
    right = httpx.post(url, json=body, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=60)
    assert right.status_code == 200 and len(right.json()["records"]) == 2


def test_the_chat_and_dify_apis_share_the_rate_limit_of_api_ask(auth_server):
    # A client address of its own (uvicorn trusts X-Forwarded-For from loopback), as in test_access.
    from tests.e2e.conftest import AUTH_RATE_LIMIT_PER_MINUTE, burst

    client = {"X-Forwarded-For": "10.11.12.30", "Authorization": f"Bearer {API_TOKEN}"}
    blank = {"model": "policyqa", "messages": [{"role": "user", "content": ""}]}
    statuses = burst(auth_server.url + "/v1/chat/completions", AUTH_RATE_LIMIT_PER_MINUTE, json=blank, headers=client)
    assert statuses == [400] * AUTH_RATE_LIMIT_PER_MINUTE
    limited = httpx.post(auth_server.url + "/v1/chat/completions", json=blank, headers=client)
    assert limited.status_code == 429 and limited.json()["error"]["message"].startswith("提问太频繁")
    assert int(limited.headers["retry-after"]) >= 1
    body = {**DIFY_QUERY, "retrieval_setting": {"top_k": 2, "score_threshold": 0}}
    dify = httpx.post(auth_server.url + "/api/dify/retrieval", json=body, headers=client)
    assert dify.status_code == 429 and dify.json()["error_msg"].startswith("提问太频繁")
