"""The text units shared by every answering stage, and the everyday words of questions."""

from __future__ import annotations

from qa.colloquial import official_terms
from qa.text import answer_sentences, char_bigrams, clause_bounds, clauses, place_names, says_now, years_in


def test_clauses_end_at_commas_colons_and_brackets_but_not_at_enumeration_commas():
    text = "在岗第一书记19.5万名、驻村干部77.5万名（截至2020年），成效明显。"
    start = text.index("19.5")
    assert text[slice(*clause_bounds(text, start, start + 4))] == "在岗第一书记19.5万名、驻村干部77.5万名"
    short = "甲，乙；丙"
    assert [short[a:b] for a, b in clauses(short)] == ["甲，", "乙；", "丙"]


def test_answer_sentences_keep_their_markers_and_join_to_the_answer():
    answer = "第一句。[1]第二句！[2][3]没有标记的尾巴"
    spans = answer_sentences(answer)
    assert [answer[a:b] for a, b in spans] == ["第一句。[1]", "第二句！[2][3]", "没有标记的尾巴"]
    assert "".join(answer[a:b] for a, b in spans) == answer


def test_bigrams_stay_inside_words_and_skip_glue_characters():
    assert char_bigrams("扶贫的工作") == {"扶贫", "贫工", "工作"}
    assert char_bigrams("扶贫，工作", frozenset()) == {"扶贫", "工作"}


def test_years_as_written_and_as_users_type_them():
    assert years_in("从2013年到2017年") == {2013, 2017}
    assert years_in("13年到17年", short_years=True) == {2013, 2017}
    assert years_in("20、21年那会儿", short_years=True) == {2020, 2021}
    assert years_in("19到20年", short_years=True) == {2019, 2020}
    assert years_in("“十三五”期间") == {2016, 2017, 2018, 2019, 2020}
    assert years_in("13年到17年") == frozenset()  # in documents a bare 13年 is a duration


def test_now_words_but_not_inside_other_words():
    assert says_now("目前全国累计选派了多少名第一书记？") and says_now("最新的数字是多少")
    assert not says_now("这体现在三个方面") and not says_now("最近3年的数字")


def test_everyday_words_bring_the_official_terms():
    assert "危房" in official_terms("拉萨给贫困户修破房子花了多少钱？")
    assert "饮水" in official_terms("昌都家里拧开水龙头就有水的比例有多高？")
    assert "辍学" in official_terms("以前上不起学回家的孩子后来怎么样了？")
    assert official_terms("危房改造了多少户？") == ()  # official words need nothing


def test_a_bare_city_name_must_stand_as_a_word():
    assert "保定" not in place_names("确保定点扶贫的中央财政投入多少？", loose=True)
    assert "西安" not in place_names("陕西安康有多少贫困人口？", loose=True)
    assert "遵义" in place_names("那遵义带动了多少？", loose=True)


def test_jieba_place_tags_beside_a_known_place_only_where_they_add_a_place():
    # jieba tags the person 扎西 and the verb 上门 as places
    assert place_names("山南军分区那个次仁扎西，挨家挨户上门看过多少穷人家", loose=True) == ("山南",)
    assert "阿里地区" in place_names("阿里地区建立了几级书记抓扶贫的工作机制？", loose=True)
    assert "乃东区" in place_names("国家烟草专卖局给山南乃东区拿了多少帮扶资金？", loose=True)
    # a name with an administrative suffix right after a province or prefecture is a place of its own
    assert "兰考县" in place_names("河南兰考县什么时候脱贫", loose=True)
    assert "柳梧乡" in place_names("拉萨柳梧乡有多少建档立卡人口脱贫", loose=True)
    assert place_names("那东京呢", loose=True) == ("东京",)  # no known place: jieba's tag stands


def test_a_question_word_is_no_place_name():
    assert place_names("全国有多少县长以上的官员上网直播？", loose=True) == ()
    assert place_names("哪个县最多？", loose=True) == ()
