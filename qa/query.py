"""Understand a question before retrieval: what it asks for, and what it means in context.

A follow-up question (「那2017年呢？」「他们是谁？」) only makes sense with the
previous turn: it is rewritten as the previous question's subject plus the new
constraint before anything is retrieved.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from jieba import posseg

from index.errors import QuestionError
from qa.colloquial import official_terms
from qa.followup import ASKING, resolve, resolve_part
from qa.numbers import parse_quantity
from qa.text import NOT_PLACES, place_names

# What kind of number a question asks for, by its question words (first match wins).
WANTS_YEAR = re.compile(
    r"哪一?年|什么时候|啥时候|啥时|何时|哪会儿|哪个时间|什么时间|哪一?天|哪几天|几号|几月|日期|时间(?!表)"
)
# 「贫困发生率超过18%的贫困县有几个」 states a rate as a condition and counts counties.
WANTS_PERCENT = re.compile(
    r"百分之几|百分之多少|多少%|比例|比重|占比|率(?:(?!\d+(?:\.\d+)?\s*%|百分之)[^，。？?])*(?:多少|几)|百分点"
)
# 「哪几句话」「哪五个方面」「哪些地方」ask for a list, not a number (「哪几天」 asks for dates).
LIST_QUESTION = re.compile(r"哪(?:些|几(?![天号年月日])|[二两三四五六七八九十]+)|有哪|包括什么|包括哪")
LIST_SIZE = re.compile(r"哪([两二三四五六七八九十]+)")
WANTS_NUMBER = re.compile(r"多少|几[个名户家项次条所万亿千百十年]|几|多大|多高|多长|多远|数量|规模|金额")

# Interrogative phrases carry no topic: they are left out of lexical matching (a rare
# question word such as 「哪一天」 would otherwise weigh more than the subject).
QUESTION_WORDS = re.compile(
    r"(?:具体)?(?:指的?是|包括|是)?(?:哪(?:一|几)?(?:天|年|月|日|个|些|位|项|种|条|家|里|儿|句)?(?:地方|方面|部门|单位|人|工作|话)?)"
    r"|什么(?:时候|时间|地方|水平|要求|样|内容|意思|名字)?|多少(?:钱|人|个|名|户|家|次|年|亿元|万元|元)?"
    r"|几(?:句话|句|个|项|条|种|方面|年|户|名|家|次|位)?|是谁|叫什么名字|叫什么|有哪些|分别|一共|总共|共计|是否|怎么样|怎样|怎么|如何"
    r"|为什么|请问|具体|到底|吗|呢|了"
    # how people type them: 啥/咋 for 什么/怎么
    r"|啥(?:时候|时|意思|样|东西|内容)?|咋(?:样|办|弄|回事)?|为啥|哪会儿|几号"
)
# Control, zero-width and bidirectional-override characters: invisible, and a way to disguise text.
INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


# The thing a figure question counts: what follows 多少/几 (and a measure word), or what
# precedes 是多少/有多少. Measure words and generic nouns are not a focus.
FOCUS_AFTER = re.compile(
    r"(?:多少|几)(?:名|个|户|家|位|项|条|种|次|所|元|亿元|万元|万|亿|公里|人次|人)?([\u4e00-\u9fff“”\"]{2,14})"
)
# Before 多少, the phrase after the last 的 (「衔接资金项目的完工率是多少」 measures 完工率) and
# after a localizer 中/里 (「贫困家庭中女性有多少」 counts 女性; 中央 is no localizer).
FOCUS_BEFORE = re.compile(
    r"([^，,的之、“”\"\s\d]{2,12}?)(?:是|有|为|达到|达|约|共|一共|总共|累计|占)?(?:多少|几|多大|多高|多长|多远)"
)
FOCUS_STOP = re.compile(
    r"^(?:了|的|是|有|在|到|从|由|为|将|把|被|一共|总共|累计|具体|分别|大约)+|(?:了|的|是|呢|吗|又|还|也|都)+$"
)
FOCUS_SPLIT = re.compile(r"[和与及、，,“”\"]+")
LOCALIZERS = frozenset(("中", "里", "里面", "里头", "当中", "之中"))
MARKUP = re.compile(
    r"<(script|style)\b[^>]*>.*?</\1\s*>|</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>", re.IGNORECASE | re.DOTALL
)
# 「这里面」「其中」 say that a part is asked, not what is counted.
PART_OF = re.compile(r"(?:这|那)?(?:里面|里头|当中|之中|其中)")
GENERIC_FOCUS = frozenset(
    "钱 人 个 元 次 年 倍 天 月 多 少 时候 时间 水平 比例 名字 东西 内容 全国 我国 地方 方面".split()
)
# jieba tags of nouns: n, nr (people), ns (places), nt (organisations), nz, ng; vn and an
# are verbs and adjectives used as nouns (「普查」「困难」), j abbreviations (「人均」).
NOUN_TAGS = ("n", "vn", "an", "j")
# Places and names say where or who, not what is counted (「西藏建档立卡贫困人口」 counts 贫困人口).
SCOPE_TAGS = ("ns", "nr", "nrt")
CLAUSE_SPLIT = re.compile(r"[，,]")
# 「…，A和B分别是多少」: the coordinated items before 分别, within the last clause.
RESPECTIVELY_WORD = r"(?:分别|各自|各(?![类种级地项个位部门族界]))"
TIME_ITEM = re.compile(r"(?:(?:19|20)?\d{2})年(?:底|末|初)?$")
RESPECTIVELY = re.compile(r"(?P<items>[^，,]{1,40})" + RESPECTIVELY_WORD)
COORDINATION = re.compile(r"和|与|及|以及|、")
# The unit a figure question names right after 多少/几, and the units (qa.numbers) that state it.
ASKED_UNIT = re.compile(
    r"(?:多少|几)(亿元|万元|元|钱|人次|名|人|位|户|公里|亩|倍|个(?!人|月|小时|百分点|亿|万|点|星期|季度|工作日))"
)
# 「多少个驻村工作队」 counts things, not people nor money: any measure word of things states it,
# or people's when what it counts are people (「多少个党员」).
THING_UNITS = tuple("个 家 村 县 乡 镇 省 市 区 所 座 处 条 期 项 批 届 件 套 张 台 辆 部 份 篇 本 支 种 类".split())
PEOPLE_UNITS = ("名", "人", "位", "人次")
COUNTS_PEOPLE = re.compile(r"[人员众生者士童女]|干部|书记|群众|农民|牧民|家庭")
UNITS_OF = {
    "亿元": ("元",),
    "万元": ("元",),
    "元": ("元",),
    "钱": ("元",),
    "人次": ("人次", "人"),
    "名": ("名", "人", "人次"),
    "人": ("人", "名", "人次"),
    "位": ("位", "名", "人"),
    "户": ("户",),
    "公里": ("公里",),
    "亩": ("亩",),
    "倍": ("倍",),
    "个": THING_UNITS,
}
PART_SPLIT = re.compile(r"[？?；;。!！]+")
# Users type a space where a question mark belongs (「19年是多少 20年又是多少」).
SPACE_BETWEEN_WORDS = re.compile(r"(?<=[\u4e00-\u9fff])[ \u3000]+(?=[\u4e00-\u9fff\d])")


@dataclass(frozen=True)
class SubQuestion:
    """One thing a question asks (「从多少下降到了多少？平均每名党员帮扶几户？」 asks two)."""

    text: str
    wants: str  # "year" | "percent" | "number" | ""
    focus: tuple[str, ...]  # what a figure question counts, e.g. ("普查员", "指导员")
    is_list: bool = False  # asks for several items (「哪五个」「哪几句话」)
    list_size: int = 0  # how many items it asks for (「哪五个」→ 5), 0 when it does not say
    units: tuple[str, ...] = ()  # units an answer's figure may have (「多少元」→ 元); () = any
    places: tuple[str, ...] = ()  # places it asks about (「那曲市」): an answer must speak of them
    expansions: tuple[str, ...] = ()  # official terms for its everyday words (「破房子」→ 危房)

    @property
    def search_text(self) -> str:
        """The part with the official terms of its everyday words, for lexical matching."""
        return " ".join((self.text, *self.expansions))


@dataclass(frozen=True)
class QuestionInfo:
    """What the answerer needs to know about a question."""

    text: str  # the (possibly rewritten) question used for retrieval
    wants: str  # "year" | "percent" | "number" | "" (not a figure question)
    parts: tuple[SubQuestion, ...] = ()


def clean_question(question: object, max_chars: int) -> str:
    """Validate and tidy a question from a user.

    Raises:
        QuestionError: the question is not text, empty, or longer than ``max_chars``.
    """
    if not isinstance(question, str):
        raise QuestionError("问题必须是文本。 The question must be text.")
    # Lone surrogates cannot be encoded; drop them like other invisible characters.
    text = question.encode("utf-8", "ignore").decode("utf-8") if _has_surrogates(question) else question
    text = INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise QuestionError("请输入问题。 Please type a question.")
    if len(text) > max_chars:
        raise QuestionError(
            f"问题太长（{len(text)} 字），请控制在 {max_chars} 字以内。 "
            f"The question is {len(text)} characters long; the limit is {max_chars}."
        )
    return text


def without_markup(question: str) -> str:
    """The question without HTML pasted into it (「<img …><script>…</script>扶贫日是哪一天？」 asks
    about 扶贫日): markup is not what is asked. All markup: the question as typed."""
    stripped = MARKUP.sub(" ", question).strip()
    return stripped or question


def topic_words(question: str) -> str:
    """The question with its interrogative phrases blanked out, for lexical matching."""
    return QUESTION_WORDS.sub(" ", question)


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def asked_number_kind(question: str) -> str:
    """ "year", "percent", "number" or "" for the kind of figure a question asks for."""
    norm = LIST_QUESTION.sub("", unicodedata.normalize("NFKC", question))
    if WANTS_YEAR.search(norm):
        return "year"
    if WANTS_PERCENT.search(norm):
        return "percent"
    if WANTS_NUMBER.search(norm):
        return "number"
    return ""


def asked_list_size(text: str) -> int:
    """How many items a list question asks for (「哪六个方面」→ 6, 「哪两项」→ 2), else 0."""
    match = LIST_SIZE.search(text)
    size = parse_quantity(match.group(1)) if match else None
    return int(size.value) if size else 0


def asked_units(text: str) -> tuple[str, ...]:
    """The units a figure must have to answer the text (「多少元」→ 元), () when it names none.

    Only when every 多少/几 of the text names a unit: 「多少户、多少人」 accepts either.
    """
    found = list(ASKED_UNIT.finditer(text))
    if not found or len(found) < len(re.findall(r"多少|几|多大|多高", text)):
        return ()
    units = [unit for match in found for unit in UNITS_OF[match.group(1)]]
    counted = [text[m.end() : m.end() + 8] for m in found if m.group(1) == "个"]
    if any(COUNTS_PEOPLE.search(words) for words in counted):
        units.extend(PEOPLE_UNITS)
    if any(re.search(r"户|家庭", words) for words in counted):  # 「多少个贫困户」: 1500多万户
        units.append("户")
    return tuple(dict.fromkeys(units))


def figure_focus(text: str) -> tuple[str, ...]:
    """What a figure question counts or measures: head nouns (empty if it asks for no figure).

    The counted thing follows 多少/几 (「多少名党员直接参与」 counts 党员); only when
    nothing follows does the noun just before 是多少/有多少 count (「森林覆盖率达到了多少」).
    Places, times, verbs and generic words (全国) say where and when, not what is counted.
    """
    text = PART_OF.sub("，", text)
    found = _head_nouns(FOCUS_AFTER, text, first=True) or _phrases_before(text)
    return tuple(dict.fromkeys(found))


def _phrases_before(text: str) -> list[str]:
    """The phrases just before 是多少/有多少, without places, times and generic words."""
    found = []
    for match in FOCUS_BEFORE.finditer(text):
        words = [(w, t) for w, t in posseg.lcut(FOCUS_STOP.sub("", QUESTION_WORDS.sub("", match.group(1))))]
        localizers = [i for i, (w, t) in enumerate(words) if t == "f" and w in LOCALIZERS]
        if localizers:
            words = words[localizers[-1] + 1 :]
        while words and len(words[-1][0]) > 1 and words[-1][1].startswith(("v", "u", "d")) and words[-1][1] != "vn":
            words.pop()  # 「森林覆盖率达到了」: the verb is not what is measured
        kept = "".join(
            w
            for w, t in words
            if (t not in SCOPE_TAGS or w in NOT_PLACES or _names_students(w, t))
            and t not in ("m", "t")
            and w not in GENERIC_FOCUS
        )
        kept = FOCUS_STOP.sub("", kept)
        if len(kept) >= 2:
            found.append(kept)
    return found


def _names_students(word: str, tag: str) -> bool:
    """jieba takes 初中生, 高中生 for people's names: a group counted, not a scope."""
    return tag.startswith("nr") and len(word) >= 3 and word.endswith("生")


