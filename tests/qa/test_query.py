"""Question validation, kind of figure asked, and follow-up rewriting."""

from __future__ import annotations

import pytest

from index.errors import QuestionError
from qa.query import (
    analyze,
    asked_number_kind,
    asked_units,
    clean_history,
    clean_question,
    previous_questions,
    without_markup,
)


@pytest.mark.parametrize(
    "question,kind",
    [
        ("习近平总书记首次提出精准扶贫是在哪一年？", "year"),
        ("农村贫困发生率下降到百分之几？", "percent"),
        ("累计投入了多少专项扶贫资金？", "number"),
        ("平均每名党员帮扶几户贫困家庭？", "number"),
        ("“六个精准”具体指哪六个方面？", ""),
        # a timetable's length is a number of years, not a date
        ("行动计划要定几年的时间表？", "number"),
        ("座谈会是什么时间开的？", "year"),
        ("十九届五中全会是哪几天开的？", "year"),  # not a list: 哪几天 asks for dates
    ],
)
def test_asked_number_kind(question, kind):
    assert asked_number_kind(question) == kind


def test_history_shapes():
    gradio_message = {"role": "user", "content": [{"type": "text", "text": "d"}]}
    history = ["a", {"role": "user", "content": "b"}, {"role": "assistant", "content": "x"}, ["c", "y"], gradio_message]
    assert previous_questions(history) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("bad", ["", "   ", "\x00\x01", None, 42])
def test_empty_or_non_text_questions_are_refused(bad):
    with pytest.raises(QuestionError):
        clean_question(bad, 500)


def test_long_question_is_refused_with_the_limit():
    with pytest.raises(QuestionError, match="500"):
        clean_question("扶" * 501, 500)


def test_control_characters_and_lone_surrogates_are_removed():
    assert clean_question("扶贫\x00日\ud800是哪天？", 500) == "扶贫日是哪天？"


def test_bidirectional_overrides_are_removed():
    assert clean_question("扶贫\u202e日\u2066是哪天？\u2069", 500) == "扶贫日是哪天？"


def test_history_is_cleaned_like_a_question_and_refused_questions_are_dropped():
    history = [
        "扶贫" * 50_000,  # refused when it was asked: it must not come back through a follow-up
        "扶贫\ud800日是\x00哪天\u202e",
        {"role": "user", "content": "   "},
        {"role": "user", "content": [{"type": "text", "text": "驻村工作队有多少？"}]},
        None,
        42,
    ]
    assert clean_history(history, max_chars=500) == ["扶贫日是哪天", "驻村工作队有多少？"]
    assert clean_history("扶贫日是哪天", max_chars=500) == []  # not a list of turns
    assert clean_history(None, max_chars=500) == []


def test_markup_pasted_into_a_question_is_not_what_is_asked():
    pasted = '<img src=x onerror="alert(3)"><script>window.x=4</script>扶贫日是哪一天？'
    assert without_markup(pasted) == "扶贫日是哪一天？"
    assert analyze(pasted)[0].text == "扶贫日是哪一天？"
    # a lone angle bracket is text, and a question of markup only stays as typed
    assert without_markup("收入<1000元的有多少户？") == "收入<1000元的有多少户？"
    assert without_markup("<b>") == "<b>"
    assert without_markup("GDP<A级>的县有几个？") == "GDP<A级>的县有几个？"


def test_a_count_of_things_is_not_stated_in_people_nor_money():
    assert "名" not in asked_units("全国一共派了多少个驻村工作队？") and "个" in asked_units(
        "全国一共派了多少个驻村工作队？"
    )
    # things counted in 个 may be counted in their own measure word (「224家民营企业」)
    assert "家" in asked_units("多少个民营企业参与了？")
    # people counted in 个 are people: 「多少个党员」 is answered by 「1300多万名党员」
    assert "名" in asked_units("多少个党员直接参与结对帮扶？")
    # 几个百分点 and 几个月 are no count of things; a second figure asked in other words frees the units
    assert asked_units("提高了几个百分点？") == () and asked_units("整顿了多少个党组织占多大比例？") == ()


def test_a_rate_the_question_states_is_a_condition_not_what_it_asks():
    assert asked_number_kind("贫困发生率超过18%的贫困县有几个？") == "number"
    assert asked_number_kind("贫困发生率从多少降到多少？") == "percent"


def test_counts_of_hundred_millions_and_households_keep_their_units():
    assert asked_units("中央财政累计投入了多少个亿？") == ()
    assert "户" in asked_units("扶贫小额信贷累计向多少个贫困户发放？")
    assert asked_number_kind("贫困发生率从2015年的多少降到了多少？") == "percent"
    assert asked_number_kind("贫困发生率超过百分之十八的县有几个？") == "number"
