"""The scope of a figure (place, nation, year, unit, per-unit, limit, round) against the asked one."""

from __future__ import annotations

from qa.numbers import find_quantities
from qa.scope import article_place, check_figure, check_place, is_sure_place, scope_of, unknown_places
from qa.text import place_keys, place_names


def _scope(question: str):
    return scope_of(question, place_names(question, loose=True))


def _figure(question: str, units: tuple[str, ...], text: str):
    return check_figure(_scope(question), units, text, find_quantities(text))


def test_a_place_no_document_mentions_makes_the_question_unanswerable():
    known = {"西藏", "贫困", "困县"}
    weight = lambda t: 1.0 if t in known else 0.0  # noqa: E731
    assert unknown_places(place_names("湖北省2019年有多少个贫困县摘帽？", loose=True), weight, "bigram")
    assert not unknown_places(place_names("西藏2019年有多少个贫困县摘帽？", loose=True), weight, "bigram")
    assert not unknown_places(place_names("2019年有多少个贫困县摘帽？", loose=True), weight, "bigram")


def test_a_sentence_naming_another_place_has_the_wrong_scope():
    check = check_place(
        _scope("那曲2020年脱贫人口人均可支配收入是多少？"), "日喀则市脱贫人口人均可支配收入11960.1元。", "", ""
    )
    assert check.conflict == "place" and check.stated.startswith("日喀则")
    assert not check_place(_scope("日喀则脱贫人口人均可支配收入是多少？"), "日喀则市脱贫人口收入11960.1元。", "", "")


def test_an_unnamed_sentence_takes_the_place_its_article_is_about():
    article = "日喀则市五年来推进脱贫攻坚。日喀则市各项工作扎实推进。"
    sentence = "全市2020年脱贫人口人均可支配收入达到11960.1元。"
    assert check_place(_scope("那曲2020年脱贫人口收入是多少？"), sentence, "", article).stated == "日喀则"
    assert not check_place(_scope("日喀则2020年脱贫人口收入是多少？"), sentence, "", article)
    # 西藏 runs through its prefectures' articles: it is not another place for them.
    tibet = "西藏自治区的拉萨市。西藏各地推进。"
    assert not check_place(_scope("拉萨2020年脱贫人口收入是多少？"), sentence, "", tibet)
    assert article_place("只提到一次那曲。") is None


def test_the_whole_country_is_a_scope_too():
    national = _scope("全国有多少个行政村建立了垃圾收运处置体系？")
    assert national.nation and not national.places
    assert check_place(national, "拉萨市241个行政村建立了垃圾收运处置体系。", "", "").conflict == "nation"
    assert not check_place(national, "全国241个行政村建立了垃圾收运处置体系。", "", "")
    province = _scope("西藏农网供电可靠率有多少？")
    assert check_place(province, "全国农网供电可靠率达到99%。", "", "").stated == "全国"
    # the country named in passing beside the place asked about
    in_passing = "实现对全国30个民族自治州帮扶全覆盖,明确京津兩市与河北省张家口、承德和保定三市的扶贫协作任务。"
    assert not check_place(_scope("北京和天津要跟河北哪几个市搞扶贫协作？"), in_passing, "", "")


def test_words_jieba_takes_for_places_are_not_places_in_documents():
    assert place_names("扶贫小额贷款4.83万户、20.86亿元,惠及群众。") == ()
    assert not is_sure_place("听取地县") and is_sure_place("札达县") and is_sure_place("那曲市")
    assert {"北京", "拉萨"} <= set(place_names("北京市对口援藏，给拉萨累计投入了多少？", loose=True))
    assert place_names("那曲", loose=True) == ("那曲",)
    assert place_names("全国农村贫困发生率是多少？", loose=True) == ()
    # jieba tags 「满意度」 as a place; a word ending so is a measure
    assert place_names("全国脱贫攻坚第三方评估的群众满意度是多少？", loose=True) == ()
    assert place_keys("阿里地区") == ("阿里",) and place_keys("阿里札达") == ("阿里", "札达")