def _head_nouns(pattern: re.Pattern[str], text: str, first: bool) -> list[str]:
    """Per phrase the pattern captures: after 多少/几 the first noun (「多少户贫困户发放了贷款」
    counts 贫困户), before it the last run of nouns (「森林覆盖率」, not 「覆盖率」)."""
    heads = []
    for match in pattern.finditer(text):
        for phrase in FOCUS_SPLIT.split(match.group(1)):
            words = posseg.lcut(FOCUS_STOP.sub("", QUESTION_WORDS.sub("", phrase)))
            head = _first_noun(words) if first else _last_noun_run(words)
            if head:
                heads.append(head)
    return heads


def _counts_something(word: str, tag: str) -> bool:
    return tag.startswith(NOUN_TAGS) and tag not in SCOPE_TAGS and word not in GENERIC_FOCUS


def _first_noun(words: list) -> str | None:
    return next((w for w, tag in words if _counts_something(w, tag) and tag != "vn" and len(w) >= 2), None)


def _last_noun_run(words: list) -> str | None:
    runs: list[str] = []
    in_run = False
    for word, tag in words:
        noun = _counts_something(word, tag)
        if noun and in_run:
            runs[-1] += word
        elif noun:
            runs.append(word)
        in_run = noun
    runs = [run for run in runs if len(run) >= 2]
    return runs[-1] if runs else None


