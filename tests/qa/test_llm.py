"""Generated answers through a fake OpenAI-compatible endpoint: a real HTTP server on 127.0.0.1.

The server answers with scripted replies (streamed as server-sent events, or as one JSON
object): a correct cited answer, a wrong figure, a marker to a passage that was not given,
no markers, an HTTP 500 and a hang. Retrieval, the index and the model are the real ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from index.errors import ConfigError
from index.settings import Settings
from qa import llm
from qa.answer_json import answer_to_json
from qa.pipeline import QAPipeline
from qa.types import Answer, Hit
from tests.conftest import REPO
from tests.fake_llm import FakeChat, Reply, answering, passage_with, passages_of

QUESTION = "脱贫攻坚8年间，中央财政累计投入了多少专项扶贫资金？"
TIMEOUT_S = 1.0
# The fake stands for a model whose context takes every passage whole.
LARGE_CONTEXT = 32768


@pytest.fixture(scope="module")
def fake():
    server = FakeChat().start()
    yield server
    server.close()


@pytest.fixture
def endpoint(fake):
    """The fake server with a clean request log."""
    fake.received.clear()
    return fake


@pytest.fixture(scope="module")
def llm_pipeline(built_index, embedder, fake):
    settings = built_index.replace(
        llm_base_url=fake.url,
        llm_model="fake-model",
        llm_api_key="sk-test",
        llm_timeout_s=TIMEOUT_S,
        llm_context_tokens=LARGE_CONTEXT,
    )
    return QAPipeline(settings, embedder=embedder)


def _stream(pipeline: QAPipeline, question: str, **kwargs) -> tuple[list[str], Answer]:
    items = list(pipeline.ask_stream(question, **kwargs))
    assert isinstance(items[-1], Answer) and all(isinstance(i, str) for i in items[:-1])
    return items[:-1], items[-1]


# --- pure parts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply,expected,removed",
    [
        ("投入6601亿元【1】。", "投入6601亿元[1]。", ()),
        ("投入6601亿元［2］。", "投入6601亿元[2]。", ()),
        ("投入6601亿元[ID:3]。", "投入6601亿元[3]。", ()),
        ("投入6601亿元[^2]。", "投入6601亿元[2]。", ()),
        ("投入6601亿元[段落 2]。", "投入6601亿元[2]。", ()),
        ("投入6601亿元 [1, 2]。", "投入6601亿元[1][2]。", ()),
        ("投入6601亿元[1、3]。", "投入6601亿元[1][3]。", ()),
        ("投入6601亿元[1-3]。", "投入6601亿元[1][2][3]。", ()),
        ("投入6601亿元[2][9]。", "投入6601亿元[2]。", (9,)),
        ("投入6601亿元[0]。", "投入6601亿元。", (0,)),
        ("见（2020）年报，列表（1）不变[1]。", "见（2020）年报，列表（1）不变[1]。", ()),
    ],
)
def test_markers_are_repaired_and_markers_to_passages_not_given_dropped(reply, expected, removed):
    repaired = llm.repair_markers(reply, passages=5)
    assert repaired.text == expected
    assert repaired.removed == removed


def test_the_prompt_numbers_passages_with_title_and_date_and_states_the_rules():
    hits = [
        Hit(1, "a.txt", "甲文件", "2021-09-14", "第一段。", 0, 4, 1.0),
        Hit(2, "b.txt", "乙文件", None, "第二段。", 0, 4, 0.5),
    ]
    system, user = llm.build_messages("问题是什么？", [llm.whole(h) for h in hits], "根据现有文档，无法回答这个问题。")
    assert "[1] 《甲文件》（日期：2021-09-14）\n第一段。" in user["content"]
    assert "[2] 《乙文件》（日期：不详）\n第二段。" in user["content"]
    assert user["content"].endswith("问题：问题是什么？")
    rules = system["content"]
    assert "[n]" in rules and "不得使用段落以外" in rules and "根据现有文档，无法回答这个问题。" in rules


def test_refusal_is_recognized_with_markers_and_punctuation_aside():
    refusal = "根据现有文档，无法回答这个问题。"
    assert llm.is_refusal("根据现有文档,无法回答这个问题[1]", refusal)
    assert not llm.is_refusal("中央财政累计投入6601亿元[1]。", refusal)


def test_a_reasoning_block_is_not_shown_even_when_split_across_pieces():
    pieces = ["<thi", "nk>先想一想", "……</th", "ink>答案", "是6601亿元<", "[1]。"]
    assert "".join(llm.visible_pieces(iter(pieces))) == "答案是6601亿元<[1]。"
    assert llm.strip_thinking("<think>想</think>\n答案[1]。") == "答案[1]。"


def test_answer_mode_decides_whether_the_endpoint_is_used():
    assert not llm.llm_enabled(Settings())  # none configured by default
    assert llm.llm_enabled(Settings(llm_base_url="http://127.0.0.1:9/v1"))
    assert not llm.llm_enabled(Settings(llm_base_url="http://127.0.0.1:9/v1", answer_mode="extractive"))
    with pytest.raises(ConfigError, match="llm_base_url"):
        llm.llm_enabled(Settings(answer_mode="llm"))
    with pytest.raises(ConfigError, match="answer_mode"):
        llm.llm_enabled(Settings(answer_mode="magic"))
    with pytest.raises(ConfigError, match="http"):
        llm.ChatClient(Settings(llm_base_url="ftp://x"))


# --- the client against the fake server -------------------------------------------------------------


def test_client_streams_server_sent_events_and_sends_model_and_key(endpoint):
    endpoint.script = lambda body: Reply("sse", "中央财政累计投入6601亿元[1]。")
    client = llm.ChatClient(Settings(llm_base_url=endpoint.url + "/", llm_model="m1", llm_api_key="k1"))
    pieces = list(client.stream([{"role": "user", "content": "问"}]))
    assert len(pieces) > 3 and "".join(pieces) == "中央财政累计投入6601亿元[1]。"
    (request,) = endpoint.received
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "m1" and request.body["stream"] is True
    assert request.headers["Authorization"] == "Bearer k1"


def test_client_accepts_a_plain_json_reply(endpoint):
    endpoint.script = lambda body: Reply("json", "整段回答[1]。")
    client = llm.ChatClient(Settings(llm_base_url=endpoint.url))
    assert list(client.stream([{"role": "user", "content": "问"}])) == ["整段回答[1]。"]
    assert client.complete([{"role": "user", "content": "问"}]) == "整段回答[1]。"
    assert "model" not in endpoint.received[-1].body and "Authorization" not in endpoint.received[-1].headers


def test_client_errors_are_reasons_for_a_person(endpoint):
    client = llm.ChatClient(Settings(llm_base_url=endpoint.url, llm_timeout_s=TIMEOUT_S))
    endpoint.script = lambda body: Reply("status", status=503)
    with pytest.raises(llm.LLMError, match="HTTP 503"):
        client.complete([{"role": "user", "content": "问"}])
    endpoint.script = lambda body: Reply("hang")
    started = time.monotonic()
    with pytest.raises(llm.LLMError, match="超时"):
        list(client.stream([{"role": "user", "content": "问"}]))
    assert time.monotonic() - started < TIMEOUT_S + 1.0
    closed = llm.ChatClient(Settings(llm_base_url="http://127.0.0.1:9/v1", llm_timeout_s=TIMEOUT_S))
    with pytest.raises(llm.LLMError, match="无法连接"):
        closed.complete([{"role": "user", "content": "问"}])


# --- answers through the pipeline ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_correct_cited_answer_is_streamed_cited_and_verified(llm_pipeline, endpoint):
    endpoint.script = answering(lambda body: f"中央财政累计投入6601亿元【{passage_with(body, '6601')}】。")
    pieces, answer = _stream(llm_pipeline, QUESTION)
    n = passage_with(endpoint.received[0].body, "6601")
    assert len(pieces) > 3 and "".join(pieces) == f"中央财政累计投入6601亿元【{n}】。"  # raw tokens, live
    assert answer.answered and answer.text == "中央财政累计投入6601亿元[1]。"
    (citation,) = answer.citations
    assert citation.doc_id == answer.passages[n - 1].doc_id and "6601" in citation.text
    document = llm_pipeline.store.document(citation.doc_id)
    assert document.text[citation.start : citation.end] == citation.text
    assert [(f.text, f.marker, f.verified) for f in answer.figures] == [("6601亿元", 1, True)]
    assert answer.notes == ()
    request = endpoint.received[0]
    assert request.body["stream"] is True and request.body["model"] == "fake-model"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert "日期：" in request.body["messages"][-1]["content"] and QUESTION in request.body["messages"][-1]["content"]
    assert len(passages_of(request.body)) == llm.PASSAGES_FOR_LLM


@pytest.mark.slow
def test_an_invented_figure_is_flagged_in_the_answer_and_the_json(llm_pipeline, endpoint):
    endpoint.script = answering(lambda body: f"中央财政累计投入7200亿元[{passage_with(body, '6601')}]。")
    answer = llm_pipeline.ask(QUESTION)
    assert answer.text == "中央财政累计投入7200亿元[1]。"
    (figure,) = answer.figures
    assert (figure.text, figure.verified, figure.marker) == ("7200亿元", False, 1)
    assert "没有这个数字" in figure.reason
    assert not any("7200亿元" in note for note in answer.notes)  # reported once, in figures, not again as a note
    reply = answer_to_json(answer)
    assert reply["figures"] == [
        {
            "text": "7200亿元",
            "value": 720000000000.0,
            "unit": "元",
            "marker": 1,
            "verified": False,
            "reason": figure.reason,
        }
    ]


@pytest.mark.slow
def test_a_marker_to_a_passage_not_given_is_removed_and_a_sentence_left_uncited_is_flagged(llm_pipeline, endpoint):
    endpoint.script = answering(
        lambda body: f"中央财政累计投入6601亿元[{passage_with(body, '6601')}][9]。这是八年的总数[7]。"
    )
    answer = llm_pipeline.ask(QUESTION)
    assert answer.text == "中央财政累计投入6601亿元[1]。这是八年的总数。"
    assert "[9]" not in answer.text and "[7]" not in answer.text
    assert any("[9]" in note and "[7]" in note for note in answer.notes)
    assert any("没有标注来源" in note and "这是八年的总数" in note for note in answer.notes)
    assert [(f.text, f.verified, f.marker) for f in answer.figures] == [("6601亿元", True, 1), ("八年", False, None)]


@pytest.mark.slow
def test_an_answer_without_any_marker_falls_back_to_the_extractive_one(llm_pipeline, pipeline, endpoint):
    endpoint.script = answering(lambda body: "中央财政累计投入6601亿元。")
    pieces, answer = _stream(llm_pipeline, QUESTION)
    assert "".join(pieces) == "中央财政累计投入6601亿元。"  # what was streamed is replaced
    assert answer.text == pipeline.ask(QUESTION).text
    assert answer.notes and "没有标注引用来源" in answer.notes[0] and "摘录式" in answer.notes[0]
    assert all(f.verified for f in answer.figures)


@pytest.mark.slow
def test_an_http_error_falls_back_with_a_note(llm_pipeline, pipeline, endpoint):
    endpoint.script = lambda body: Reply("status", status=500)
    answer = llm_pipeline.ask(QUESTION)
    assert answer.answered and answer.text == pipeline.ask(QUESTION).text
    assert "HTTP 500" in answer.notes[0] and "摘录式" in answer.notes[0]
    assert answer_to_json(answer)["notes"] == list(answer.notes)  # JSON and API clients see it too


@pytest.mark.slow
def test_a_hanging_endpoint_falls_back_within_the_timeout(llm_pipeline, pipeline, endpoint):
    started = time.monotonic()
    extractive = pipeline.ask(QUESTION)
    extractive_s = time.monotonic() - started
    endpoint.script = lambda body: Reply("hang")
    started = time.monotonic()
    answer = llm_pipeline.ask(QUESTION)
    elapsed = time.monotonic() - started
    assert answer.text == extractive.text and "超时" in answer.notes[0]
    # The fake endpoint never answers: only the timeout can end the call. The margin absorbs a
    # busy 2-core machine; a missing timeout would hang far beyond it.
    assert elapsed < TIMEOUT_S + extractive_s + 5.0, f"took {elapsed:.1f} s with a {TIMEOUT_S} s timeout"


@pytest.mark.slow
def test_an_answer_asked_without_generation_never_calls_the_endpoint(llm_pipeline, pipeline, endpoint):
    endpoint.script = answering(lambda body: "不应被调用[1]。")
    answer = llm_pipeline.ask(QUESTION, generate=False)  # how the app checks its example questions
    assert endpoint.received == [] and answer.text == pipeline.ask(QUESTION).text and answer.notes == ()


@pytest.mark.slow
def test_the_fixed_refusal_declines(llm_pipeline, endpoint):
    refusal = llm_pipeline.settings.refusal_text
    endpoint.script = answering(lambda body: refusal)
    answer = llm_pipeline.ask("2020年全国一共有多少名大学生志愿者参加了西部计划？")
    assert not answer.answered and answer.text == refusal and answer.citations == () and answer.figures == ()


@pytest.mark.slow
def test_follow_up_is_rewritten_by_the_model(llm_pipeline, endpoint):
    rewritten = "截至2021年全国累计选派了多少名第一书记和驻村干部？"

    def script(body: dict) -> Reply:
        if not body["stream"]:
            return Reply("json", f"改写后的问题：{rewritten}")
        return Reply("sse", f"累计选派300多万名第一书记和驻村干部[{passage_with(body, '300多万名第一书记')}]。")

    endpoint.script = script
    history = [
        {"role": "user", "content": "截至2021年全国累计选派了多少个驻村工作队？"},
        {"role": "assistant", "content": "……"},
    ]
    answer = llm_pipeline.ask("那第一书记和驻村干部呢？", history=history)
    assert answer.rewritten_question == rewritten
    rewrite_request = endpoint.received[0].body
    assert "截至2021年全国累计选派了多少个驻村工作队？" in rewrite_request["messages"][-1]["content"]
    assert answer.text == "累计选派300多万名第一书记和驻村干部[1]。" and answer.figures[0].verified


@pytest.mark.slow
def test_a_failed_rewrite_falls_back_to_the_rule_and_skips_the_endpoint(llm_pipeline, endpoint):
    endpoint.script = lambda body: Reply("status", status=500)
    history = ["截至2021年全国累计选派了多少个驻村工作队？"]
    answer = llm_pipeline.ask("那第一书记和驻村干部呢？", history=history)
    assert answer.rewritten_question and "第一书记" in answer.rewritten_question
    assert len(endpoint.received) == 1  # the answer is not requested from a failing endpoint
    assert "HTTP 500" in answer.notes[0] and answer.answered


@pytest.mark.slow
def test_cli_streams_the_answer_and_marks_an_unverified_figure(built_index, endpoint):
    endpoint.script = answering(lambda body: f"中央财政累计投入7200亿元[{passage_with(body, '6601')}]。")
    env = dict(
        os.environ,
        POLICYQA_INDEX_DIR=str(built_index.index_dir),
        POLICYQA_CACHE_DIR=str(built_index.cache_dir),
        POLICYQA_LLM_BASE_URL=endpoint.url,
        POLICYQA_LLM_TIMEOUT_S="5",
    )
    run = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ask", QUESTION],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "中央财政累计投入7200亿元" in run.stdout and "未核实" in run.stdout and "来源：" in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ask", "--json"],
        input=QUESTION + "\n" + QUESTION + "\n",
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    replies = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(replies) == 2
    assert all(r["figures"][0]["verified"] is False and r["conflicts"] == [] for r in replies)
