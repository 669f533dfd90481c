"""The app's controls without Gradio: history parsing, streaming replies, errors as plain messages."""

from __future__ import annotations

import pytest

from index.errors import DocumentError, IndexLockedError, IndexMissingError, QuestionError
from index.types import Document
from qa.types import Answer, Citation
from ui import handlers


class FakePipeline:
    """Answers from a table; records the history it was given."""

    def __init__(self, reply):
        self.reply = reply
        self.histories = []

    def ask(self, question, history=None, top_k=None):
        self.histories.append(history)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


ANSWER = Answer(
    question="q",
    answered=True,
    text="第一句。[1]第二句。[1]",
    citations=(Citation(1, "d.txt", "标题", None, "第一句。", 0, 4, "第一句。第二句。", 0, 8),),
    passages=(),
    timings_ms={},
)


def test_user_questions_from_every_history_shape():
    history = [
        {"role": "user", "content": "旧格式问题"},
        {"role": "assistant", "content": "<div>回答</div>"},
        {"role": "user", "content": [{"type": "text", "text": "Gradio 6 格式问题"}]},
        {"role": "user", "content": ["片段一", {"type": "text", "text": "片段二"}]},
        {"role": "user", "content": [{"type": "file", "file": {"path": "/tmp/x"}}]},
        "not a message",
    ]
    assert handlers.user_questions(history) == ["旧格式问题", "Gradio 6 格式问题", "片段一片段二"]
    assert handlers.user_questions(None) == []


def test_reply_streams_sentence_by_sentence_then_shows_cards(monkeypatch):
    monkeypatch.setattr(handlers, "STREAM_PAUSE_S", 0)
    pipeline = FakePipeline(ANSWER)
    history = [{"role": "user", "content": [{"type": "text", "text": "上一个问题"}]}]
    replies = list(handlers.respond(pipeline, "问题", history))
    assert "正在检索" in replies[0]
    assert "第一句" in replies[1] and "第二句" not in replies[1] and "pqa-cursor" in replies[1]
    assert "pqa-card" in replies[-1] and "pqa-cursor" not in replies[-1]
    assert pipeline.histories == [["上一个问题"]]


def test_a_streamed_answer_ends_with_the_checked_text(monkeypatch):
    monkeypatch.setattr(handlers, "STREAM_PAUSE_S", 0)

    class Streaming(FakePipeline):
        def ask_stream(self, question, history=None, top_k=None):
            yield "原始"
            yield "生成文字"
            yield ANSWER

    replies = list(handlers.respond(Streaming(ANSWER), "问题", []))
    assert "原始生成文字" in replies[2] and "pqa-cursor" in replies[2]
    assert "原始" not in replies[-1] and "第一句" in replies[-1] and "pqa-card" in replies[-1]


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (QuestionError("请输入问题。 Please type a question."), "请输入问题。"),
        (IndexMissingError("no index in .index; build one with `policyqa index`"), "还没有建立索引"),
        (IndexLockedError("locked by pid 1"), "索引正在更新"),
        (RuntimeError("Traceback (most recent call last): secret"), "抱歉，处理时出错了"),
    ],
)
def test_errors_become_plain_messages_without_tracebacks(error, shown):
    replies = list(handlers.respond(FakePipeline(error), "问题", []))
    assert shown in replies[-1]
    assert "Traceback" not in replies[-1] and "Please type" not in replies[-1] and "pid" not in replies[-1]


class FakeLibrary:
    def document(self, doc_id):
        if doc_id != "d.txt":
            raise DocumentError(f"找不到文档“{doc_id}”，它可能已被删除。")
        return Document("d.txt", "标题", None, None, "前文。被引用的句子。后文。", "h")


def test_open_source_highlights_the_requested_span():
    html = handlers.open_source(FakeLibrary(), {"doc_id": "d.txt", "start": "3", "end": "10"})
    assert '<mark class="pqa-hit">被引用的句子。</mark>' in html


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({"doc_id": "gone.txt", "start": 0, "end": 1}, "找不到文档“gone.txt”"),
        ({"doc_id": "d.txt", "start": "x", "end": 1}, "位置无效"),
        ({"doc_id": "d.txt", "start": 5, "end": 1}, "无效"),
        ({"start": 0, "end": 1}, "无效"),
        (None, "链接不完整"),
    ],
)
def test_open_source_explains_bad_links(data, shown):
    assert shown in handlers.open_source(FakeLibrary(), data)


def test_chinese_part_of_bilingual_messages():
    assert handlers.chinese_part("问题太长（600 字），请控制在 500 字以内。 The question is long.") == (
        "问题太长（600 字），请控制在 500 字以内。"
    )
    assert handlers.chinese_part("only english") == "only english"


def test_reply_when_every_answer_slot_is_taken_is_a_chinese_busy_message(monkeypatch):
    from ui.security import AnswerSlots

    monkeypatch.setattr(handlers, "STREAM_PAUSE_S", 0)
    slots = AnswerSlots(workers=1, queue_size=0, wait_s=5)
    pipeline = FakePipeline(ANSWER)
    with slots.slot():  # another question is being answered
        replies = list(handlers.respond(pipeline, "问题", [], slots))
    assert "服务器正忙，请稍后几秒再试" in replies[-1] and "Traceback" not in replies[-1]
    assert pipeline.histories == []  # nothing was computed
    replies = list(handlers.respond(pipeline, "问题", [], slots))
    assert "pqa-card" in replies[-1]
    assert slots.running == 0


def test_an_abandoned_reply_gives_its_slot_back(monkeypatch):
    from ui.security import AnswerSlots

    monkeypatch.setattr(handlers, "STREAM_PAUSE_S", 0)
    slots = AnswerSlots(workers=1, queue_size=0, wait_s=5)
    reply = handlers.respond(FakePipeline(ANSWER), "问题", [], slots)
    next(reply), next(reply)  # the person pressed "stop" after the first sentence
    assert slots.running == 1
    reply.close()
    assert slots.running == 0


def test_typed_text_shows_markup_as_text_and_survives_the_round_trip():
    shown = handlers.typed_text("<img src=x onerror=alert(1)>扶贫日 a<b")
    assert "<" not in shown and handlers.typed_text(shown) == shown
    history = [{"role": "user", "content": [{"type": "text", "text": shown}]}]
    assert handlers.user_questions(history) == ["<img src=x onerror=alert(1)>扶贫日 a<b"]
