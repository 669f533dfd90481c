"""Example questions written from corpus clauses, kept only when the pipeline answers them."""

from __future__ import annotations

import pytest

from index.errors import QuestionError
from index.types import Document
from qa.types import Answer
from ui.examples import candidates, figure_question, pick_examples


@pytest.mark.parametrize(
    ("clause", "question", "figure"),
    [
        ("中央层面共安排320个单位定点帮扶592个贫困县", "中央层面共安排多少个单位定点帮扶592个贫困县？", "320"),
        ("中央单位累计投入帮扶资金和物资427.6亿元", "中央单位累计投入帮扶资金和物资多少亿元？", "427.6"),
        ("到2017年底全国已有4.62万家民营企业帮扶", "到2017年底全国已有多少万家民营企业帮扶？", "4.62"),
    ],
)
def test_a_clause_with_a_count_becomes_a_question(clause, question, figure):
    assert figure_question(clause) == (question, figure)


@pytest.mark.parametrize(
    "clause",
    [
        "从2014年起每年组织开展扶贫日系列活动",  # a year is not a count
        "其中中央财政安排专项扶贫资金861亿元",  # leans on the sentence before
        "平均每名党员帮扶2-3户贫困家庭的做法",  # a range
        "共320个",  # too short to say what is counted
        "全国" + "很长的上下文" * 10 + "320个单位",  # too long for an example
    ],
)
def test_clauses_that_make_poor_questions_are_skipped(clause):
    assert figure_question(clause) is None


def _doc(doc_id: str, text: str) -> Document:
    return Document(doc_id, doc_id, None, None, text, "h")


def test_candidates_alternate_between_documents():
    docs = [
        _doc("a", "中央层面共安排320个单位定点帮扶贫困县。东部省份累计派出131000名干部。"),
        _doc("b", "全国累计选派25.5万个驻村工作队伍。"),
    ]
    assert [c.doc_id for c in candidates(docs)] == ["a", "b", "a"]


def _answer(text: str, answered: bool = True) -> Answer:
    return Answer("q", answered, text, (), (), {})


def test_only_questions_answered_with_their_figure_are_kept():
    text = "中央层面共安排320个单位定点帮扶贫困县。东部省份累计派出131000名干部。各地新建村级光伏电站3700座。"
    docs = [_doc("a", text)]
    replies = {
        "中央层面共安排多少个单位定点帮扶贫困县？": _answer("中央层面共安排320个单位。[1]"),
        "东部省份累计派出多少名干部？": _answer("根据现有文档，无法回答这个问题。", answered=False),
        "各地新建村级光伏电站多少座？": _answer("另一个数字 12 座。[1]"),
    }
    assert pick_examples(replies.__getitem__, docs, limit=4) == ["中央层面共安排多少个单位定点帮扶贫困县？"]


def test_a_failing_candidate_is_skipped():
    def ask(question):
        raise QuestionError("bad")

    assert pick_examples(ask, [_doc("a", "中央层面共安排320个单位定点帮扶贫困县。")]) == []
