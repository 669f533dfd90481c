"""The scope of a figure: where, when, per what, which round — and whether a sentence's figure
has the scope a question asks for.

A figure stated for 日喀则 is not 那曲's, one for 2021 is not 2022's, a total is not a
per-household limit, 一期 is not 二期, and a province's figure is not the nation's (nor the
reverse). These are facts about what the words mean, so they are checked, not learned: a
sentence whose figure has another scope cannot answer, and the reply says what the documents
do state instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jieba import posseg

from index.tokens import tokenize
from qa.gazetteer import TIBET_COUNTIES, is_known_place
from qa.numbers import Quantity
from qa.text import (
    PROVINCES,
    TIBET_PREFECTURES,
    clause_with_previous,
    clauses,
    names_nation,
    names_place,
    place_keys,
    place_names,
    place_stem,
    years_in,
)

# How far after a number, within its clause, its subject and time may be named.
CLAUSE_AFTER_CHARS = 30
# A province or prefecture is what an article is about when it is named at least this often
# in the text before a sentence (and is the one named last).
DOMINANT_MENTIONS = 2
MAJOR_PLACES = (*PROVINCES, *TIBET_PREFECTURES)
PER_UNIT = {
    "year": re.compile(r"年均|每年|平均每年"),
    "household": re.compile(r"每户|户均"),
    "person": re.compile(r"人均|每人|每名|生均|每个学生"),
}
# Said of a figure, a yearly measure also reads 「年增收」「人均年收入」 (asked, 「人均年收入」 is
# the usual name of a yearly income and asks for no per-year figure).
PER_UNIT_STATED = {**PER_UNIT, "year": re.compile(r"年均|每年|平均每年|年增|人均年|全年")}
LIMIT_ASKED = re.compile(r"最多|最高|上限|额度|封顶|最少|最低")
LIMIT_STATED = re.compile(r"最高|最多|不超过|以内|以下|上限|额度|封顶|最低|最少|不低于|以上")
TOTAL_ASKED = re.compile(r"加起来|累计|合计|一共|总共")
SINGLE_YEAR_ASKED = re.compile(r"(?:(?<![十第二〇零])一|当|那一|这一|单)年(?!来|间|多|以来|级)|光(?:(?:19|20)?\d{2}年)")
PERIOD_WORDS = r"期间|以来|十[一二三四]五"
PERIOD_STATED = re.compile(rf"累计|{PERIOD_WORDS}|(?:19|20)\d{{2}}\s*年?\s*[-—–~至到]\s*(?:(?:19|20)\d{{2}})")
ROUND = re.compile(r"(?:第)?[一二三四五六七八九十\d]+(?:期|批)")
# Which units a bare number may count: 「960多万…贫困人口」 counts people, not households.
PEOPLE_CHARS = "人口民众员生者士儿童女"  # 「2000多万贫困患者」「孤儿」「妇女」 count people too
UNIT_CHARS = {"户": "户", "人": PEOPLE_CHARS, "名": PEOPLE_CHARS, "人次": "人", "元": "元钱资金"}
BARE_UNIT_WINDOW = 20
# 「全市」「全区」「本县」: the whole of a place, not of the country (not 「健全县乡村」「安全区」).
WHOLE_OF_A_PLACE = re.compile(r"(?<![健安完齐周保成])(?:全|本|我)(?:自治区|地区|省|市|县|区|州|乡|镇)(?![份场别])")
# A place that gives to another (「援藏资金」「对口支援」) is not the figure's place.
AID = re.compile(r"援|对口|支持下|帮助下")
# 「位居全国前列」「高于全国平均水平」「占全国的」: the country compared with, not the figure's.
NATION_COMPARED = re.compile(r"(?:位居|高于|低于|超过|接近|达到|居|占)全国|全国(?:平均|前列|第一|领先|同期)")
# 「较2020年提升5个百分点」「比16年高了多少」: the year compared with is not the figure's, nor the
# one asked about.
COMPARED_YEAR = re.compile(r"(?:较|比|同比|相比|与)(?:(?:19|20)\d{2}\s*年?|[0-2]\d\s*年)(?:底|末|初)?")


@dataclass(frozen=True)
class Scope:
    """What a question part asks about besides the measure itself."""

    places: tuple[str, ...] = ()  # named places (「那曲」「湖北省」)
    nation: bool = False  # 全国/我国: the whole country
    years: frozenset[int] = frozenset()
    per_unit: frozenset[str] = frozenset()  # keys of PER_UNIT
    limit: bool = False  # 最多/上限: a limit, not an amount
    total: bool = False  # 加起来/累计: a total over years
    single_year: bool = False  # 「2020年一年」「当年」: one year's figure, not a period's
    rounds: tuple[str, ...] = ()  # 一期, 第二批


@dataclass(frozen=True)
class ScopeCheck:
    """Whether a sentence's figure has the asked scope; if not, which and what it states instead."""

    conflict: str = ""  # "", "place", "nation", "year", "unit", "per_unit", "limit", "round"
    stated: str = ""  # what the sentence is about instead (「日喀则」「2021年」), "" when unnamed

    def __bool__(self) -> bool:  # True when the scope is wrong
        return bool(self.conflict)