def warm_up() -> None:
    """Load jieba's dictionaries now (≈ 1 s on first use) rather than on the first question."""
    posseg.lcut("脱贫攻坚")


def asks_something(text: str) -> bool:
    """True if a clause asks something (「带动了建档立卡人口」 does not: 了 is not a question word)."""
    return bool(ASKING.search(text) or asked_number_kind(text))


def spaced_questions(question: str) -> str:
    """The question with a space that separates two questions made a question mark: both sides
    ask something (「东西部帮扶投了多少 其中上海投了多少」); other spaces stay."""
    pieces = SPACE_BETWEEN_WORDS.split(question)
    joined = pieces[0]
    for piece in pieces[1:]:
        before = PART_SPLIT.split(joined)[-1]
        after = PART_SPLIT.split(piece)[0]
        joined += ("？" if asks_something(before) and asks_something(after) else " ") + piece
    return joined


def split_question(question: str) -> tuple[SubQuestion, ...]:
    """The sub-questions of a question; clauses without a question word join the next one."""
    groups: list[str] = []
    for part in filter(None, (p.strip() for p in PART_SPLIT.split(spaced_questions(question)))):
        pending = ""
        for clause in filter(None, (c.strip() for c in CLAUSE_SPLIT.split(part))):
            pending = f"{pending}，{clause}" if pending else clause
            if asks_something(clause):
                groups.append(pending)
                pending = ""
        if pending:
            if groups and not asks_something(pending):
                groups[-1] = f"{groups[-1]}，{pending}"
            else:
                groups.append(pending)
    # A later question that leans on an earlier one (「其中…」「西藏呢？」) carries its subject
    # (resolved in turn, so a third leans on the second as the reader understood it), but what it
    # asks for is its own. The items of one 「A和B分别…」 are whole questions already.
    resolved: list[str] = []
    items: list[str] = []
    previous = ""
    for group in groups or [question]:
        text = resolve_part(group, previous) if previous else group
        expanded, own = each_respectively(text), each_respectively(group)
        items.extend(own if len(own) == len(expanded) else [group] * len(expanded))
        resolved.extend(expanded)
        previous = text
    groups = items
    return tuple(
        SubQuestion(
            text=text,
            wants=kind,
            focus=figure_focus(g) if kind else (),
            is_list=bool(LIST_QUESTION.search(g)),
            list_size=asked_list_size(g),
            units=asked_units(g) if kind else (),
            places=place_names(text, loose=True),
            expansions=official_terms(text),
        )
        for g, text, kind in ((g, text, asked_number_kind(g)) for g, text in zip(_asking(groups, resolved), resolved))
    )