def test_a_figure_for_another_year_has_the_wrong_scope():
    text = "2021年拉萨市计划实施涉农统筹整合项目206个。"
    assert _figure("拉萨2022年计划实施多少个涉农统筹整合项目？", (), text).conflict == "year"
    assert not _figure("拉萨2021年计划实施多少个涉农统筹整合项目？", (), text)
    # 「13年到20年」 as users type it, and a figure stated for the end of the span.
    span = "贫困地区农村居民人均可支配收入从2013年的6079元增长到2020年的12588元。"
    assert not _figure("13年到20年人均可支配收入涨到多少？", (), span)
    # a year compared with is not the figure's year
    compared = "易地搬迁后续扶持资金投入达600亿元,搬迁群众就业率达94%,较2020年提升5个百分点。"
    assert not _figure("2021年易地搬迁后续扶持资金投入了多少？", (), compared)
    # nor a year the question compares with: 「比2016年高了多少」 asks about 2021 too
    shares = "2021年贫困地区产业带动脱贫人数占比达75%,较2016年提升40个百分点。"
    assert not _figure("2021年靠产业脱贫的占多少？比2016年高了多少", (), shares)
    assert _scope("那比16年多了多少？").years == frozenset()


def test_a_figure_takes_the_year_of_the_nearest_clause_before_it_that_names_one():
    text = "数据显示,2020-2021年,全国有1.2万名县处级以上干部参与直播带货,累计销售贫困地区农产品超过800亿元。"
    assert not _figure("20、21年干部直播一共卖了多少钱？", (), text)
    assert not _figure("2021年干部直播一共卖了多少钱？", (), text)
    assert _figure("2019年干部直播一共卖了多少钱？", (), text).conflict == "year"


def test_a_figure_in_another_unit_has_the_wrong_scope():
    assert _figure("折算下来带动了多少户？", ("户",), "直接带动建档立卡人口65522人次。").conflict == "unit"
    assert _figure("非贫困人口有多少户？", ("户",), "同步搬迁500万非贫困人口。").conflict == "unit"
    assert not _figure("全国一共多少人？", ("人", "名"), "960多万生活在山区的贫困人口实现脱贫。")
    assert not _figure("有多少人得到了救治？", ("人", "名"), "2000多万贫困患者得到分类救治。")


def test_a_yearly_figure_may_read_year_increase():
    # 「人均每年增收」 asked, 「人均年增收」 stated: the same measure
    text = "带动贫困人口人均年增收超过3000元。"
    assert not _figure("产业扶贫让贫困人口人均每年增收多少？", ("元",), text)
    assert (
        _figure("产业扶贫让贫困人口人均每年增收多少？", ("元",), "带动贫困人口增收超过3000元。").conflict == "per_unit"
    )


def test_per_household_limits_and_rounds_are_scopes():
    total = "累计为8153户贫困群众发放扶贫小额信贷资金3.3亿元。"
    assert _figure("户均增收多少？", (), "受益群众达25602人,增收3973万元。").conflict == "per_unit"
    assert _figure("小额信贷一户最多能贷多少？", (), total).conflict in ("limit", "per_unit")
    assert not _figure("平均每年脱贫多少人？", (), "年均脱贫人数1370万人。")
    first_round = "一期那曲市957户4058人已经全部入住。"
    assert _figure("森布日安置点二期住进了多少户？", (), first_round).conflict == "round"
    assert not _figure("森布日安置点一期住进了多少户？", (), first_round)


def test_cities_and_tibetan_counties_jieba_does_not_know_are_places():
    # jieba knows neither 措勤 nor 遵义 as a name
    assert is_sure_place("措勤县") and is_sure_place("遵义市") and is_sure_place("六盘水")
    assert "遵义" in place_names("那遵义带动了多少？", loose=True)
    # names that are everyday words too count only with their suffix
    assert "安康" not in place_names("群众生活安康吗？", loose=True)


def test_a_figure_whose_own_clause_names_another_place_is_theirs():
    sentence = "措勤县成立电子商务公共服务中心，累计帮助牧民群众销售产品4185万元，带动全县1120户建档立卡贫困户创收。"
    asked = _scope("改则县靠电子商务带动了多少户建档立卡贫困户增收？")
    check = check_place(asked, sentence, "阿里地区改则县、措勤县推进电商。", "", find_quantities(sentence)[-1:])
    assert check.conflict == "place" and check.stated == "措勤县"
    own_county = _scope("措勤县靠电子商务带动了多少户贫困户增收？")
    assert not check_place(own_county, sentence, "", "", find_quantities(sentence))


