"""The units every answering stage cuts text into, defined once: clauses, answer sentences,
character bigrams, years, places, and the words that mean "now".

Answers, conflict reports, LLM grounding and streaming all split text; when each had its own
pattern, a clause ended at 「（」 for one and not for the other. Everything here is pure text in,
text (or offsets) out.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable

import jieba
from jieba import posseg

from qa.gazetteer import bare_places, is_known_place

# A clause ends at these. 「、」 does not end one: in 「在岗第一书记19.5万名、驻村干部77.5万名」
# 在岗 qualifies both items.
CLAUSE_BREAK = re.compile(r"[，,；;。！？!?：:\n（）()]")
# A sentence of an answer ends after terminal punctuation, with the closing quotes and the
# citation markers that follow it.
ANSWER_SENTENCE = re.compile(r".*?(?:[。！？!?；;\n]+[”’」』）)]*(?:[ \t]*\[\d+\])*|$)", re.S)
# Characters that glue words together rather than carry a topic (「的扶」「日和」 straddle words).
FUNCTION_CHARS = frozenset("的了和与及或把被之其吗呢吧啊")
WORD_RUN = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

# 「现在」 inside 体现在/实现在/表现在 is not "now"; 「最近3年」 is a span, not "the latest".
NOW_WORDS = re.compile(
    r"最新|目前|当前|如今|眼下|现阶段|迄今|至今|截至目前|截止目前|今年|"
    r"(?<![体实表出发呈展])现在|最近(?![0-9０-９一二两三四五六七八九十几]+个?[年月天日周])"
)

YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")
# 「13年」「17年底」 in a question: two-digit years of this century.
NOT_A_YEAR_AFTER = "(?!代|级|龄|均|初中)"  # 「80年代」「3年级」「年龄」「年均」
SHORT_YEAR = re.compile(r"(?<![0-9])([0-2][0-9])(?=\s*年" + NOT_A_YEAR_AFTER + ")")
# 「20、21年」「19到20年」: the first two-digit year of a list or range shares the second's 年.
SHORT_YEAR_FIRST = re.compile(
    r"(?<![0-9])([0-2][0-9])\s*(?:、|到|至|-|—|~|和)\s*(?=[0-2][0-9]\s*年" + NOT_A_YEAR_AFTER + ")"
)
FIVE_YEAR_PLANS = {"十一五": (2006, 2010), "十二五": (2011, 2015), "十三五": (2016, 2020), "十四五": (2021, 2025)}

# Places: jieba tags most ns; Tibetan names it often takes for people (拉萨 nrt, 那曲 nr), so a
# name followed by an administrative suffix counts too, as do the province names.
ADMIN_SUFFIXES = frozenset("省 市 县 区 州 地区 自治区 自治州 乡 镇".split())
ADMIN_SUFFIX = re.compile(r"(?:维吾尔自治区|壮族自治区|回族自治区|自治区|自治州|地区|省|市|县|区|州)$")
PROVINCES = (
    "北京 天津 河北 山西 内蒙古 辽宁 吉林 黑龙江 上海 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 广西 "
    "海南 重庆 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 新疆 台湾 香港 澳门"
).split()
# Tibet's cities and prefectures, which jieba takes for people's names when they stand alone.
TIBET_PREFECTURES = "拉萨 日喀则 昌都 林芝 山南 那曲 阿里".split()
# Words jieba tags as places that are not places in these texts, or are the whole country.
NOT_PLACES = frozenset(
    "美丽 宜居 深度 高原 全国 中国 我国 东部 西部 中西部 城市 中央 中华 北方 南方 新建 山沟 山沟沟 山区 牧区 农区 "
    "城乡 边疆 内地 沿海 老区 藏区 高海拔 平原 乡村 农村 基层 海外 境外 国外 地方 当地 本地 外地 "
    "贫困 贫困县 深度贫困 东西 惠及 兴旺".split()
)
ADMIN_CHARS = frozenset("省市县区州乡镇村地")
# jieba tags some measures as places (「满意度」「深度」): a word ending so is a measure.
MEASURE_ENDINGS = ("度", "率")
# A place name in running text: a stem and an administrative suffix. The stem is cut at the
# last character that cannot be part of a name (「以贵州省」 → 贵州省, 「跨省」 → none); stems
# holding generic words (贫困地区, 中西部地区, 扶贫协作地区) name no place.
PLACE_SUFFIXES = ("自治区", "自治州", "地区", "省", "市", "县", "州", "盟")
SUFFIXED_PLACE = re.compile(r"[\u4e00-\u9fff]{1,4}?(?:自治区|自治州|地区|省|市|县|州|盟)")
NOT_IN_NAME = frozenset(
    "的和与跨在是为有向对将从由到以及或全各该本每个其中同了把被等这那此我省市县区乡镇村州部国党困贫问"
)
# (「多少县长」「哪个县」: a question word is no name.)
GENERIC_STEMS = re.compile(
    r"协作|民族|边疆|深度|连片|城乡|农村|区域|指标|少数|革命|老区|东西|南北|沿海|内陆|边境|海拔|贫困|多少|几|哪|什么|啥"
)
# 「三区三州」「四省藏区」 are groups of places, not one place.
NUMERAL_START = re.compile(r"^[一二三四五六七八九十两几多各全本该每]")
# The whole country: 「全国」「我国」, 「中国」 unless it names the party, a style or a plan.
NATIONAL = re.compile(r"全国|我国|全党|中国(?!共产党|特色|式|人民|精神|力量|价值|智慧|方案|样本)")


@functools.lru_cache(maxsize=16384)
def normalize(text: str) -> str:
    """The form text is matched in: NFKC (full-width → half-width), lower case, no spaces
    (cached: the evidence sentences are matched by every part of every question)."""
    return unicodedata.normalize("NFKC", text).lower().replace(" ", "")


def char_bigrams(text: str, drop: frozenset[str] = FUNCTION_CHARS) -> frozenset[str]:
    """Pairs of neighbouring characters of each run of letters, digits and ideographs,
    after removing the characters in ``drop`` (a single-character run counts as itself)."""
    found: set[str] = set()
    for run in WORD_RUN.findall(normalize(text)):
        chars = [c for c in run if c not in drop]
        if len(chars) == 1:
            found.add(chars[0])
        found.update(a + b for a, b in itertools.pairwise(chars))
    return frozenset(found)


def clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Offsets of the clause of ``text`` that holds ``text[start:end]``."""
    lo = max((m.end() for m in CLAUSE_BREAK.finditer(text, 0, start)), default=0)
    hi = next((m.start() for m in CLAUSE_BREAK.finditer(text, end)), len(text))
    return lo, hi


