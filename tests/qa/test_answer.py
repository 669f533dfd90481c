"""Pure parts of the extractive answerer: terms, coverage, numbers near their subject, lists."""

from __future__ import annotations

import pytest

from qa.answer import coverage_of, focus_near_number, ordinal_of, wanted_quantities, weighted_terms
from qa.query import figure_focus, split_question


def test_weighted_terms_drop_question_words_single_characters_and_straddling_bigrams():
    terms = weighted_terms("解决“怎么扶”问题的工程具体包括哪些？", idf=lambda t: 1.0, method="bigram")
    assert "扶" not in terms and "哪些" not in terms and "的工" not in terms
    assert {"解决", "问题", "工程"} <= set(terms)


def test_coverage_is_idf_weighted():
    terms = {"扶贫": 1.0, "普查": 3.0}
    assert coverage_of("扶贫工作", terms) == pytest.approx(0.25)
    assert coverage_of("扶贫普查", terms) == pytest.approx(1.0)
    assert coverage_of("无关", {}) == 0.0


def test_focus_must_be_near_the_number():
    text = "大会宣告9899万农村贫困人口全部脱贫，会上表彰了先进个人和先进集体代表。"
    terms = weighted_terms("先进个人", idf=lambda t: 1.0, method="bigram")
    near = focus_near_number(text, terms, wanted_quantities(text, "number"))
    assert near == 0.0
    text = "对52个未摘帽贫困县实施挂牌督战。"
    terms = weighted_terms("未摘帽贫困县", idf=lambda t: 1.0, method="bigram")
    assert focus_near_number(text, terms, wanted_quantities(text, "number")) == 1.0


@pytest.mark.parametrize(
    "text,number",
    [("一是发展生产脱贫一批。", 1), ("（三）强化体制机制。", 3), ("第十二条 规定", 12), ("第二，坚持标准。", 2),
     ("4.加强领导", 4), ("十一是其他。", 11), ("一批干部", None), ("二十三是……", 23)],
)
def test_ordinal_of(text, number):
    assert ordinal_of(text) == number


def test_multi_part_question_splits_into_parts_with_their_own_kind():
    parts = split_question("2015年底西藏的贫困发生率是多少？当年西藏建档立卡贫困人口有多少？")
    assert [p.wants for p in parts] == ["percent", "number"]
    assert "西藏建档立卡贫困人口" in parts[1].focus


def test_list_question_is_not_a_number_question():
    (part,) = split_question("“五个一批”工程具体包括哪五个“一批”？")
    assert part.is_list and part.wants == ""


def test_figure_focus_names_what_is_counted():
    assert figure_focus("一共动员了多少名普查员和普查指导员") [:2] == ("普查员", "普查指导员")