ONLY_LEANS = re.compile(r"呢[？?]?$")


def _asking(groups: Sequence[str], resolved: Sequence[str]) -> list[str]:
    """What each part asks for: its own words, or the resolved text's where it only leans on the part
    before (「…是几号到几号 20年去陕西呢」 asks the date again)."""
    return [
        text if ONLY_LEANS.search(group) and not asked_number_kind(group) else group
        for group, text in zip(groups, resolved)
    ]


def each_respectively(question: str) -> list[str]:
    """「A和B分别是多少」 as 「A是多少」 and 「B是多少」: each item of a 分别 question is asked on its own.

    The items are what stands between the clause start and 分别, split at 和/与/及/、
    (「2019年和2020年分别是多少」, 「十八届五中全会和中央扶贫开发工作会议分别是什么时候开的」).
    """
    if not re.search(RESPECTIVELY_WORD, question):
        return [question]
    # 「2020年拉萨和日喀则脱贫群众人均收入分别是多少」: two places joined ask the rest of the
    # question of each, wherever 分别 stands (「拉萨和林芝的…，到2020年分别是多少」).
    places = place_names(question, loose=True)
    for first, second in itertools.permutations(places, 2):
        joined = re.search(re.escape(first) + f"(?:{COORDINATION.pattern}|跟)" + re.escape(second), question)
        if joined:
            return [
                re.sub(RESPECTIVELY_WORD, "", question[: joined.start()] + place + question[joined.end() :], count=1)
                for place in (first, second)
            ]
    match = RESPECTIVELY.search(question)
    if not match:
        return [question]
    items = [item for item in COORDINATION.split(match.group("items")) if item]
    if len(items) < 2:
        return [question]
    # 「西藏贫困人口人均纯收入19年和20年」: years joined share what stands before the first.
    first_time = TIME_ITEM.search(items[0])
    if first_time and all(TIME_ITEM.fullmatch(item) for item in items[1:]):
        items = [items[0], *(items[0][: first_time.start()] + item for item in items[1:])]
    # 「因病致贫和因残致贫的比例」: what follows the last item's 的 belongs to every item.
    shared = items[-1][items[-1].rfind("的") :] if "的" in items[-1] else ""
    items = [item if item.endswith(shared) else item + shared for item in items]
    return [question[: match.start("items")] + item + question[match.end() :] for item in items]


