"""Pure parts of the answer features: terms, coverage, numbers near their subject, lists, forms."""

from __future__ import annotations

import pytest

from index.types import Sentence
from qa.colloquial import without_everyday_words
from qa.evidence import paragraph_before
from qa.features import (
    asks_a_part,
    asks_of_nothing_known,
    coverage_of,
    enumeration_score,
    focus_near_number,
    form_check,
    missing_weight,
    novelty,
    numbered_items,
    numbered_slogans,
    ordinal_of,
    spells_out,
    unknown_share,
    wanted_quantities,
    weighted_terms,
)
from qa.query import asked_list_size, asked_units, figure_focus, split_question
from qa.text import char_bigrams, clause_with_previous

ONE = lambda term: 1.0  # noqa: E731 - every term weighs the same


def test_weighted_terms_drop_question_words_single_characters_and_straddling_bigrams():
    terms = weighted_terms("解决“怎么扶”问题的工程具体包括哪些？", term_weight=ONE, tokenizer="bigram")
    assert "扶" not in terms and "哪些" not in terms and "的工" not in terms
    assert {"解决", "问题", "工程"} <= set(terms)


def test_weighted_terms_leave_out_words_no_document_uses():
    known = {"学生", "辍学"}
    weight = lambda t: 2.0 if t in known else 0.0  # noqa: E731
    assert weighted_terms("念书的学生", term_weight=weight, tokenizer="bigram") == {"学生": 2.0}
    # ... but the share of them is a feature: 「女性劳动力」 asks about something no document covers.
    assert unknown_share("念书的学生", weight, "bigram") == pytest.approx(0.5)
    # an everyday word the documents say in official terms (念书: 就读, 入学) is not unknown to them
    assert unknown_share(without_everyday_words("念书的学生"), weight, "bigram") == 0.0


def test_coverage_is_idf_weighted():
    terms = {"扶贫": 1.0, "普查": 3.0}
    assert coverage_of("扶贫工作", terms) == pytest.approx(0.25)
    assert coverage_of("扶贫普查", terms) == pytest.approx(1.0)
    assert coverage_of("无关", {}) == 0.0
    assert missing_weight("扶贫工作", terms) == pytest.approx(0.75)


def _focus(phrase: str) -> dict[str, float]:
    return weighted_terms(phrase, term_weight=ONE, tokenizer="bigram")


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
    assert 0 < score < 0.65


def test_clause_with_previous_takes_the_clause_and_the_one_before():
    text = "第一句，第二句有12个，第三句。"
    start = text.index("12")
    assert clause_with_previous(text, start, start + 3, 30) == "第一句，第二句有12个"
    text = "甲，乙，丙有5个，丁"
    start = text.index("5")
    assert clause_with_previous(text, start, start + 2, 30) == "乙，丙有5个"


def test_a_bare_count_takes_the_unit_of_the_words_after_it():
    text = "960多万生活在“一方水土养不好一方人”地区的贫困人口通过易地搬迁实现脱贫。"
    assert [q.text for q in wanted_quantities(text, "number", ("人", "名"))] == ["960多万"]
    assert [q.text for q in wanted_quantities(text, "number", ("户",))] == ["960多万"]  # qa.scope checks the words


def test_novelty_is_the_share_of_the_sentence_the_question_does_not_say():
    question = char_bigrams("中央统筹管什么", frozenset())
    assert novelty("中央统筹", question) == 0.0
    assert novelty("中央统筹就是做好顶层设计", question) > 0.5


def test_paragraph_before_includes_the_heading_above_the_paragraph():
    text = "●中央扶贫开发工作会议\n2015年11月27日至28日在京召开。会议要求落实。"
    start = text.index("会议要求")
    assert paragraph_before(text, start) == "●中央扶贫开发工作会议\n2015年11月27日至28日在京召开。"
    long_line = "上一段很长的正文。" * 10
    text = long_line + "\n这一段开头。"
    assert paragraph_before(text, text.index("这一段")) == ""


def _sentences(texts: list[str]) -> list[Sentence]:
    found, start = [], 0
    for number, text in enumerate(texts):
        found.append(Sentence(number, "doc.txt", start, start + len(text), text))
        start += len(text)
    return found