def scope_of(text: str, places: Sequence[str] = ()) -> Scope:
    """The scope a question part asks about (``places`` as found by the analysis)."""
    return Scope(
        places=tuple(places),
        nation=names_nation(text) and not places,
        years=asked_years(text),
        per_unit=frozenset(name for name, pattern in PER_UNIT.items() if pattern.search(text)),
        limit=bool(LIMIT_ASKED.search(text)),
        total=bool(TOTAL_ASKED.search(text)),
        single_year=bool(SINGLE_YEAR_ASKED.search(text)),
        rounds=tuple(ROUND.findall(text)),
    )


def asked_years(text: str) -> frozenset[int]:
    """The years a question asks about: not one it compares with (「那2021年占多少？比2016年高了多少」)."""
    return years_in(COMPARED_YEAR.sub("", text), short_years=True)


def article_place(article: str) -> str | None:
    """The province or prefecture an article is about: of those it names at least
    ``DOMINANT_MENTIONS`` times, the one named last before the sentence; None if none is."""
    named = [(article.rfind(p), p) for p in MAJOR_PLACES if article.count(p) >= DOMINANT_MENTIONS]
    return max(named)[1] if named else None


def check_place(scope: Scope, text: str, context: str, article: str, quantities: Sequence[Quantity] = ()) -> ScopeCheck:
    """Whether a sentence (with its paragraph ``context`` and the ``article`` before it) speaks
    of the places asked about, or of the whole country when that is asked. With ``quantities``
    (the figures that would answer), only their clauses can name another place: 「改造农村危房
    16141户…阿里与藏中电网联网工程建成投运」 is still the article's place's figure."""
    near = context + text
    own = "".join(clause_with_previous(text, q.start, q.end, CLAUSE_AFTER_CHARS) for q in quantities) or text
    national = names_nation(own)
    if scope.places:
        asked_here = any(names_place(place_keys(p), own) for p in scope.places)
        # The sentence itself names another place (its paragraph may name several in passing).
        others = [
            p
            for p in place_names(own)
            if is_sure_place(p) and not any(names_place(place_keys(q), p) for q in scope.places)
        ]
        # A figure whose own clause names another place, or the whole country, is theirs even
        # where the paragraph names the asked place too (「措勤县…带动全县1120户」 is not 改则县's).
        # (Not a place that gives to it: 「江苏省累计投入援藏资金」 in an article on 拉孜县.)
        if quantities and not asked_here and not AID.search(own):
            compared = names_nation(NATION_COMPARED.sub("", own))
            if others or compared:
                return ScopeCheck("place", others[0] if others else "全国")
        # A sentence opens with its subject: 「措勤县成立…中心，…，带动全县1120户」 is not 改则县's,
        # 「以河南省为例，该省…」 not 湖北省's; but 「阿里地区统筹资金，…带动全县…」 may be 措勤县's.
        opening = text[: clauses(text)[0][1]] if quantities and text else ""
        # (A county asked about may stand in its prefecture's or province's sentence.)
        county_asked = all(is_county(p) for p in scope.places)
        subjects = [p for p in place_names(opening) if is_sure_place(p) and (is_county(p) or not county_asked)]
        if (
            subjects
            and not AID.search(opening)
            and not place_names(own)
            and not any(names_place(place_keys(p), text) for p in scope.places)
        ):
            return ScopeCheck("place", subjects[0])
        if all(names_place(place_keys(p), near) for p in scope.places):
            return ScopeCheck()
        if others:
            return ScopeCheck("place", others[0])
        # 「全国…明确京津兩市与河北省张家口…三市的扶贫协作任务」 names the country in passing.
        if national and not asked_here:
            return ScopeCheck("place", "全国")
        # Unnamed here: the article's place decides, when it is another major place (a county
        # asked about may stand in its prefecture's article, so only major places are compared).
        about = article_place(article)
        asked_major = [p for p in scope.places if place_keys(p)[0] in MAJOR_PLACES or p in MAJOR_PLACES]
        if (
            about is not None
            and asked_major
            and not any(names_place(place_keys(p), about) for p in scope.places)
            # 西藏 is named all through its prefectures' articles: it is not another place for them.
            and (about != "西藏" or not any(p in TIBET_PREFECTURES for p in asked_major))
        ):
            return ScopeCheck("place", about)
        return ScopeCheck()
    if scope.nation and not names_nation(text):
        # Only a place the sentence names: national documents name provinces in passing, so the
        # article's place would mislead.
        local = [p for p in (*place_names(text), *place_names(context)) if is_sure_place(p)]
        if local:
            return ScopeCheck("nation", local[0])
        # 「全市义务教育巩固率达到99.87%」 is a city's figure, whichever city the article is about.
        whole_of_place = WHOLE_OF_A_PLACE.search(own)
        if whole_of_place:
            return ScopeCheck("nation", article_place(article) or whole_of_place.group())
    return ScopeCheck()