def previous_questions(history: Sequence[object] | None) -> list[str]:
    """The user's earlier questions from a history in any of the accepted shapes.

    Accepted: a list of strings (earlier questions), of {"role", "content"} messages
    (content a string, or Gradio 6's list of {"type": "text", "text": ...} parts),
    or of [question, answer] pairs.
    """
    questions: list[str] = []
    for turn in history or ():
        if isinstance(turn, str):
            questions.append(turn)
        elif isinstance(turn, dict) and turn.get("role") == "user":
            questions.append(_message_text(turn.get("content")))
        elif isinstance(turn, (list, tuple)) and turn and isinstance(turn[0], str):
            questions.append(turn[0])
    return [q.strip() for q in questions if q and q.strip()]


def clean_history(history: Sequence[object] | None, max_chars: int) -> list[str]:
    """The earlier questions as ``clean_question`` would have let them through, others dropped.

    A history is user input like the question: a refused question (100 000 characters,
    a lone surrogate) stays in a chat's history and must not come back through a follow-up.
    """
    cleaned = []
    for question in previous_questions(history if isinstance(history, (list, tuple)) else None):
        try:
            cleaned.append(clean_question(question, max_chars))
        except QuestionError:
            continue
    return cleaned


def _message_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def analyze(question: str, history: Sequence[object] | None = None) -> tuple[QuestionInfo, str | None]:
    """The question as retrieval should see it, and the rewritten text if it was a follow-up."""
    resolved = resolve(without_markup(question), [without_markup(q) for q in previous_questions(history)])
    text = resolved.text
    info = QuestionInfo(text=text, wants=asked_number_kind(text), parts=split_question(text))
    return info, text if resolved.rewritten else None