def test_enumeration_of_the_asked_length_scores_full_and_a_longer_one_half():
    four = "要严格落实摘帽不摘责任、摘帽不摘政策、摘帽不摘帮扶、摘帽不摘监管的要求。"
    five = "增强“四个意识”、坚定“四个自信”、做到“两个维护”、攻坚克难、主动创新。"
    assert enumeration_score(four, 0, {}, wanted=4) == 1.0
    assert enumeration_score(five, 0, {}, wanted=4) == 0.5
    assert enumeration_score(five, 0, {}, wanted=0) == 1.0


def test_numbered_items_that_follow_an_introduction():
    intro, *rest = _sentences(["主要有三条经验。", "一是坚持党的领导。", "二是坚持精准方略。", "三是坚持群众主体。"])
    items = numbered_items(intro, rest)
    assert [s.text for s in items] == [s.text for s in rest]
    assert enumeration_score(intro.text, len(items), {}, wanted=3) == 1.0
    assert numbered_items(intro, _sentences(["无关。", "也无关。", "一是晚了。", "二是晚了。"])) == []


def test_headings_and_bylines_never_answer():
    assert form_check("全面打赢脱贫攻坚战").conflict == "form"
    assert form_check("■ 拉萨市乡村振兴局").conflict == "form"
    assert not form_check("2016年，西藏5个贫困县区率先脱贫摘帽；")
    assert not form_check("◆ 2016年11月23日，国务院印发《“十三五”脱贫攻坚规划》")


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
    assert parts[0].focus == ("贫困发生率",)
    assert parts[1].focus == ("建档立卡贫困人口",)
    assert "2015年底" in parts[1].text  # the later part keeps the subject of the first


def test_a_space_between_two_questions_separates_them():
    parts = split_question("西藏贫困人口人均纯收入19年是多少 20年又是多少")
    assert len(parts) == 2 and "19年" in parts[0].text and "20年" in parts[1].text
    assert "纯收入" in parts[1].text  # the second leans on the first's subject
    # A space inside one question (a pasted title, a number and its unit) separates nothing.
    assert len(split_question("十九届五中全会 是哪几天开的")) == 1
    assert [p.text for p in split_question("2020 年西藏有多少人")] == ["2020 年西藏有多少人"]


def test_respectively_asks_each_item_on_its_own():
    parts = split_question("西藏贫困人口的人均纯收入，2019年和2020年分别是多少？")
    assert [p.text for p in parts] == [
        "西藏贫困人口的人均纯收入，2019年是多少",
        "西藏贫困人口的人均纯收入，2020年是多少",
    ]
    parts = split_question("建档立卡贫困人口中因病致贫和因残致贫的比例分别超过多少？")
    assert parts[0].text == "建档立卡贫困人口中因病致贫的比例超过多少"
    assert parts[1].text.endswith("因残致贫的比例超过多少")
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
    assert figure_focus("那曲2021年衔接资金项目的完工率是多少") == ("完工率",)
    assert figure_focus("万企帮万村帮扶的那些村里，深度贫困村有多少个") == ("深度贫困村",)
    # 「这里面」 says a part is asked, not what is counted.
    assert figure_focus("农牧民工联队带动了劳动力转移就业，这里面建档立卡贫困户有多少人") == ("建档立卡贫困户",)
    # 中 and 里 as localizers end the whole a part is asked of; 中央 is a name
    assert figure_focus("中央财政专项扶贫资金多少") == ("中央财政专项扶贫资金",)
    assert figure_focus("贫困家庭中女性有多少") == ("女性",)
    assert figure_focus("脱贫人口里女性占多少") == ("女性",)
    # Verbs, times and places around the question word are not what is counted.
    assert figure_focus("那曲市累计减贫了多少户") == ()


def test_asked_units_only_when_every_question_word_names_one():
    assert asked_units("每人每年收入多少元") == ("元",)
    assert set(asked_units("一共有多少户、多少人脱贫")) == {"户", "人", "名", "人次"}
    assert asked_units("投入了多少资金、建设了多少个村") == ()


