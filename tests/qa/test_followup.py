"""Follow-up questions carry the scope of the question before them."""

from __future__ import annotations

import pytest

from qa.followup import is_follow_up, resolve
from qa.query import analyze


@pytest.mark.parametrize(
    "history,question,expected",
    [
        # a new place replaces the old one
        (["日喀则2020年脱贫人口人均可支配收入是多少？"], "那那曲呢？", "那曲2020年脱贫人口人均可支配收入是多少？"),
        (["四川2021年识别出多少易返贫人口？"], "那河南呢？", "河南2021年识别出多少易返贫人口？"),
        # a new year or period replaces the old one, a relative year moves it
        (["2013到2017年中央财政专项扶贫资金增加了多少？"], "那2020年呢？", "2020年中央财政专项扶贫资金增加了多少？"),
        (["日喀则2020年脱贫人口人均可支配收入是多少？"], "那前一年呢？", "日喀则2019年脱贫人口人均可支配收入是多少？"),
        (
            ["日喀则“十三五”期间贫困群众转移就业累计多少人次？"],
            "那2021年以来呢？",
            "日喀则2021年以来贫困群众转移就业累计多少人次？",
        ),
        # years as users type them (「18到21年」, 「16、17年」, 「17年」), written out as documents write them
        (
            ["18到21年全国给扶贫干部发了多少生活补助？"],
            "那16、17年那两年呢？",
            "2016、2017年全国给扶贫干部发了多少生活补助？",
        ),
        (["13年贫困人口有多少？"], "那17年呢？", "2017年贫困人口有多少？"),
        (["西藏2016年有几个县区脱贫摘帽？"], "那17年呢？", "西藏2017年有几个县区脱贫摘帽？"),
        # a new time and a new place at once
        (["总书记19年去甘肃考察是几号到几号？"], "那20年去陕西呢？", "总书记2020年去陕西考察是几号到几号？"),
        (["西藏贫困人口有多少？"], "那20年的四川呢？", "2020年四川贫困人口有多少？"),
        (
            ["日喀则十三五时期开工建设了多少个特色产业项目？"],
            "那２１年呢？",
            "日喀则2021年开工建设了多少个特色产业项目？",
        ),
        # the whole country is a place like any other, and 「同一时间」 keeps the time
        (["2020年全国居民人均可支配收入是多少？"], "那西藏居民呢？", "2020年西藏居民人均可支配收入是多少？"),
        (["2015年底西藏的贫困发生率是多少？"], "那全国同一时间呢？", "2015年底全国的贫困发生率是多少？"),
        # a level of government, a round, or the thing counted
        (["中央财政专项扶贫资金年均增长多少？"], "省级的呢？", "省级财政专项扶贫资金年均增长多少？"),
        (["贡嘎森布日安置点一期住进了那曲多少户？"], "二期呢？", "贡嘎森布日安置点二期住进了那曲多少户？"),
        (["西藏累计发放了多少扶贫贴息贷款？"], "那小额信贷呢？", "西藏累计发放了多少小额信贷？"),
        # the quoted term a question asked the meaning of
        (["座谈会上讲的「省负总责」是什么意思？"], "那市县抓落实呢？", "座谈会上讲的「市县抓落实」是什么意思？"),
        (["“两不愁三保障”指的是什么？"], "那“五个一批”呢？", "“五个一批”指的是什么？"),
        # another item of a list the earlier question named
        (["中央统筹、省负总责、市县抓落实里面，市县抓落实是啥意思？"], "那中央统筹呢？", "中央统筹是啥意思？"),
    ],
)
def test_a_follow_up_replaces_the_slot_it_names(history, question, expected):
    resolved = resolve(question, history)
    assert resolved.rewritten and resolved.text == expected


def test_a_follow_up_asking_something_new_keeps_the_earlier_question_as_context():
    resolved = resolve("其中中央财政出了多少？", ["脱贫攻坚这8年，中央省市县财政专项扶贫资金一共投了多少？"])
    assert resolved.text.startswith("脱贫攻坚这8年，中央省市县财政专项扶贫资金")
    assert resolved.text.endswith("其中中央财政出了多少？") and "一共" not in resolved.text
    # the new question's own year replaces the earlier one's
    resolved = resolve("那2016年是多少？", ["2012年全国农村低保标准每人每年是多少？"])
    assert "2016年" in resolved.text and "2012" not in resolved.text and "低保标准" in resolved.text


