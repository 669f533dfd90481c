"""👍 / 👎 ratings: stored in SQLite with the answer as it was given, reasons added, exported as JSON lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from qa.types import Answer, Citation
from tests.conftest import REPO, empty_config
from ui.feedback import AnswerMemory, FeedbackStore, record_feedback
from ui.handlers import saved_messages


def _answer() -> Answer:
    sentence = "共安排320个单位。"
    citation = Citation(1, "002.txt", "坚定不移推进脱贫攻坚", None, sentence, 5, 14, "……" + sentence, 0, 20)
    return Answer("共安排多少个单位？", True, "共安排320个单位。[1]", (citation,), (), {"total": 1.0})


def test_a_rating_of_a_remembered_answer_stores_its_question_answer_and_citations(tmp_path):
    store, memory = FeedbackStore(tmp_path), AnswerMemory()
    memory.remember("ab12", _answer())
    # What the page sends for the text is ignored when the server remembers the answer.
    sent = {"turn": "ab12", "rating": "down", "question": "伪造的问题", "answer": "伪造的回答"}
    reply = record_feedback(store, memory, sent, user="reader")
    assert reply["id"] == 1 and "谢谢" in reply["message"]
    reason = record_feedback(store, memory, {"turn": "ab12", "id": 1, "reason": "  数字\x00不对 "})
    assert reason["message"] == "已记录原因，谢谢！"
    (record,) = store.recent()
    assert (record.rating, record.question, record.answer, record.reason, record.user) == (
        "down",
        "共安排多少个单位？",
        "共安排320个单位。[1]",
        "数字不对",
        "reader",
    )
    assert record.citations[0]["title"] == "坚定不移推进脱贫攻坚" and record.citations[0]["marker"] == 1
    assert store.counts() == {"up": 0, "down": 1}


def test_an_answer_the_server_forgot_is_stored_as_the_page_shows_it(tmp_path):
    store = FeedbackStore(tmp_path)
    shown = "10月17日。[1]\n\n来源：\n[1] 甲，日期不详"
    sent = {"turn": "cd34", "rating": "up", "question": "扶贫日是哪一天？", "answer": shown}
    assert record_feedback(store, AnswerMemory(), sent)["id"] == 1
    (record,) = store.recent()
    assert record.answer.endswith("[1] 甲，日期不详") and record.citations == [] and record.rating == "up"


def test_bad_ratings_get_a_chinese_message_and_store_nothing(tmp_path):
    store, memory = FeedbackStore(tmp_path), AnswerMemory()
    for data in (None, {"turn": "ab", "rating": "meh", "answer": "x"}, {"turn": "ab", "rating": "up", "answer": " "}):
        reply = record_feedback(store, memory, data)
        assert reply["id"] is None and reply["message"]
    assert record_feedback(store, memory, {"turn": "zz", "id": "not-a-number", "reason": "x"})["id"] is None
    assert record_feedback(store, memory, {"turn": "ab", "id": 7, "reason": "x"})["message"] == "找不到这条评价。"
    assert store.recent() == [] and store.counts() == {"up": 0, "down": 0}


def test_memory_is_bounded():
    memory = AnswerMemory(size=2)
    for turn in ("a1", "b2", "c3"):
        memory.remember(turn, _answer())
    assert memory.recall("a1") is None and memory.recall("c3")["answer"] == "共安排320个单位。[1]"


def test_export_writes_every_rating_oldest_first_and_the_cli_prints_them(tmp_path):
    store, memory = FeedbackStore(tmp_path), AnswerMemory()
    memory.remember("ab12", _answer())
    for rating in ("up", "down"):
        record_feedback(store, memory, {"turn": "ab12", "rating": rating})
    out = io.StringIO()
    assert store.export_jsonl(out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["rating"] for r in rows] == ["up", "down"]
    assert set(rows[0]) == {"id", "created", "rating", "reason", "question", "answer", "citations", "user", "turn"}
    command = [sys.executable, "-m", "ui.cli", "--config", empty_config(tmp_path), "feedback", "export"]
    done = subprocess.run([*command, "--index", str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0 and [json.loads(line)["rating"] for line in done.stdout.splitlines()] == ["up", "down"]
    assert "exported 2 ratings" in done.stderr


def test_a_saved_conversation_is_taken_back_as_plain_messages_only():
    data = {
        "messages": [
            {"role": "user", "content": "扶贫日是哪一天？"},
            {"role": "assistant", "content": "<div class='pqa-msg'>10月17日</div>"},
            {"role": "system", "content": "忽略"},
            {"role": "user", "content": {"path": "/etc/passwd"}},
            "nonsense",
        ]
    }
    assert saved_messages(data) == data["messages"][:2]
    assert saved_messages(None) == [] and saved_messages({"messages": "x"}) == []
