"""Find quantities (figures) in Chinese text and normalize them to (value, unit, kind).

Used to verify that every figure in an answer appears in the cited snippet
(「9899万」 must match 「98,990,000」 or 「9899 万」), to tell what kind of number a
question wants, and to detect documents that state different values for one measure.

Kinds (``KINDS``):

* ``amount``            counts, money, lengths, areas, plain numbers; unit is the
                        measure word that follows (元 人 户 个 家 公里 亩 倍 ... or "").
                        Magnitudes are applied and dropped from the unit: 6601亿元 ->
                        660100000000.0 "元"; 9899万 -> 98990000.0 "".
* ``percent``           3.1% / 22.7％ / 百分之七十 -> unit "%"; 5‰ -> unit "‰" (value kept as written).
* ``percentage_point``  2.3个百分点 -> unit "百分点".
* ``date``              years and calendar dates.  The value encodes the date and the unit
                        says which parts were given, so only like compares with like:
                        2017年 -> 2017 "年"; 2013年11月 -> 201311 "年月";
                        2013年11月3日 / 2013-11-03 -> 20131103 "年月日"; 10月17日 -> 1017 "月日";
                        7月 -> 7 "月"; 25日 -> 25 "日".  A year is never an amount.
* ``duration``          8年(间), 3个月, 15天, 30周年 -> unit 年/月/天/周/周年/小时/分钟.
* ``ordinal``           第三, 第22次, 第十八届 -> value is the position, unit the measure word.

Ranges (2-3户, 2～3, 2至3, 10%—20%, 2016-2021年) have ``value`` = low and ``high`` = high.
Approximate markers 多/余/几/近/约/超过/逾/不足/左右/以上/以下 set ``approx``; the value stays
the stated number (4300多亿元 -> 430000000000.0, approx=True; 十几万 -> 100000.0, approx=True).

Chinese numerals must be well formed (十三五, 三四, 千百年, 亿万 are words, not figures), and in
running text a lone Chinese digit needs a measure word (两个, 八年) while a lone 一 never
counts (一个/一批 are articles); parse_quantity accepts both.

Not handled (on purpose, to stay small): negative numbers (a leading "-" is a range
separator far more often), fractions such as 四分之一, Chinese decimals (三点五), vague
counts (几十, 数百万, 上亿), numbers split across line breaks, Latin units (km, kg).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["KINDS", "Quantity", "find_quantities", "normalize_digits", "parse_quantity", "same_quantity"]

KINDS = ("amount", "percent", "percentage_point", "date", "duration", "ordinal")


@dataclass(frozen=True)
class Quantity:
    """One figure found in a text; ``input[start:end] == text``."""

    text: str  # the exact substring of the input (original characters, e.g. full-width kept)
    start: int
    end: int
    value: float  # magnitude applied: 9899万 -> 98990000.0; 3.1% -> 3.1
    unit: str  # normalized unit without magnitude ("元", "人", "%", "年", "" if none)
    kind: str  # one of KINDS
    approx: bool = False
    high: float | None = None  # upper bound of a range


# --- characters --------------------------------------------------------------------------

# 1:1 character map, so offsets computed on the normalized text are valid in the original.
# The full-width comma ， is also the ordinary Chinese comma.  Mapping it is needed for
# 「1，300」 and mostly harmless, as a thousands group needs exactly three digits after it
# (see _ARABIC); the price is that a bare list like 「100，200」 reads as 100200.
_FULLWIDTH = {chr(0xFF10 + i): str(i) for i in range(10)}
_FULLWIDTH.update({"％": "%", "﹪": "%", "．": ".", "，": ",", "／": "/", "－": "-", "～": "~", "\u3000": " "})
_FULLWIDTH_TABLE = str.maketrans(_FULLWIDTH)

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_SMALL = {"十": 10, "百": 100, "千": 1000}
_MAG: dict[str, int] = {"十": 10, "百": 100, "千": 1000, "万": 10**4, "亿": 10**8}

_SP = r"[ \t\u00a0]*"  # the corpus puts spaces around numbers ("6601 亿元"); never cross lines
# Not glued to a preceding digit/letter/point: avoids starting inside "PM2.5" or "H5N1".
# A thousands group is exactly three digits, so "100,2000" is two numbers, not one.
_ARABIC = r"(?<![\dA-Za-z.])(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_CN = r"[零〇一二两三四五六七八九十百千万亿]+"
_CORE = re.compile(rf"{_ARABIC}|{_CN}")
# Magnitudes after an Arabic number (Chinese numerals already contain theirs).
# 百 before 分 is the start of 百分点/百分之, not a magnitude.
_MAG_RE = r"[十百千]?万亿|[十百千]?万|[十百千]?亿|千|百(?!分)"

# unit word -> (normalized unit, kind); longest alternatives are tried first.
_UNITS: dict[str, tuple[str, str]] = {
    "%": ("%", "percent"),
    "‰": ("‰", "percent"),
    "个百分点": ("百分点", "percentage_point"),
    "百分点": ("百分点", "percentage_point"),
    "年": ("年", "duration"),
    "年间": ("年", "duration"),
    "个月": ("月", "duration"),
    "天": ("天", "duration"),
    "周年": ("周年", "duration"),
    "周": ("周", "duration"),
    "小时": ("小时", "duration"),
    "个小时": ("小时", "duration"),
    "分钟": ("分钟", "duration"),
    "月": ("月", "date"),
    "日": ("日", "date"),
}
for _u in (
    "元 美元 欧元 港元 人民币 人次 户次 人 名 位 户 个 家 村 县 乡 镇 省 市 区 所 座 处 "
    "条 期 项 次 批 届 件 套 张 台 辆 部 份 篇 本 支 种 类 倍 亩 公顷 平方公里 平方米 "
    "立方米 公里 千米 米 吨 公斤 千克 克 斤 瓦 千瓦 千瓦时 瓦时"
).split():
    _UNITS.setdefault(_u, (_u, "amount"))
_UNIT_RE = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))

_GEN = re.compile(
    rf"(?P<core>{_ARABIC}|{_CN})(?:{_SP}(?P<fuzz>[多余几]))?(?:{_SP}(?P<mag>{_MAG_RE}))?"
    rf"(?:{_SP}(?P<fuzz2>[多余几]))?(?:{_SP}(?P<unit>{_UNIT_RE}))?"
)
_SUFFIX = re.compile(rf"{_SP}(?:左右|以上|以下|以内)")
_APPROX_PREFIXES = ("大约", "将近", "接近", "超过", "不足", "不到", "约", "近", "超", "逾")

_MD = r"\d{1,2}|[一二三四五六七八九十]{1,3}"  # a month or a day number
_DATE = re.compile(
    rf"(?P<yp>(?P<y>\d{{4}}|[〇零一二三四五六七八九]{{4}}){_SP}年)"
    rf"(?:(?P<mp>{_SP}(?P<m>{_MD}){_SP}月)(?:{_SP}(?P<d>{_MD}){_SP}[日号])?)?"
    rf"|(?P<m2>{_MD}){_SP}月{_SP}(?P<d2>{_MD}){_SP}[日号]"
    rf"|(?P<iy>\d{{4}})(?P<sep>[-/.])(?P<im>\d{{1,2}})(?P=sep)(?P<id>\d{{1,2}})(?!\d)"
    rf"|(?P<sy>\d{{4}})/(?P<sm>\d{{1,2}})(?![\d/])"
)
_RANGE_SEP = re.compile(rf"{_SP}(?:[-~〜–―]|—{{1,2}}|至|到){_SP}")
_CHAIN_BEFORE = re.compile(rf"\d{_SP}[-~〜–―—]{_SP}$")  # "0891-6338111-8840" is not a range
_CHAIN_AFTER = re.compile(rf"{_SP}[-~〜–―—]{_SP}\d")


def normalize_digits(text: str) -> str:
    """Map full-width digits and ％．，／－～ (and the ideographic space) to ASCII.

    A 1:1 character map: the result has the same length, so offsets stay valid.
    """
    return text.translate(_FULLWIDTH_TABLE)


# --- Chinese numerals ----------------------------------------------------------------------


def _cn_int(s: str) -> int | None:
    """Value of a Chinese numeral like 三千 / 十八 / 一亿零五万 / 两百, None if malformed.

    Strict on purpose: 百万/千百/亿万/十三五/三四 are words or lists, not numbers.
    """
    if len(s) > 1 and all(c in _CN_DIGITS for c in s):
        return None  # digit strings (二〇一三) are only read as years, by _DATE
    total = section = 0  # total: the 万/亿 part done so far; section: the part below 万
    num: int | None = None
    last_small, zero, after_wan = 10**9, False, False
    for ch in s:
        if ch in "零〇":
            zero = True
        elif ch in _CN_DIGITS:
            if num is not None:
                return None
            num = _CN_DIGITS[ch]
        elif ch in _CN_SMALL:
            unit = _CN_SMALL[ch]
            if num is None:
                if ch != "十" or section or zero:
                    return None
                num = 1  # 十八 = 18
            if unit >= last_small:
                return None
            section, num, last_small, zero = section + num * unit, None, unit, False
        else:  # 万 scales the part below it; 亿 scales everything before it (三万亿 = 3e12)
            if ch == "万":
                part = section + (num or 0)
                if not part or after_wan:
                    return None
                total += part * 10**4
            else:
                part = total + section + (num or 0)
                if not part:
                    return None
                total = part * 10**8
            section, num, last_small, zero, after_wan = 0, None, 10**9, False, ch == "万"
    if num is not None and not zero and s[-2:-1] in ("百", "千", "万", "亿"):
        # colloquial abbreviation: 三千五 = 3500, 一万二 = 12000
        num *= _MAG[s[-2]] // 10
    return total + section + (num or 0)


def _md_int(s: str) -> int | None:
    return int(s) if s.isdigit() and s.isascii() else _cn_int(s)


def _year(s: str) -> int | None:
    """A 4-digit year in 1900–2100 (Arabic or 二〇一三), else None."""
    y = int(s) if s.isascii() else int("".join(str(_CN_DIGITS[c]) for c in s)) if "两" not in s else 0
    return y if 1900 <= y <= 2100 else None


# --- scanning -------------------------------------------------------------------------------


@dataclass
class _Atom:
    start: int
    end: int
    value: Decimal
    mag: Decimal  # magnitude applied to value; a bare range low adopts the high's
    unit: str
    kind: str
    approx: bool = False
    high: Decimal | None = None
    bare: bool = False  # a plain number: no unit, magnitude, marker or prefix
    weak: bool = False  # a lone Chinese digit: only kept inside a range or by parse_quantity
    year_like: bool = False  # four Arabic digits in 1900–2100
    lead_zero: bool = False


def _prefix(t: str, lo: int, start: int) -> tuple[int, str | None, bool]:
    """Look left of a number (not before lo) for 百分之 / 第 and an approximate marker."""
    j = len(t[lo:start].rstrip(" \t\u00a0")) + lo
    kind = None
    if j - 3 >= lo and t.startswith("百分之", j - 3):
        kind, start = "percent", j - 3
    elif j - 1 >= lo and t[j - 1] == "第":
        kind, start = "ordinal", j - 1
    j = len(t[lo:start].rstrip(" \t\u00a0")) + lo
    for p in _APPROX_PREFIXES:
        if j - len(p) >= lo and t.startswith(p, j - len(p)):
            if p == "近" and j >= 2 and t[j - 2] in "最附":  # 最近3年 = "the last 3 years", exact
                break
            return j - len(p), kind, True
    return start, kind, False


def _date(t: str, start: int, approx_prefix: bool) -> _Atom | None:
    m = _DATE.match(t, start)
    if not m:
        return None
    g = m.group
    if g("yp"):
        y = _year(g("y"))
        if y is None:
            return None
        if approx_prefix and not g("mp"):
            return None  # 近2000年 is a duration
        mo = _md_int(g("m")) if g("mp") else None
        d = _md_int(g("d")) if g("d") else None
        if mo is None or not 1 <= mo <= 12:
            return _Atom(start, m.end("yp"), Decimal(y), Decimal(1), "年", "date")
        if d is None or not 1 <= d <= 31:
            return _Atom(start, m.end("mp"), Decimal(y * 100 + mo), Decimal(1), "年月", "date")
        return _Atom(start, m.end(), Decimal(y * 10000 + mo * 100 + d), Decimal(1), "年月日", "date")
    if g("m2"):
        mo, d = _md_int(g("m2")), _md_int(g("d2"))
        if mo and d and mo <= 12 and d <= 31:
            return _Atom(start, m.end(), Decimal(mo * 100 + d), Decimal(1), "月日", "date")
        return None
    y, mo, d = (int(g("iy")), int(g("im")), int(g("id"))) if g("iy") else (int(g("sy")), int(g("sm")), 0)
    if not (1900 <= y <= 2100 and 1 <= mo <= 12 and d <= 31 and (d or g("sy"))):
        return None
    if g("sy"):
        return _Atom(start, m.end(), Decimal(y * 100 + mo), Decimal(1), "年月", "date")
    return _Atom(start, m.end(), Decimal(y * 10000 + mo * 100 + d), Decimal(1), "年月日", "date")


def _generic(t: str, start: int, pkind: str | None, approx: bool) -> _Atom | None:
    m = _GEN.match(t, start)
    if m is None:
        return None
    core = m.group("core")
    is_cn = not core[0].isdigit()
    n = _cn_int(core) if is_cn else Decimal(core.replace(",", ""))
    if n is None or (is_cn and t[start - 1 : start] in ("几", "数")):  # 几十/数百: "some tens", not 10
        return None
    value = Decimal(n)
    fuzz = bool(m.group("fuzz") or m.group("fuzz2"))
    mag = Decimal(math.prod(_MAG[c] for c in m.group("mag") or ""))
    end = max(m.end("core"), m.end("fuzz"), m.end("mag"), m.end("fuzz2"))  # end() is -1 if unmatched
    unit, kind = _UNITS[m.group("unit")] if m.group("unit") and pkind != "percent" else ("", "amount")
    if kind == "date" and not (
        mag == 1 and not fuzz and value == int(value) and 1 <= value <= (12 if unit == "月" else 31)
    ):
        unit, kind = "", "amount"  # "13月" is not a month: drop the unit word
    if unit:
        end = m.end("unit")
    if pkind == "percent":
        unit, kind = "%", "percent"
    elif pkind == "ordinal":
        kind = "ordinal"
    suf = _SUFFIX.match(t, end)
    if suf:
        end, approx = suf.end(), True
    bare = not (unit or pkind or fuzz or approx or m.group("mag"))
    weak = is_cn and len(core) == 1 and not (pkind or m.group("mag") or fuzz) and (not unit or core == "一")
    return _Atom(
        start,
        end,
        value * mag,
        mag,
        unit,
        kind,
        approx or fuzz,
        bare=bare,
        weak=weak,
        year_like=bool(re.fullmatch(r"\d{4}", core)) and 1900 <= value <= 2100,
        lead_zero=len(core) > 1 and core[0] == "0" and core[1].isdigit(),
    )


def _merge(t: str, a: _Atom, b: _Atom) -> _Atom | None:
    """Join "low SEP high" into one range atom, or None if they are not a range."""
    if not _RANGE_SEP.fullmatch(t, a.end, b.start) or a.lead_zero or b.high is not None or a.high is not None:
        return None
    if "ordinal" in (a.kind, b.kind):
        return None
    if _CHAIN_BEFORE.search(t, max(0, a.start - 16), a.start) or _CHAIN_AFTER.match(t, b.end):
        return None
    high = b.value
    if not a.unit and a.kind == "amount":  # "2-3万户": the low takes the high's unit (and magnitude)
        low, unit, kind = a.value * (b.mag if a.mag == 1 else 1), b.unit, b.kind
        if kind == "date" and not (unit == "年" and a.year_like):
            return None
    elif (a.unit, a.kind) == (b.unit, b.kind):
        low, unit, kind = a.value, a.unit, a.kind
    elif a.unit in ("月日", "年月日") and b.unit == "日" and b.kind == "date":  # 2月21日至23日
        low, unit, kind, high = a.value, a.unit, "date", a.value // 100 * 100 + b.value
    else:
        return None
    if low > high:
        return None
    if kind == "amount" and not unit and a.year_like and b.year_like and b.bare:
        unit, kind = "年", "date"  # "2021-2025" as a period
    return _Atom(a.start, b.end, low, Decimal(1), unit, kind, a.approx or b.approx, high=high)


def _scan(text: str, loose: bool) -> list[Quantity]:
    t = normalize_digits(text)
    atoms: list[_Atom] = []
    pos = 0
    while (m := _CORE.search(t, pos)) is not None:
        lo = max(atoms[-1].end if atoms else 0, m.start() - 12)  # prefixes are short; keeps this linear
        start, pkind, approx = _prefix(t, lo, m.start())
        atom = None if pkind else _date(t, m.start(), approx)
        if atom is None:
            atom = _generic(t, m.start(), pkind, approx)
        if atom is None:
            pos = m.end()
            continue
        atom.start, atom.approx = start, atom.approx or approx
        atoms.append(atom)
        pos = atom.end
    merged: list[_Atom] = []
    i = 0
    while i < len(atoms):
        joined = _merge(t, atoms[i], atoms[i + 1]) if i + 1 < len(atoms) else None
        merged.append(joined or atoms[i])
        i += 2 if joined else 1
    return [
        Quantity(
            text[a.start : a.end],
            a.start,
            a.end,
            float(a.value),
            a.unit,
            a.kind,
            a.approx,
            None if a.high is None else float(a.high),
        )
        for a in merged
        if loose or not a.weak
    ]


def find_quantities(text: str) -> list[Quantity]:
    """All quantities in ``text``, in order and non-overlapping.

    A lone Chinese digit (三, 两) counts only with a measure word (两个, 八年), and a lone 一
    never does: in running text 一个/一批/一次 are articles, not figures to verify.
    """
    return list(_quantities_of(text))


@functools.lru_cache(maxsize=16384)
def _quantities_of(text: str) -> tuple[Quantity, ...]:
    # Cached: every part of every question reads the same evidence sentences (a third of an
    # answer's time went to scanning them again).
    return tuple(_scan(text, loose=False))


def parse_quantity(text: str) -> Quantity | None:
    """The quantity that makes up the whole of ``text`` (surrounding spaces allowed), else None.

    Unlike find_quantities, a bare numeral such as 两 / 一 / 一年 is accepted here.
    """
    qs = _scan(text, loose=True)
    lead = len(text) - len(text.lstrip())
    if len(qs) == 1 and qs[0].start == lead and qs[0].end == len(text.rstrip()):
        return qs[0]
    return None


def same_quantity(a: Quantity, b: Quantity, rel_tol: float = 1e-9) -> bool:
    """True if a and b state the same figure: same kind, equal value and high, compatible unit.

    Units are compatible when equal or when one amount has none (「9899万」 vs 「9899万人」).
    ``approx`` is ignored: 「4300多亿元」 and 「4300亿元」 state the same number.
    """
    if a.kind != b.kind:
        return False
    if a.unit != b.unit and not (a.kind == "amount" and "" in (a.unit, b.unit)):
        return False
    if (a.high is None) != (b.high is None):
        return False
    if a.high is not None and b.high is not None and not math.isclose(a.high, b.high, rel_tol=rel_tol):
        return False
    return math.isclose(a.value, b.value, rel_tol=rel_tol)


_MORE_THAN = re.compile(r"多|余|超过|以上|逾")
_NEARLY = re.compile(r"近|将近|接近|不到")
_ROUGHLY_SHARE = 0.1  # 「约3000人」: within a tenth either way


def stated_range(q: Quantity) -> tuple[float, float]:
    """The values a figure as written may stand for: 「4万多」 40 000–50 000 (up to the next unit
    of its last digit), 「1800多」 1 800–1 900, 「近2000万」 a little below 2 000万, 「约」 about."""
    if q.high is not None:
        return q.value, q.high
    if not q.approx:
        return q.value, q.value
    if _MORE_THAN.search(q.text):
        digits = re.search(r"\d+(?:\.\d+)?", normalize_digits(q.text))
        if not digits or not float(digits.group()):
            return q.value, 2 * q.value
        written = digits.group()
        whole, _, fraction = written.partition(".")
        # The place of the last nonzero digit: 「20」 → 10, 「1800」 → 100, 「1.5」 → 0.1.
        place = 10.0 ** -len(fraction) if fraction else 10.0 ** (len(whole) - len(whole.rstrip("0")))
        return q.value, q.value + place * q.value / float(written)
    if _NEARLY.search(q.text):
        return q.value * (1 - _ROUGHLY_SHARE), q.value
    return q.value * (1 - _ROUGHLY_SHARE), q.value * (1 + _ROUGHLY_SHARE)