def is_county(place: str) -> bool:
    """True for a county or district (「措勤县」「城关区」, or a bare Tibetan county name)."""
    return bool(re.search(r"(?<!地|治)[县区]$", place)) or place_stem(place) in TIBET_COUNTIES


@functools.lru_cache(maxsize=4096)
def is_sure_place(name: str) -> bool:
    """True for a province or prefecture, or a suffixed name whose stem jieba knows as a name
    (「札达县」, not 「听取地县」 from 「听取地县脱贫攻坚工作汇报」)."""
    stem = place_stem(name)
    if name in MAJOR_PLACES or stem in MAJOR_PLACES or is_known_place(stem):
        return True
    words = posseg.lcut(stem)
    return len(words) == 1 and words[0].flag in ("ns", "nr", "nrt", "nz")


def check_figure(
    scope: Scope, units: Sequence[str], text: str, quantities: Sequence[Quantity], context: str = ""
) -> ScopeCheck:
    """Whether the sentence's figures (``quantities``: those of the asked kind that name the
    counted thing best) are for the asked year, unit, per-unit measure, limit and round."""
    if not quantities:
        return ScopeCheck()
    figure_clauses = [clause_with_previous(text, q.start, q.end, CLAUSE_AFTER_CHARS) for q in quantities]
    if units and not any(_has_unit(q, units, text) for q in quantities):
        return ScopeCheck("unit", quantities[0].text)
    if scope.years:
        # A figure's year is the one named in its clause; failing that, in the nearest clause
        # before it that names one (「数据显示,2020-2021年,全国…,累计销售…800亿元」); failing that,
        # in the paragraph before (「2013—2017年，…增加到861亿元。」 then 「年均增长22.7%。」).
        figure_years = [
            stated_years(clause) or _years_before(text, q.start) or stated_years(context)
            for q, clause in zip(quantities, figure_clauses)
        ]
        if all(years and not years & scope.years for years in figure_years):
            return ScopeCheck("year", "、".join(f"{y}年" for y in sorted(figure_years[0])))
    # Per-unit measures and limits may qualify any figure of the sentence (「年均增长11.6%」).
    missing = [name for name in scope.per_unit if not PER_UNIT_STATED[name].search(text)]
    if missing:
        return ScopeCheck("per_unit", "总数而非人均或户均")
    # A total over years is not a year's figure, nor the reverse: 「这几年加起来接待了多少游客」 is
    # not answered by 「每年接待游客1.8万人次」, 「2020年一年新增就业多少」 not by 「“十三五”期间…累计」.
    if (
        scope.total
        and "year" not in scope.per_unit
        and all(PER_UNIT["year"].search(_clause_of(text, q)) for q in quantities)
    ):
        return ScopeCheck("per_unit", "每年的数字而非合计")
    if scope.single_year and all(_states_period(c) for c in figure_clauses):
        return ScopeCheck("year", "多年合计")
    if scope.limit and not LIMIT_STATED.search(text):
        return ScopeCheck("limit", quantities[0].text)
    if scope.rounds:
        stated = ROUND.findall(text)
        if stated and not set(stated) & set(scope.rounds):
            return ScopeCheck("round", stated[0])
    return ScopeCheck()


def _states_period(clause: str) -> bool:
    """True if a clause states its figure for several years: 「“十三五”期间…累计」, not 「2020年，
    全区累计实现…」 (the year to date)."""
    if not PERIOD_STATED.search(clause):
        return False
    return len(stated_years(clause)) != 1 or bool(re.search(rf"{PERIOD_WORDS}|[-—–~至到]", clause))


def _clause_of(text: str, quantity: Quantity) -> str:
    """The clause a figure stands in."""
    return next((text[lo:hi] for lo, hi in clauses(text) if lo <= quantity.start < hi), text)


def _years_before(text: str, start: int) -> frozenset[int]:
    """The years of the nearest clause before ``start`` that states any."""
    for lo, hi in reversed(clauses(text[:start])):
        if years := stated_years(text[lo:hi]):
            return years
    return frozenset()


def stated_years(text: str) -> frozenset[int]:
    """The years a text states its figures for: not a year compared with (「较2020年提升」)."""
    return years_in(COMPARED_YEAR.sub("", text))


def _has_unit(quantity: Quantity, units: Sequence[str], text: str) -> bool:
    """True if a figure counts in one of the units: written after it, or for a bare number
    (「960多万生活在…的贫困人口」) named by the words that follow it."""
    if quantity.unit in units:
        return True
    if quantity.unit:
        return False
    after = re.split(r"[，,；;。]", text[quantity.end : quantity.end + BARE_UNIT_WINDOW], maxsplit=1)[0]
    return any(char in after for unit in units for char in UNIT_CHARS.get(unit, unit))


def unknown_places(places: Sequence[str], term_weight: Callable[[str], float], tokenizer: str) -> bool:
    """True if a place asked about is named by no document (each of its keys has a token of
    weight 0 in the lexical index): no figure of the documents is its figure."""
    return any(
        not any(all(term_weight(t) > 0 for t in tokenize(key, tokenizer)) for key in place_keys(place))
        for place in places
    )
