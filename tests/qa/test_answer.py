"""Pure parts of the extractive answerer: terms, coverage, numbers near their subject, lists."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from index.types import Sentence
from qa.answer import (
    MIN_FOCUS,
    clause_around,
    coverage_of,
    enumeration_score,
    focus_near_number,
    novelty,
    ordinal_of,
    paragraph_before,
    time_match,
    wanted_quantities,
    weighted_terms,
)
from qa.query import asked_list_size, asked_units, figure_focus, split_question

ONE = lambda term: 1.0  # noqa: E731 - every term weighs the same


def test_weighted_terms_drop_question_words_single_characters_and_straddling_bigrams():
    terms = weighted_terms("解决“怎么扶”问题的工程具体包括哪些？", term_weight=ONE, method="bigram")
    assert "扶" not in terms and "哪些" not in terms and "的工" not in terms
    assert {"解决", "问题", "工程"} <= set(terms)


def test_weighted_terms_leave_out_words_no_document_uses():
    known = {"学生", "辍学"}
    terms = weighted_terms("念书的学生", term_weight=lambda t: 2.0 if t in known else 0.0, method="bigram")
    assert terms == {"学生": 2.0}


def test_coverage_is_idf_weighted():
    terms = {"扶贫": 1.0, "普查": 3.0}
    assert coverage_of("扶贫工作", terms) == pytest.approx(0.25)
    assert coverage_of("扶贫普查", terms) == pytest.approx(1.0)
    assert coverage_of("无关", {}) == 0.0


def _focus(phrase: str) -> dict[str, float]:
    return weighted_terms(phrase, term_weight=ONE, method="bigram")


def test_focus_must_be_named_in_the_numbers_clause():
    text = "大会宣告9899万农村贫困人口全部脱贫，会上表彰了先进个人和先进集体代表。"
    assert focus_near_number(text, [_focus("先进个人")], wanted_quantities(text, "number")) == 0.0
    text = "对52个未摘帽贫困县实施挂牌督战。"
    assert focus_near_number(text, [_focus("未摘帽贫困县")], wanted_quantities(text, "number")) == 1.0


def test_focus_may_be_named_in_the_clause_before_the_number():
    text = "我国国内生产总值从1952年的679.1亿元跃升至2020年的101.6万亿元,实际增长约189倍。"
    quantities = list(wanted_quantities(text, "number", ("倍",)))
    assert focus_near_number(text, [_focus("国内生产总值")], quantities) == 1.0


def test_a_focus_phrase_must_be_named_whole():
    text = "全市通电率达100%,主电网覆盖72.99万人、覆盖率达93%。"
    score = focus_near_number(text, [_focus("森林覆盖率")], wanted_quantities(text, "percent"))
    assert 0 < score < MIN_FOCUS


def test_clause_around_takes_the_clause_and_the_one_before():
    text = "第一句，第二句有12个，第三句。"
    start = text.index("12")
    assert clause_around(text, start, start + 3) == "第一句，第二句有12个"
    text = "甲，乙，丙有5个，丁"
    start = text.index("5")
    assert clause_around(text, start, start + 2) == "乙，丙有5个"


def test_time_match_prefers_the_figure_stated_for_the_year_asked():
    text = "贫困人口纯收入从2015年的1499元增加到2019年的9328元"
    quantities = wanted_quantities(text, "number")
    assert time_match(text, "", ["2019"], quantities) == 1.0
    other = "全市人均纯收入达到1499元"
    assert time_match(other, "2019年，", ["2019"], wanted_quantities(other, "number")) == 0.5
    assert time_match(other, "", ["2019"], wanted_quantities(other, "number")) == 0.0


def test_novelty_is_the_share_of_the_sentence_the_question_does_not_say():
    question = set(weighted_terms("中央统筹管什么", ONE, "bigram")) | {"中央", "央统", "统筹"}
    assert novelty("中央统筹", question) == 0.0
    assert novelty("中央统筹就是做好顶层设计", question) > 0.5


def test_paragraph_before_includes_the_heading_above_the_paragraph():
    text = "●中央扶贫开发工作会议\n2015年11月27日至28日在京召开。会议要求落实。"
    start = text.index("会议要求")
    assert paragraph_before(text, start) == "●中央扶贫开发工作会议\n2015年11月27日至28日在京召开。"
    long_line = "上一段很长的正文。" * 10
    text = long_line + "\n这一段开头。"
    assert paragraph_before(text, text.index("这一段")) == ""


def _index_of(sentences: list[str]) -> SimpleNamespace:
    """Just enough of an index for enumeration_score: its sentences in one document."""
    found, start = [], 0
    for number, text in enumerate(sentences):
        found.append(Sentence(number, "doc.txt", start, start + len(text), text))
        start += len(text)
    return SimpleNamespace(sentences=found)


def test_enumeration_of_the_asked_length_scores_full_and_a_longer_one_half():
    data = _index_of(
        [
            "要严格落实摘帽不摘责任、摘帽不摘政策、摘帽不摘帮扶、摘帽不摘监管的要求。",
            "增强“四个意识”、坚定“四个自信”、做到“两个维护”、攻坚克难、主动创新。",
        ]
    )
    four, five = data.sentences
    assert enumeration_score(four, data, {}, wanted=4) == 1.0
    assert enumeration_score(five, data, {}, wanted=4) == 0.5
    assert enumeration_score(five, data, {}, wanted=0) == 1.0


def test_enumeration_counts_numbered_items_that_follow():
    data = _index_of(["主要有三条经验。", "一是坚持党的领导。", "二是坚持精准方略。", "三是坚持群众主体。"])
    assert enumeration_score(data.sentences[0], data, {}, wanted=3) == 1.0


@pytest.mark.parametrize(
    "text,number",
    [
        ("一是发展生产脱贫一批。", 1),
        ("（三）强化体制机制。", 3),
        ("第十二条 规定", 12),
        ("第二，坚持标准。", 2),
        ("4.加强领导", 4),
        ("十一是其他。", 11),
        ("一批干部", None),
        ("二十三是……", 23),
    ],
)
def test_ordinal_of(text, number):
    assert ordinal_of(text) == number


def test_multi_part_question_splits_into_parts_with_their_own_kind():
    parts = split_question("2015年底西藏的贫困发生率是多少？当年西藏建档立卡贫困人口有多少？")
    assert [p.wants for p in parts] == ["percent", "number"]
    assert parts[0].focus == ("发生率",)
    assert parts[1].focus == ("贫困人口",)


def test_respectively_asks_each_item_on_its_own():
    parts = split_question("西藏贫困人口的人均纯收入，2019年和2020年分别是多少？")
    assert [p.text for p in parts] == [
        "西藏贫困人口的人均纯收入，2019年是多少",
        "西藏贫困人口的人均纯收入，2020年是多少",
    ]
    parts = split_question("建档立卡贫困人口中因病致贫和因残致贫的比例分别超过多少？")
    assert [p.text for p in parts] == ["建档立卡贫困人口中因病致贫的比例超过多少", "因残致贫的比例超过多少"]
    assert {p.wants for p in parts} == {"percent"}


def test_list_question_is_not_a_number_question_and_knows_its_length():
    (part,) = split_question("“五个一批”工程具体包括哪五个“一批”？")
    assert part.is_list and part.wants == "" and part.list_size == 5
    assert asked_list_size("“千”具体指的是哪两项工作") == 2
    assert asked_list_size("包括哪十二个方面") == 12
    assert asked_list_size("有哪些要求") == 0


def test_figure_focus_names_what_is_counted():
    assert figure_focus("一共动员了多少名普查员和普查指导员") == ("普查员", "指导员")
    assert figure_focus("表彰了多少名全国脱贫攻坚先进个人") == ("先进个人",)
    assert figure_focus("向多少户贫困户发放了贷款") == ("贫困户",)
    assert figure_focus("林芝市2020年的森林覆盖率达到了多少") == ("森林覆盖率",)
    # Verbs, times and places around the question word are not what is counted.
    assert figure_focus("那曲市累计减贫了多少户") == ()
    assert figure_focus("“十三五”期间从多少提高到了多少") == ()


def test_asked_units_only_when_every_question_word_names_one():
    assert asked_units("每人每年收入多少元") == ("元",)
    assert set(asked_units("一共有多少户、多少人脱贫")) == {"户", "人", "名", "人次"}
    assert asked_units("投入了多少资金、建设了多少个村") == ()