def test_an_only_the_sentence_says_too_is_the_part_asked():
    assert asks_a_part("其中女党员有多少？", "全国共有党员9000多万名")
    assert asks_a_part("光印材料就花了多少钱", "全乡共花了10多万元")
    assert not asks_a_part("有个乡光为了应付检查，印材料就花了多少钱", "有一个乡迎接检查团,仅打印费就花了10多万元")
    # 「其中」 names a sub-group: a sentence's own 「其中」 may be another one.
    assert asks_a_part("其中女性有多少", "其中近3万个村的贫困发生率超过20%")
    assert not asks_a_part("贫困人口有多少", "仅2020年就减少551万人")
    # 「不仅」 and 「光伏」 say no "only"
    assert asks_a_part("光印材料就花了多少钱", "不仅增加了难度，还花了10多万元")
    assert not asks_a_part("其中妇女占多少", "直接带动1.2万贫困群众就业,其中妇女占比达78%")
    assert asks_a_part("其中女党员有多少", "共有党员9000多万名,其中近3万个村的贫困发生率超过20%")


def test_years_joined_under_respectively_share_what_stands_before_the_first():
    parts = split_question("西藏贫困人口人均纯收入19年和20年各是多少")
    assert [p.text for p in parts] == ["西藏贫困人口人均纯收入19年是多少", "西藏贫困人口人均纯收入20年是多少"]
    assert [p.text for p in split_question("拉萨2019年底和2020年底分别有多少人")] == [
        "拉萨2019年底有多少人",
        "拉萨2020年底有多少人",
    ]


@pytest.mark.parametrize(
    "question, slogans",
    [
        ("两不愁三保障是什么意思", ((2, "不愁"), (3, "保障"))),
        ("“六个精准”具体指哪六个", ((6, "精准"),)),
        ("五个一批都有哪些", ((5, "一批"),)),
        # counts of time, people or plans are no slogans
        ("十三五期间搬了多少人", ()),
        ("十一五的时候呢", ()),
        ("两个月里", ()),
        ("三年行动", ()),
        ("第三个是什么", ()),
    ],
)
def test_numbered_slogans(question, slogans):
    assert numbered_slogans(question) == slogans


def test_a_sentence_spells_out_a_slogan_by_its_items():
    both = numbered_slogans("两不愁三保障是什么意思")
    assert spells_out("稳定实现农村贫困人口不愁吃、不愁穿，义务教育、基本医疗、住房安全有保障", both)
    assert not spells_out("全市贫困户全面实现不愁吃、不愁穿。", both)  # only one of the two
    assert not spells_out("总的看,“两不愁”基本解决了,“三保障”还存在不少薄弱环节。", both)
    six = numbered_slogans("六个精准指的啥")
    assert spells_out('做到扶持对象、项目安排、资金使用、措施到户、因村派人、脱贫成效 " 六个精准 "。', six)
    assert not spells_out("认真落实“六个精准”，深入实施“五个一批”", six)
    # a word repeated outside a list lists nothing
    four = numbered_slogans("四个全面是什么意思")
    assert not spells_out("全面建成小康社会，全面深化改革，全面依法治国，全面从严治党", four)
    assert spells_out("全面建成小康社会、全面深化改革、全面依法治国、全面从严治党", four)


def test_a_part_that_only_leans_on_the_one_before_asks_what_it_asked():
    parts = split_question("总书记19年去甘肃考察是几号到几号 20年去陕西呢")
    assert parts[1].text == "总书记2020年去陕西考察是几号到几号？" and parts[1].wants == "year"
    assert [p.wants for p in split_question("拉萨有多少贫困人口？日喀则呢？")] == ["number", "number"]


def test_a_question_about_nothing_the_documents_speak_of():
    documents_speak_of_weather = lambda term: 1.0 if term in {"拉萨", "周末", "天气"} else 0.0  # noqa: E731
    assert not asks_of_nothing_known("拉萨这周末天气咋样", ["拉萨"], documents_speak_of_weather, "bigram")
    unknown_weather = lambda term: 1.0 if term in {"拉萨", "收入"} else 0.0  # noqa: E731
    assert asks_of_nothing_known("拉萨这周末天气咋样", ["拉萨"], unknown_weather, "bigram")
    assert not asks_of_nothing_known("拉萨人均收入是多少", ["拉萨"], unknown_weather, "bigram")
    # one unknown word alone is too little to tell (everyday wording)
    assert not asks_of_nothing_known("破房子修好了多少", [], unknown_weather, "bigram")