def clause_with_previous(text: str, start: int, end: int, after_chars: int) -> str:
    """The clause holding ``text[start:end]`` with the clause before it, where the subject is often
    named (「国内生产总值从…跃升至…,实际增长约189倍」), to at most ``after_chars`` after the span."""
    breaks = [m.end() for m in CLAUSE_BREAK.finditer(text, 0, start)]
    left = breaks[-2] if len(breaks) >= 2 else 0
    right = next((m.start() for m in CLAUSE_BREAK.finditer(text, end)), len(text))
    return text[left : min(right, end + after_chars)]


def clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause of a text, its closing punctuation included."""
    spans, start = [], 0
    for match in CLAUSE_BREAK.finditer(text):
        if match.end() > start:
            spans.append((start, match.end()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def answer_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of an answer, its citation markers kept with it."""
    return [(m.start(), m.end()) for m in ANSWER_SENTENCE.finditer(text) if m.end() > m.start()]


def years_in(text: str, short_years: bool = False) -> frozenset[int]:
    """The years a text names: 「2013年」, 「十三五」 (each year of the plan), and with
    ``short_years`` 「13年到17年」 as users type them."""
    norm = normalize(text)
    found = {int(y) for y in YEAR.findall(norm)}
    if short_years:
        found.update(2000 + int(y) for y in SHORT_YEAR.findall(norm) + SHORT_YEAR_FIRST.findall(norm))
    for plan, (first, last) in FIVE_YEAR_PLANS.items():
        if plan in norm:
            found.update(range(first, last + 1))
    return frozenset(found)


def says_now(text: str) -> bool:
    """True if the text speaks of the present or the latest state (最新/目前/现在/最近…)."""
    return bool(NOW_WORDS.search(text))


