"""Every figure of an answer is checked against the snippet its marker cites."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.answer_json import answer_to_json
from qa.figures import cited_spans, figures_in, uncited_sentences, verify_figures
from tests.conftest import DEV_SET

FIGURE_KEYS = {"text", "value", "unit", "marker", "verified", "reason"}


def _by_text(figures):
    return {f.text: f for f in figures}


@pytest.mark.parametrize(
    "answer,snippet",
    [
        ("现行标准下9899万农村贫困人口全部脱贫[1]。", "9899万农村贫困人口"),
        ("贫困人口98,990,000人[1]。", "现行标准下9899万农村贫困人口全部脱贫"),
        ("中央财政累计投入6601亿元[1]。", "其中中央财政累计投入 6601 亿元"),
        ("占比百分之七十[1]。", "通过产业扶贫带动70%以上贫困人口脱贫"),
        ("返贫率控制在0.3%[1]。", "返贫率控制在０．３％以内"),
        ("累计发放4300亿元[1]。", "扶贫小额信贷累计发放4300多亿元"),
        ("每名党员帮扶2-3户[1]。", "平均每名党员帮扶2—3户贫困家庭"),
        ("下降7.1个百分点[1]。", "下降7.1个百分点"),
    ],
)
def test_a_figure_stated_in_another_form_is_verified(answer, snippet):
    (figure,) = verify_figures(answer, {1: snippet})
    assert figure.verified, f"{figure.text} should match {snippet}: {figure.reason}"
    assert figure.marker == 1 and figure.reason == ""


def test_an_invented_figure_is_flagged_with_its_marker_and_why():
    figures = verify_figures("中央财政累计投入7200亿元[1]。", {1: "其中中央财政累计投入6601亿元"})
    assert [(f.text, f.verified, f.marker) for f in figures] == [("7200亿元", False, 1)]
    assert "[1]" in figures[0].reason and "没有这个数字" in figures[0].reason


def test_a_year_the_source_does_not_state_is_flagged_but_a_given_date_part_is_not():
    figures = _by_text(
        verify_figures(
            "2013年11月3日首次提出精准扶贫[1]，2013年[1]，2014年起[1]。",
            {1: "2013年11月3日，习近平总书记在湖南湘西十八洞村首次提出“精准扶贫”"},
        )
    )
    assert figures["2013年11月3日"].verified and figures["2013年"].verified
    assert not figures["2014年"].verified
    # The reverse does not hold: a year in the source does not state a day.
    (day,) = verify_figures("2013年11月3日提出[1]。", {1: "2013年提出"})
    assert not day.verified


def test_ordinals_and_markers_are_not_figures():
    assert figures_in("第一书记和第十八届[12]") == []
    assert [q.text for q in figures_in("投入6601亿元[1][2]")] == ["6601亿元"]


def test_each_figure_is_checked_against_the_markers_after_it_in_its_sentence():
    text = "投入6601亿元[1]，覆盖832个县[2]。"
    snippets = {1: "投入6601亿元", 2: "832个贫困县全部摘帽"}
    figures = verify_figures(text, snippets)
    assert [(f.text, f.marker, f.verified) for f in figures] == [("6601亿元", 1, True), ("832个", 2, True)]
    # Swapped snippets: each figure is now checked against the wrong one and flagged.
    swapped = verify_figures(text, {1: snippets[2], 2: snippets[1]})
    assert [f.verified for f in swapped] == [False, False]


def test_a_figure_cited_by_several_markers_is_verified_by_any_of_them():
    (figure,) = verify_figures("累计投入6601亿元[1][2]。", {1: "无关的句子", 2: "投入6601亿元"})
    assert figure.verified and figure.marker == 2


def test_a_sentence_without_a_marker_leaves_its_figures_unverified():
    text = "中央财政投入6601亿元[1]。另有4400多亿元资金。"
    figures = verify_figures(text, {1: "中央财政累计投入6601亿元，流转资金4400多亿元"})
    assert [(f.text, f.verified, f.marker) for f in figures] == [("6601亿元", True, 1), ("4400多亿元", False, None)]
    assert "没有标注引用" in figures[1].reason
    assert uncited_sentences(text) == ["另有4400多亿元资金。"]


def test_a_marker_without_a_snippet_is_said_so():
    (figure,) = verify_figures("投入6601亿元[4]。", {1: "投入6601亿元"})
    assert not figure.verified and "[4]" in figure.reason and "没有对应" in figure.reason


def test_markers_before_or_after_the_full_stop_cite_their_own_sentence():
    spans = cited_spans("甲[1]。乙。[2]丙")
    assert [(s.markers) for s in spans] == [(1,), (2,), ()]


@given(st.text(alphabet="一二三。！？；\n[]12 3万%年", max_size=50))
def test_cited_spans_cover_the_text_in_order(text):
    spans = cited_spans(text)
    assert "".join(text[s.start : s.end] for s in spans) == text
    assert all(s.start < s.end for s in spans)


@pytest.mark.slow
def test_every_figure_of_every_extractive_dev_answer_verifies(pipeline):
    questions = [json.loads(line)["question"] for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    checked = 0
    for question in questions:
        answer = pipeline.ask(question)
        unverified = [f for f in answer.figures if not f.verified]
        assert unverified == [], f"{question}: {unverified}"
        checked += len(answer.figures)
    assert checked >= 60, f"only {checked} figures in the dev answers: is the check running?"


@pytest.mark.slow
def test_json_answer_lists_its_figures(pipeline):
    reply = answer_to_json(pipeline.ask("2012年到2016年，我国农村贫困发生率从多少下降到了多少？"))
    figures = {f["text"]: f for f in reply["figures"]}
    assert all(set(f) == FIGURE_KEYS for f in reply["figures"])
    assert figures["10.2%"] == {
        "text": "10.2%",
        "value": 10.2,
        "unit": "%",
        "marker": 1,
        "verified": True,
        "reason": "",
    }
    assert figures["4.5%"]["verified"] is True
    json.dumps(reply)