def test_the_whole_of_a_city_or_region_is_not_the_whole_country():
    sentence = "精准开展义务教育控辍保学，全市义务教育巩固率达到99.87%。"
    article = "日喀则市五年来推进脱贫攻坚。日喀则市各项工作扎实推进。"
    check = check_place(_scope("全国义务教育巩固率是多少？"), sentence, "", article, find_quantities(sentence))
    assert check.conflict == "nation" and check.stated == "日喀则"
    assert not check_place(_scope("全国义务教育巩固率是多少？"), "全国义务教育巩固率达到95.2%。", "", "")


def test_a_total_over_years_is_not_a_yearly_figure_nor_the_reverse():
    yearly = "仅札布让作业组就发展家庭旅馆32户，每年接待游客1.8万人次。"
    visitors = [q for q in find_quantities(yearly) if q.unit == "人次"]  # the figure that would answer
    check = check_figure(_scope("这些家庭旅馆这几年加起来总共接待过多少游客？"), ("人次",), yearly, visitors)
    assert check.conflict == "per_unit" and "每年" in check.stated
    assert not check_figure(_scope("这些家庭旅馆每年接待多少游客？"), ("人次",), yearly, visitors)
    # a yearly growth in the next clause does not make the amount yearly
    funds = "统筹整合涉农资金748.48亿元用于脱贫攻坚，年均增幅超过15%。"
    assert not _figure("西藏一共整合了多少涉农资金？", ("元",), funds)
    period = "“十三五”期间,城镇新增就业人数累计超过6000万人。"
    assert _figure("2020年一年城镇新增就业多少人？", ("人",), period).conflict == "year"
    assert not _figure("“十三五”期间城镇新增就业多少人？", ("人",), period)


def test_what_is_not_another_place_for_the_figure():
    # a place that gives to the asked one, a country compared with, a county's own prefecture
    assert not check_place(
        _scope("拉孜县获得了多少援藏资金？"),
        "江苏省累计投入援藏资金5.2亿元。",
        "拉孜县",
        "",
        find_quantities("江苏省累计投入援藏资金5.2亿元。"),
    )
    ranked = "农村居民人均可支配收入增速连续多年位居全国前列，2020年达到16200元。"
    assert not check_place(_scope("拉萨农村居民人均可支配收入是多少？"), ranked, "拉萨市", "", find_quantities(ranked))
    prefecture = "阿里地区统筹资金，在县城建成电商服务中心，带动全县1120户。"
    assert not check_place(_scope("措勤县带动了多少户？"), prefecture, "措勤县", "", find_quantities(prefecture))
    # a policy question's answer may name the place that is its answer
    assert not check_place(_scope("拉孜县是由哪个省对口支援的？"), "江苏省对口支援该县已有20多年。", "拉孜县", "")
    # 「健全县乡村」 is not 「全县」
    clinics = "健全县乡村三级医疗卫生服务体系，累计建成标准化村卫生室58万个。"
    assert not check_place(_scope("全国累计建成多少个标准化村卫生室？"), clinics, "", "", find_quantities(clinics))


def test_the_year_to_date_is_not_a_period():
    assert not _figure("西藏2020年一年城镇新增就业多少人？", (), "2020年，全区累计实现城镇新增就业5.3万人。")
    assert _figure("2020年一年城镇新增就业多少人？", (), "“十三五”期间,城镇新增就业人数累计超过6000万人。")
    assert _figure("2020年一年投入多少？", (), "2016年至2020年累计投入100亿元。").conflict == "year"


def test_a_sentence_opening_with_another_province_is_about_it():
    example = "以河南省为例,该省通过“财政资金扶持+人才技术下沉”模式,2021年实现贫困村集体经济收入全部超过5万元。"
    check = check_place(
        _scope("湖北省2021年贫困村集体经济收入达到多少？"), example, "", "", find_quantities(example)[-1:]
    )
    assert check.conflict == "place" and check.stated.startswith("河南")