@functools.lru_cache(maxsize=4096)
def word_starts(text: str) -> frozenset[int]:
    """The offsets where jieba's words of a text begin (and its end)."""
    return frozenset(itertools.accumulate((len(word) for word in jieba.lcut(text)), initial=0))


def from_word_start(text: str, start: int, end: int) -> int:
    """The first word start in ``text[start:end]`` (``end`` if none): a phrase a pattern found
    may begin inside a word (「昌都义务教育…」 matched from 「都」)."""
    starts = word_starts(text)
    return next((i for i in range(start, end) if i in starts), end)


@functools.lru_cache(maxsize=8192)
def place_names(text: str, loose: bool = False) -> tuple[str, ...]:
    """The places a text names (「广西」「湖北省」「那曲市」), never the whole country; cached,
    as the same sentences are looked at by every part of a question.

    A place is a province or Tibetan prefecture, or a name with an administrative suffix
    (「札达县」). ``loose`` (for questions, which are short and name places bare: 「那河南呢」)
    also takes the words jieba tags as places; in long texts its tags are too often wrong
    (「惠及」「兴旺」 as places) to be trusted.
    """
    found = [p for p in (*PROVINCES, *TIBET_PREFECTURES) if p in text]
    for match in SUFFIXED_PLACE.finditer(text):
        name = match.group()
        suffix = next(s for s in PLACE_SUFFIXES if name.endswith(s))
        stem = name[: -len(suffix)]
        keep = len(stem)
        while keep and stem[keep - 1] not in NOT_IN_NAME:
            keep -= 1
        stem = stem[keep:]
        known = (*PROVINCES, *TIBET_PREFECTURES)
        if len(stem) >= 2 and not GENERIC_STEMS.search(stem) and not any(stem.startswith(p) for p in known):
            found.append(stem + suffix)
    if loose:
        # 「那遵义呢」: a city or county jieba does not know, named without its suffix
        found.extend(name for name in bare_places(text, word_starts(text)) if not any(name in f for f in found))
        # Beside a known place, jieba's place tags only where they name it more fully (「阿里地区」),
        # name a listed place (「山南乃东区」) or carry an administrative suffix (「河南兰考县」「山南玉麦
        # 乡」): 「山南军分区那个次仁扎西，挨家挨户上门」 has 扎西 and 上门 tagged as places.
        known_places = tuple(found)
        words = posseg.lcut(text)
        for (word, tag), (after, _) in zip(words, [*words[1:], ("", "")]):
            if len(word) < 2 or word in NOT_PLACES or NATIONAL.fullmatch(word) or NUMERAL_START.match(word):
                continue
            if set(word) <= ADMIN_CHARS or word.endswith(MEASURE_ENDINGS):  # 「省市县」「满意度」
                continue
            suffixed = after in ADMIN_SUFFIXES or word[-1] in ADMIN_SUFFIXES
            if tag.startswith("n") and after in ADMIN_SUFFIXES:
                tagged = word + after
            elif tag in ("ns", "nrt"):
                tagged = word
            else:
                continue
            more_fully = any(place in tagged for place in known_places)
            if not known_places or suffixed or more_fully or is_known_place(place_stem(tagged)):
                found.append(tagged)
    return tuple(dict.fromkeys(found))


def names_nation(text: str) -> bool:
    """True if the text speaks of the whole country (全国, 我国, 中国…)."""
    return bool(NATIONAL.search(text))


def place_stem(place: str) -> str:
    """A place name without its administrative suffix (「那曲市」→「那曲」, 「阿里地区」→「阿里」)."""
    stem = ADMIN_SUFFIX.sub("", place)
    return stem if len(stem) >= 2 else place


def place_keys(place: str) -> tuple[str, ...]:
    """What names a place in a text: its stem's first or last two characters, since jieba
    runs neighbouring names together (「阿里札达」 is 阿里's 札达县)."""
    stem = place_stem(place)
    return tuple(dict.fromkeys((stem[:2], stem[-2:])))


def names_place(keys: Iterable[str], text: str) -> bool:
    """True if the text names the place given by its ``place_keys``."""
    return any(key in text for key in keys)
