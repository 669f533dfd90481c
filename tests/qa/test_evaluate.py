"""The eval metrics, on hand-made replies, exactly as the question-set README defines them."""

from __future__ import annotations

import json

import pytest

from index.errors import ConfigError
from qa.evaluate import (
    EvalQuestion,
    answer_hit,
    by_kind,
    calibration,
    is_relevant,
    longest_common_run,
    read_questions,
    run_eval,
    score,
)

Q = EvalQuestion(
    id="q1",
    question="投入了多少？",
    answers=("6601", "亿元"),
    evidence=("其中中央财政累计投入 6601 亿元",),
    sources=("000.txt", "004.txt"),
    type="figure",
)
U = EvalQuestion(id="u1", question="不知道？", answers=(), evidence=(), sources=(), type="unanswerable")


def _reply(answered=True, answer="", passages=(), citations=(), total=10.0):
    return {
        "answered": answered,
        "answer": answer,
        "passages": list(passages),
        "citations": list(citations),
        "timings_ms": {"total": total},
    }


def test_relevance_needs_the_source_and_the_evidence_after_normalization():
    assert is_relevant("000.txt", "……其中中央财政累计投入６６０１亿元，……", Q)
    assert not is_relevant("002.txt", "其中中央财政累计投入 6601 亿元", Q)


def test_relevance_accepts_a_run_of_60_percent_of_the_evidence():
    evidence_len = len("其中中央财政累计投入6601亿元")  # 16 after normalization
    assert is_relevant("004.txt", "前文。其中中央财政累计投入66", Q)  # 12 chars ≥ ceil(0.6·16)=10
    assert not is_relevant("004.txt", "中央财政累计", Q)  # 6 chars < 10
    assert evidence_len == 16


def test_longest_common_run():
    assert longest_common_run("abcdef", "zzcdez") == 3
    assert longest_common_run("", "abc") == 0


def test_answer_hit_removes_markers_and_limits_length():
    assert answer_hit(_reply(answer="累计投入6601[1]亿元[2]"), Q)
    assert not answer_hit(_reply(answer="累计投入6601"), Q)
    assert not answer_hit(_reply(answered=False, answer="6601亿元"), Q)
    assert not answer_hit(_reply(answer="6601亿元" + "字" * 300), Q)


def test_score_combines_ranks_declines_and_latency():
    relevant = {"source": "000.txt", "text": "其中中央财政累计投入6601亿元"}
    other = {"source": "001.txt", "text": "无关"}
    pairs = [
        (Q, _reply(answer="6601亿元[1]", passages=[other, relevant], citations=[relevant], total=20.0)),
        (U, _reply(answered=False, total=40.0)),
    ]
    metrics = score(pairs)
    assert metrics["recall@1"] == 0.0
    assert metrics["recall@5"] == 1.0
    assert metrics["mrr@10"] == pytest.approx(0.5)
    assert metrics["answer_hit"] == 1.0
    assert metrics["cited_evidence"] == 1.0
    assert metrics["unanswerable_declined"] == 1.0
    assert metrics["latency_p50_ms"] == 20.0 and metrics["latency_p95_ms"] == 40.0


def test_a_metric_with_nothing_to_measure_is_null_not_nan():
    metrics = score([(U, _reply(answered=False))])
    assert metrics["recall@1"] is None and metrics["answer_hit"] is None
    assert metrics["unanswerable_declined"] == 1.0
    json.dumps(metrics, allow_nan=False)  # valid JSON


@pytest.mark.parametrize("content", [None, "", "\n\n", '{"question": "no id"}\n', "[1, 2]\n"])
def test_a_bad_question_set_is_a_clear_error(tmp_path, content):
    path = tmp_path / "qa.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=str(path.name)):
        read_questions(path)


def test_a_question_set_may_give_each_question_its_history_and_kind(tmp_path):
    path = tmp_path / "set.jsonl"
    row = {
        "id": "f1",
        "question": "那那曲呢？",
        "answers": [],
        "history": ["日喀则的收入？"],
        "kind": "near_place",
    }
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    (question,) = read_questions(path)
    assert question.history == ("日喀则的收入？",) and question.kind == "near_place"
    asked = []
    metrics, rows = run_eval([question], lambda q, history: asked.append(history) or _reply(answered=False))
    assert asked == [["日喀则的收入？"]] and metrics["unanswerable_declined"] == 1.0
    assert calibration(rows)["declined_correctly"] == 1 and by_kind(rows) == {"near_place": (1, 1)}


def test_calibration_counts_each_outcome_of_the_decision():
    rows = [
        {"answerable": True, "answered": True, "hit": True, "kind": "figure", "type": "figure"},
        {"answerable": True, "answered": True, "hit": False, "kind": "figure", "type": "figure"},
        {"answerable": True, "answered": False, "hit": False, "kind": "", "type": "policy"},
        {"answerable": False, "answered": True, "hit": False, "kind": "offtopic", "type": "unanswerable"},
    ]
    found = calibration(rows)
    assert (found["answered_correctly"], found["answered_wrongly"], found["declined_answerable"]) == (1, 1, 1)
    assert (found["declined_correctly"], found["answered_unanswerable"]) == (0, 1)
    assert by_kind(rows) == {"figure": (1, 2), "offtopic": (0, 1), "policy": (0, 1)}
