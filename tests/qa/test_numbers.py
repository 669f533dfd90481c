"""Tests for qa.numbers: finding and normalizing quantities in Chinese text."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.numbers import KINDS, Quantity, find_quantities, normalize_digits, parse_quantity, same_quantity, stated_range

FULLWIDTH = str.maketrans("0123456789%.,", "０１２３４５６７８９％．，")


def q(text: str) -> Quantity:
    got = parse_quantity(text)
    assert got is not None, f"no single quantity in {text!r}"
    return got


# text, value, unit, kind, approx, high
FORMS = [
    # the strings the brief names
    ("9899万", 98_990_000, "", "amount", False, None),
    ("12.8万个", 128_000, "个", "amount", False, None),
    ("6601 亿元", 660_100_000_000, "元", "amount", False, None),
    ("3.1%", 3.1, "%", "percent", False, None),
    ("百分之七十", 70, "%", "percent", False, None),
    ("三千多万", 30_000_000, "", "amount", True, None),
    ("1.3万人", 13_000, "人", "amount", False, None),
    ("2-3户", 2, "户", "amount", False, 3),
    ("2017年", 2017, "年", "date", False, None),
    ("98,990,000", 98_990_000, "", "amount", False, None),
    # digits and separators
    ("１２３", 123, "", "amount", False, None),
    ("1，300", 1300, "", "amount", False, None),
    ("９８，９９０，０００", 98_990_000, "", "amount", False, None),
    ("0.5", 0.5, "", "amount", False, None),
    ("12.7 万家", 127_000, "家", "amount", False, None),
    ("5962 元", 5962, "元", "amount", False, None),
    # magnitudes
    ("4300多亿元", 430_000_000_000, "元", "amount", True, None),
    ("9.2 万亿元", 9_200_000_000_000, "元", "amount", False, None),
    ("1.1万亿", 1_100_000_000_000, "", "amount", False, None),
    ("5千", 5000, "", "amount", False, None),
    ("3百万", 3_000_000, "", "amount", False, None),
    ("300 多万名", 3_000_000, "名", "amount", True, None),
    ("350 万余人次", 3_500_000, "人次", "amount", True, None),
    ("10余万户", 100_000, "户", "amount", True, None),
    ("1.5 万公里", 15_000, "公里", "amount", False, None),
    ("192243.17 万元", 1_922_431_700, "元", "amount", False, None),
    # Chinese numerals
    ("十八", 18, "", "amount", False, None),
    ("两", 2, "", "amount", False, None),
    ("两个", 2, "个", "amount", False, None),
    ("八年", 8, "年", "duration", False, None),
    ("一百周年", 100, "周年", "duration", False, None),
    ("三千万", 30_000_000, "", "amount", False, None),
    ("二十多万", 200_000, "", "amount", True, None),
    ("一亿零五万", 100_050_000, "", "amount", False, None),
    ("一千零五", 1005, "", "amount", False, None),
    ("三千五", 3500, "", "amount", False, None),
    ("一万二", 12_000, "", "amount", False, None),
    ("三万亿元", 3_000_000_000_000, "元", "amount", False, None),
    ("十几万人", 100_000, "人", "amount", True, None),
    # percent, per-mille, percentage points
    ("22.7％", 22.7, "%", "percent", False, None),
    ("百分之3.5", 3.5, "%", "percent", False, None),
    ("5‰", 5, "‰", "percent", False, None),
    ("2.3 个百分点", 2.3, "百分点", "percentage_point", False, None),
    ("5百分点", 5, "百分点", "percentage_point", False, None),
    # ranges
    ("2～3", 2, "", "amount", False, 3),
    ("2至3", 2, "", "amount", False, 3),
    ("2 到 3 个", 2, "个", "amount", False, 3),
    ("10%—20%", 10, "%", "percent", False, 20),
    ("10-20%", 10, "%", "percent", False, 20),
    ("3至4个百分点", 3, "百分点", "percentage_point", False, 4),
    ("2-3万", 20_000, "", "amount", False, 30_000),
    ("1.5万-2万元", 15_000, "元", "amount", False, 20_000),
    ("三至五年", 3, "年", "duration", False, 5),
    ("2016-2021年", 2016, "年", "date", False, 2021),
    ("2016 — 2020 年", 2016, "年", "date", False, 2020),
    ("2015年至2020年", 2015, "年", "date", False, 2020),
    ("2021-2025", 2021, "年", "date", False, 2025),
    ("2015年8月至2016年6月", 201508, "年月", "date", False, 201606),
    ("2月21日至23日", 221, "月日", "date", False, 223),
    # approximate markers
    ("近10亿人", 1_000_000_000, "人", "amount", True, None),
    ("约 3.5 万个", 35_000, "个", "amount", True, None),
    ("超过 1800 万人", 18_000_000, "人", "amount", True, None),
    ("逾百分之六十", 60, "%", "percent", True, None),
    ("70% 以上", 70, "%", "percent", True, None),
    ("3000人左右", 3000, "人", "amount", True, None),
    ("0.3%以内", 0.3, "%", "percent", True, None),
    ("3倍以上", 3, "倍", "amount", True, None),
    # dates and durations
    ("2020 年", 2020, "年", "date", False, None),
    ("二〇一三年", 2013, "年", "date", False, None),
    ("2013年11月3日", 20131103, "年月日", "date", False, None),
    ("2013年11月", 201311, "年月", "date", False, None),
    ("10月17日", 1017, "月日", "date", False, None),
    ("十月十七日", 1017, "月日", "date", False, None),
    ("二〇一三年十一月三日", 20131103, "年月日", "date", False, None),
    ("2020-04-30", 20200430, "年月日", "date", False, None),
    ("2020/09", 202009, "年月", "date", False, None),
    ("7月", 7, "月", "date", False, None),
    ("25日", 25, "日", "date", False, None),
    ("8年间", 8, "年", "duration", False, None),
    ("40 多年", 40, "年", "duration", True, None),
    ("近2000年", 2000, "年", "duration", True, None),
    ("1800年", 1800, "年", "duration", False, None),  # outside 1900–2100: not read as a year
    ("3个月", 3, "月", "duration", False, None),
    ("15天", 15, "天", "duration", False, None),
    # ordinals
    ("第三", 3, "", "ordinal", False, None),
    ("第22次", 22, "次", "ordinal", False, None),
    ("第十八届", 18, "届", "ordinal", False, None),
    ("总第151期", None, None, None, None, None),  # not a single quantity: 总 is not part of it
]


@pytest.mark.parametrize("text, value, unit, kind, approx, high", FORMS, ids=[f[0] for f in FORMS])
def test_forms(text, value, unit, kind, approx, high):
    got = parse_quantity(text)
    if value is None:
        assert got is None
        return
    assert got is not None, text
    assert got.text == text and (got.start, got.end) == (0, len(text))
    assert got.value == pytest.approx(value, rel=1e-12)
    assert (got.unit, got.kind, got.approx) == (unit, kind, approx)
    assert got.high == (None if high is None else pytest.approx(high, rel=1e-12))


# Sentences from corpus/*.txt with every quantity they hold: (text, value, unit, kind, high).
SENTENCES = [
    (  # 001
        "2021年2月25日,全国脱贫攻坚总结表彰大会在北京召开,会议庄严宣告我国脱贫攻坚战取得全面胜利,"
        "现行标准下9899万农村贫困人口全部脱贫,832个贫困县全部摘帽,12.8万个贫困村全部出列",
        [
            ("2021年2月25日", 20210225, "年月日", "date", None),
            ("9899万", 98_990_000, "", "amount", None),
            ("832个", 832, "个", "amount", None),
            ("12.8万个", 128_000, "个", "amount", None),
        ],
    ),
    (  # 000
        "2015 — 2020 年累计组织动员 12.7 万家民营企业精准帮扶 13.91 万个村（其中贫困村 7.32 万个）",
        [
            ("2015 — 2020 年", 2015, "年", "date", 2020),
            ("12.7 万家", 127_000, "家", "amount", None),
            ("13.91 万个", 139_100, "个", "amount", None),
            ("7.32 万个", 73_200, "个", "amount", None),
        ],
    ),
    (  # 000
        "其中中央财政累计投入 6601 亿元",
        [("6601 亿元", 660_100_000_000, "元", "amount", None)],
    ),
    (  # 000
        "12588 元，年均增长 11.6%，增长持续快于全国农村，增速比全国农村高 2.3 个百分点",
        [
            ("12588 元", 12588, "元", "amount", None),
            ("11.6%", 11.6, "%", "percent", None),
            ("2.3 个百分点", 2.3, "百分点", "percentage_point", None),
        ],
    ),
    (  # 000
        "我国减贫人口占同期全球减贫人口 70% 以上",
        [("70% 以上", 70, "%", "percent", None)],
    ),
    (  # 001
        "同期因履职不力被问责的干部达1.3万人",
        [("1.3万人", 13_000, "人", "amount", None)],
    ),
    (  # 001
        "平均每名党员帮扶2-3户贫困家庭",
        [("2-3户", 2, "户", "amount", 3)],
    ),
    (  # 001
        "2016-2021年累计带动45.2万贫困群众脱贫,贫困发生率从20.6%降至0",
        [
            ("2016-2021年", 2016, "年", "date", 2021),
            ("45.2万", 452_000, "", "amount", None),
            ("20.6%", 20.6, "%", "percent", None),
            ("0", 0, "", "amount", None),
        ],
    ),
    (  # 002
        "2013—2017年,中央补助地方财政专项扶贫资金从380亿元增加到861亿元,年均增长22.7%",
        [
            ("2013—2017年", 2013, "年", "date", 2017),
            ("380亿元", 38_000_000_000, "元", "amount", None),
            ("861亿元", 86_100_000_000, "元", "amount", None),
            ("22.7%", 22.7, "%", "percent", None),
        ],
    ),
    (  # 003
        "全国现行标准下的农村贫困人口由2012年底的9899万人减少到2017年底的3046万人",
        [
            ("2012年", 2012, "年", "date", None),
            ("9899万人", 98_990_000, "人", "amount", None),
            ("2017年", 2017, "年", "date", None),
            ("3046万人", 30_460_000, "人", "amount", None),
        ],
    ),
    (  # 003
        "3年要实现脱贫3000多万人,平均每年1000多万人,压力不小,难度不小",
        [
            ("3年", 3, "年", "duration", None),
            ("3000多万人", 30_000_000, "人", "amount", None),
            ("1000多万人", 10_000_000, "人", "amount", None),
        ],
    ),
    (  # 000
        "中央、省、市县财政专项扶贫资金累计投入近 1.6 万亿",
        [("近 1.6 万亿", 1_600_000_000_000, "", "amount", None)],
    ),
    (  # 000
        "在迎来中国共产党成立一百周年的重要时刻，党的十八大以来，脱贫攻坚 8 年间",
        [
            ("一百周年", 100, "周年", "duration", None),
            ("十八", 18, "", "amount", None),
            ("8 年间", 8, "年", "duration", None),
        ],
    ),
    (  # 004
        "在中央全面深化改革委员会第二十二次会议上的重要讲话精神",
        [("第二十二次", 22, "次", "ordinal", None)],
    ),
]


@pytest.mark.parametrize("sentence, expected", SENTENCES, ids=[f"s{i}" for i in range(len(SENTENCES))])
def test_corpus_sentences(sentence, expected):
    got = find_quantities(sentence)
    assert [(g.text, g.unit, g.kind) for g in got] == [(e[0], e[2], e[3]) for e in expected]
    for g, (_, value, _, _, high) in zip(got, expected):
        assert sentence[g.start : g.end] == g.text
        assert g.value == pytest.approx(value, rel=1e-12)
        assert g.high == (None if high is None else pytest.approx(high))


@pytest.mark.parametrize(
    "text",
    [
        "十三五规划",
        "千百年来",
        "亿万人民",
        "万企帮万村",
        "数百万村干部",
        "一个又一个",
        "统一思想",
        "四梁八柱",
        "几十美元",
        "三四",
        "",
        "没有数字",
    ],
)
def test_words_that_are_not_figures(text):
    assert find_quantities(text) == []


def test_lone_chinese_digits_need_a_measure_word():
    assert [x.text for x in find_quantities("两不愁三保障，两个维护")] == ["两个"]
    assert [x.text for x in find_quantities("哪一年脱贫")] == []  # lone 一 is an article, not a figure
    assert parse_quantity("一年").value == 1


def test_phone_numbers_are_not_ranges():
    got = find_quantities("电话：0891-6338111-8840")
    assert all(x.high is None for x in got)
    assert [x.text for x in got] == ["0891", "6338111", "8840"]


def test_offsets_with_fullwidth_kept():
    text = "增长２２．７％，共１，３００户"
    got = find_quantities(text)
    assert [(x.text, x.value, x.unit) for x in got] == [("２２．７％", 22.7, "%"), ("１，３００户", 1300, "户")]
    assert all(text[x.start : x.end] == x.text for x in got)


def test_parse_quantity_rejects_more_or_less_than_one():
    assert parse_quantity("") is None
    assert parse_quantity("脱贫") is None
    assert parse_quantity("3人和4人") is None
    assert parse_quantity("共3人") is None
    assert parse_quantity("  3人 ").start == 2


def test_same_quantity():
    assert same_quantity(q("9899万"), q("98,990,000"))
    assert same_quantity(q("9899万"), q("9899 万"))
    assert same_quantity(q("9899万"), q("9899万人"))  # a missing unit is compatible
    assert same_quantity(q("2013年11月3日"), q("2013-11-03"))
    assert same_quantity(q("百分之七十"), q("70%"))
    assert same_quantity(q("4300多亿元"), q("4300亿元"))  # approx is not compared
    assert same_quantity(q("2-3户"), q("2至3户"))
    assert not same_quantity(q("9899万人"), q("9899万户"))
    assert not same_quantity(q("2017年"), q("2017"))  # a year is not an amount
    assert not same_quantity(q("3%"), q("3个百分点"))
    assert not same_quantity(q("5‰"), q("5%"))
    assert not same_quantity(q("2-3户"), q("2户"))
    assert not same_quantity(q("2013年"), q("2013年11月"))
    assert not same_quantity(q("9899万"), q("9898万"))
    assert same_quantity(q("100"), q("100.0000001"), rel_tol=1e-6)


def test_normalize_digits():
    assert normalize_digits("２２．７％，１／２　－～") == "22.7%,1/2 -~"
    assert normalize_digits("脱贫9899万") == "脱贫9899万"


# --- property tests ------------------------------------------------------------------------


def to_chinese(n: int) -> str:
    """Render 0 <= n < 10**12 as a standard Chinese numeral (一亿零五万, 十八, 三千零二)."""
    if n == 0:
        return "零"
    digits = "零一二三四五六七八九"

    def group(g: int) -> str:
        out, zero = "", False
        for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            d = g // unit % 10
            if d == 0:
                zero = bool(out)
                continue
            out += ("零" if zero else "") + digits[d] + name
            zero = False
        return out

    out, gap = "", False
    for part, name in ((n // 10**8, "亿"), (n // 10**4 % 10**4, "万"), (n % 10**4, "")):
        if part == 0:
            gap = bool(out)
            continue
        if out and (gap or part < 1000):
            out += "零"
        out += group(part) + name
        gap = False
    return out[1:] if out.startswith("一十") else out


def test_to_chinese_helper():
    assert [to_chinese(n) for n in (10, 18, 105, 1005, 100_050_000, 30_000_000)] == [
        "十",
        "十八",
        "一百零五",
        "一千零五",
        "一亿零五万",
        "三千万",
    ]


def plain(n: Decimal) -> str:
    return format(n, "f")


def thousands(n: Decimal, sep: str) -> str:
    whole, _, frac = format(n, "f").partition(".")
    return f"{int(whole):,}".replace(",", sep) + ("." + frac if frac else "")


decimals = st.builds(lambda m, k: Decimal(m).scaleb(-k), st.integers(0, 10**9), st.integers(0, 4))
MAGS = {"万": 10**4, "亿": 10**8, "万亿": 10**12, "千万": 10**7, "百万": 10**6, "千": 10**3}
UNITS = {
    "": ("", "amount"),
    "元": ("元", "amount"),
    "人": ("人", "amount"),
    "个": ("个", "amount"),
    "人次": ("人次", "amount"),
    "户": ("户", "amount"),
    "%": ("%", "percent"),
    "个百分点": ("百分点", "percentage_point"),
}


@settings(max_examples=200, deadline=None)
@given(
    n=decimals,
    style=st.sampled_from(["plain", "comma", "fullwidth", "fw-comma"]),
    unit=st.sampled_from(sorted(UNITS)),
    space=st.sampled_from(["", " "]),
)
def test_roundtrip_digits(n, style, unit, space):
    s = (
        {
            "plain": plain(n),
            "comma": thousands(n, ","),
            "fullwidth": plain(n).translate(FULLWIDTH),
            "fw-comma": thousands(n, "，").translate(FULLWIDTH),
        }[style]
        + space
        + unit
    )
    got = q(s)
    assert got.value == float(n)
    assert (got.unit, got.kind) == UNITS[unit]


@settings(max_examples=200, deadline=None)
@given(
    n=decimals,
    mag=st.sampled_from(sorted(MAGS)),
    unit=st.sampled_from(["", "元", "人", "个", "户"]),
    space=st.sampled_from(["", " "]),
    fuzz=st.sampled_from(["", "多", "余"]),
    fw=st.booleans(),
)
def test_roundtrip_magnitudes(n, mag, unit, space, fuzz, fw):
    num = plain(n).translate(FULLWIDTH) if fw else plain(n)
    s = f"累计投入{num}{space}{fuzz}{mag}{unit}，其中"
    got = find_quantities(s)
    assert len(got) == 1
    assert got[0].value == pytest.approx(float(n * MAGS[mag]), rel=1e-12)
    assert (got[0].unit, got[0].approx) == (unit, bool(fuzz))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 10**12 - 1))
def test_roundtrip_chinese_numerals(n):
    assert q(to_chinese(n)).value == n
    assert q(to_chinese(n) + "元").unit == "元"


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 100), fuzz=st.booleans())
def test_roundtrip_percent_words(n, fuzz):
    got = q(f"百分之{to_chinese(n)}{'以上' if fuzz else ''}")
    assert (got.value, got.unit, got.kind, got.approx) == (n, "%", "percent", fuzz)
    assert same_quantity(got, q(f"{n}%"))


@settings(max_examples=100, deadline=None)
@given(
    d=st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2100, 12, 31)),
    space=st.sampled_from(["", " "]),
)
def test_roundtrip_dates(d, space):
    cn_year = "".join("〇一二三四五六七八九"[int(c)] for c in str(d.year))
    full = q(f"{d.year}{space}年{d.month}月{d.day}日")
    assert (full.value, full.unit, full.kind) == (d.year * 10000 + d.month * 100 + d.day, "年月日", "date")
    assert same_quantity(full, q(d.isoformat()))
    assert same_quantity(full, q(f"{cn_year}年{to_chinese(d.month)}月{to_chinese(d.day)}日"))
    year = q(f"{d.year}{space}年")
    assert (year.value, year.unit, year.kind) == (d.year, "年", "date")


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 1899))
def test_small_numbers_of_years_are_durations(n):
    assert (q(f"{n}年").kind, q(f"{n}年间").kind) == ("duration", "duration")


@settings(max_examples=200, deadline=None)
@given(
    lo=st.integers(0, 10**6),
    delta=st.integers(0, 10**6),
    sep=st.sampled_from(["-", "－", "～", "~", "至", "到", "—", "——", " — "]),
    unit=st.sampled_from(["", "户", "人", "%", "个百分点", "元"]),
    both=st.booleans(),
)
def test_roundtrip_ranges(lo, delta, sep, unit, both):
    hi = lo + delta
    got = q(f"{lo}{unit if both else ''}{sep}{hi}{unit}")
    assert (got.value, got.high) == (lo, hi)
    years = not unit and all(len(str(x)) == 4 and 1900 <= x <= 2100 for x in (lo, hi))
    assert got.kind == ("date" if years else UNITS[unit][1])


@settings(max_examples=200, deadline=None)
@given(m=st.integers(1, 10**8), k=st.integers(0, 4), mag=st.sampled_from(["万", "亿"]))
def test_magnitude_equals_thousands_separated(m, k, mag):
    n = Decimal(m).scaleb(-k)
    full = n * MAGS[mag]
    if full != full.to_integral_value():
        return
    a, b = q(plain(n) + mag), q(f"{int(full):,}")
    assert same_quantity(a, b) and same_quantity(b, a)
    assert same_quantity(q("9899万"), q("98,990,000"))


ALPHABET = list(
    "0123456789０１２３.．,，%％‰ -－~～—至到万亿千百十零〇一二两三四五六七八九几数多余近约超过以上左右"
    "第个百分点之年月日号间天元人户家名次期倍公里亩脱贫攻坚的了，。、（）\n\tPMab"
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=60))
def test_offsets_invariant(text):
    got = find_quantities(text)
    prev_end = 0
    for x in got:
        assert text[x.start : x.end] == x.text and x.text
        assert x.start >= prev_end  # ordered, non-overlapping
        prev_end = x.end
        assert x.kind in KINDS and isinstance(x.approx, bool)
        assert x.high is None or x.high >= x.value
        # a found quantity read on its own is the same figure
        alone = parse_quantity(x.text)
        assert alone is not None and same_quantity(alone, x), (text, x, alone)


@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=60))
def test_fullwidth_does_not_change_findings(text):
    a, b = find_quantities(text), find_quantities(normalize_digits(text))
    assert [(x.start, x.end, x.value, x.unit, x.kind, x.high) for x in a] == [
        (x.start, x.end, x.value, x.unit, x.kind, x.high) for x in b
    ]


@given(st.text())
def test_normalize_digits_preserves_length(text):
    assert len(normalize_digits(text)) == len(text)
    find_quantities(text)  # never raises, whatever the input


@pytest.mark.parametrize(
    "text,low,high",
    [
        ("4万多", 40000, 50000),
        ("1800多名", 1800, 1900),
        ("20多万名", 200000, 300000),
        ("1.5万多", 15000, 16000),
        ("近2000万", 18000000, 20000000),
        ("44435名", 44435, 44435),
    ],
)
def test_stated_range_is_what_a_figure_as_written_may_stand_for(text, low, high):
    (quantity,) = find_quantities(text)
    assert stated_range(quantity) == pytest.approx((low, high))