def test_a_pronoun_or_inside_word_points_back():
    # 「他」 (not 「其他」) is the person of the earlier question; 「里面」 is inside its subject.
    resolved = resolve("他协调了多少钱扶持贫困村建项目？", ["山南军分区那个次仁扎西组织开展了什么行动？"])
    assert resolved.rewritten and "次仁扎西" in resolved.text
    assert not is_follow_up("其他省份的经验值得借鉴吗？")
    assert "产业园" in resolve("里面进了多少家企业？", ["沪滇协作产业园建在云南哪个地方？"]).text


def test_a_later_part_of_one_question_keeps_or_borrows_its_subject():
    from qa.query import split_question

    def parts(question: str) -> list[str]:
        return [part.text for part in split_question(question)]

    # its own subject, the earlier part's place
    assert parts("2015年西藏建档立卡贫困人口有多少？到2019年底累计脱贫多少？")[1] == "西藏到2019年底累计脱贫多少"
    assert parts("全国一共派了多少个驻村工作队？西藏又派了多少人次干部驻村？")[1] == "西藏又派了多少人次干部驻村"
    # little beside a place, or a pronoun: the earlier part's subject
    assert "贫困人口" in parts("全国有多少贫困人口？西藏有多少？")[1]
    assert "脱贫" in parts("2019年西藏脱贫了多少人？他们人均纯收入提高了多少？")[1]
    # the items of 「各」/「分别」 are whole questions
    assert parts("昌都和那曲各脱贫了多少人？") == ["昌都脱贫了多少人", "那曲脱贫了多少人"]
    # two places joined ask the rest of the question of each, wherever 分别 stands
    assert parts("2020年拉萨和日喀则脱贫群众人均收入分别是多少？") == [
        "2020年拉萨脱贫群众人均收入是多少",
        "2020年日喀则脱贫群众人均收入是多少",
    ]
    assert parts("拉萨和林芝的人均纯收入，到2020年分别是多少？")[1] == "林芝的人均纯收入，到2020年是多少"
    # 「贫困县区」 is no place: the part names 西藏 alone
    assert parts("全国一共多少个贫困县摘帽？西藏又有多少个贫困县区摘帽？")[1] == "西藏又有多少个贫困县区摘帽"


def test_a_chain_of_follow_ups_keeps_its_subject():
    history = ["民主党派搞脱贫攻坚民主监督是哪年开始的？", "一共搞了几年？"]
    assert "民主监督" in resolve("他们对口盯了几个省？", history).text


def test_a_self_contained_question_is_not_rewritten():
    assert not is_follow_up("2015年底西藏的贫困发生率是多少？")
    resolved = resolve("2015年底西藏的贫困发生率是多少？", ["扶贫日是哪一天？"])
    assert not resolved.rewritten and resolved.text == "2015年底西藏的贫困发生率是多少？"
    assert not resolve("那2017年呢？", []).rewritten


def test_analysis_reports_the_rewritten_question_and_its_scope():
    info, rewritten = analyze("那那曲呢？", [{"role": "user", "content": "昌都农村集中供水率到了多少？"}])
    assert rewritten == "那曲农村集中供水率到了多少？"
    assert info.parts[0].places == ("那曲",) and info.parts[0].wants == "percent"


def test_a_short_question_without_a_place_or_time_keeps_only_those_of_the_one_before():
    history = ["2013到2020年中央单位定点扶贫投了多少帮扶资金和物资？"]
    assert resolve("帮着引进的各类资金有多少？", history).text == "2013到2020年帮着引进的各类资金有多少？"
    # a question with its own subject and nothing to carry over is left as it is
    assert not resolve("脱贫攻坚取得了哪些成就？", ["中央层面共安排多少个单位定点帮扶贫困县？"]).rewritten


def test_a_time_is_not_a_subject():
    # 「到2020年提高到多少了？」 names a time and a change, not what changed: the earlier question's.
    resolved = resolve("到2020年提高到多少了？", ["林芝建档立卡贫困人口人均纯收入2015年是多少？"])
    assert resolved.rewritten and "人均纯收入" in resolved.text and "2015" not in resolved.text
    assert "通车总里程" in resolve("比2015年多了多少？", ["阿里现在农村公路通车总里程有多少？"]).text


def test_a_follow_up_naming_only_a_new_subject_asks_the_earlier_question_of_it():
    resolved = resolve("那十九届四中全会呢？", ["党的十九大是哪天开的？"])
    assert "哪天" in resolved.text and "十九届四中全会" in resolved.text
    assert analyze("那十九届四中全会呢？", [{"role": "user", "content": "党的十九大是哪天开的？"}])[0].parts[0].wants
    # a place with a new subject after it is not just a new place for the old subject
    resolved = resolve("那嘉黎县娘亚牦牛养殖基地呢？", ["那曲嘎尔德扶贫畜牧产业示范基地的产品卖了多少钱？"])
    assert "娘亚牦牛养殖基地" in resolved.text and "多少钱" in resolved.text


def test_the_thing_counted_is_replaced_from_a_word_start():
    assert resolve("那初中呢？", ["昌都义务教育阶段小学入学率是多少？"]).text.startswith("昌都")


def test_a_figure_asked_without_a_place_is_of_the_earlier_questions_place_however_long():
    history = ["措勤县靠电商累计帮牧民群众卖了多少钱的产品？"]
    assert resolve("带动了多少户建档立卡贫困户创收？", history).text == "措勤县带动了多少户建档立卡贫困户创收？"
    # 「这笔钱」「会上」 point back like 「这些」
    assert is_follow_up("这笔钱计划用来搬多少贫困人口？") and is_follow_up("会上总书记一共提了几点要求？")
    # 「这几个地方」「这两个县」 point back to what the earlier question listed
    assert is_follow_up("这几个地方集中了全区多少贫困人口？") and is_follow_up("这两个县有多少人？")
    assert "主战场" in resolve("这几个地方集中了全区多少贫困人口", ["西藏脱贫攻坚三大主战场是哪几个地方"]).text
    # jieba's 「惠及」 is no place that would replace 日喀则
    assert "日喀则" in resolve("惠及多少人次", ["日喀则农村低保落实了多少资金？"]).text


def test_a_follow_up_naming_its_own_subject_and_asking_of_it_keeps_only_the_earlier_scope():
    history = ["解决“两不愁三保障”突出问题座谈会是在哪个城市召开的？"]
    resolved = resolve("那2020年3月开的决战决胜脱贫攻坚座谈会呢，在哪儿开的？", history).text
    assert "两不愁" not in resolved and "决战决胜脱贫攻坚座谈会" in resolved
    # the earlier place and time carry over, once each
    resolved = resolve("那书记们下去跑贫困户、贫困村的比例有多少？", ["阿里地区建立了几级书记抓扶贫的工作机制？"]).text
    assert resolved.startswith("阿里地区书记们")
    # 「里面…」 still asks inside the earlier subject
    resolved = resolve("里面进了多少家企业？", ["沪滇协作产业园建在云南什么地方？"]).text
    assert "产业园" in resolved


def test_follow_ups_that_point_back_with_still_or_again_are_rewritten_once():
    # 还/又 point back: this once recursed without end
    resolved = resolve("那拉萨市城关区还有多少贫困人口？", ["西藏2019年有多少建档立卡贫困人口？"])
    assert resolved.rewritten and "城关区" in resolved.text


def test_a_question_with_its_own_subject_keeps_it():
    # a subject of its own (a noun first), so nothing carries over however it asks
    assert not resolve("万企帮万村行动累计组织动员了多少家民营企业？", ["西藏2019年底有多少个贫困县区摘帽？"]).rewritten
    assert not resolve(
        "在打好精准脱贫攻坚战座谈会上，总书记提出了几点要求？", ["西藏2019年有多少贫困县区摘帽？"]
    ).rewritten
    # the rewritten follow-up keeps its own asking words and mark
    resolved = resolve(
        "那2020年3月开的决战决胜脱贫攻坚座谈会呢，在哪儿开的？",
        ["解决“两不愁三保障”突出问题座谈会是在哪个城市召开的？"],
    )
    assert resolved.text.endswith("在哪儿开的？")
