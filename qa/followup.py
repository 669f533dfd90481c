"""Follow-up questions carry the scope of the question before them.

「那那曲呢？」 after 「日喀则2020年脱贫人口人均可支配收入是多少？」 asks the same thing for 那曲:
the new place replaces the old one. 「那前一年呢？」 moves the year, 「省级的呢？」 the level,
「那小额信贷呢？」 the thing counted. A follow-up that asks something new about the same subject
(「其中中央财政出了多少？」, 「他们从哪年开始的？」, 「花了多少钱？」) keeps the earlier question as
its context. Each earlier question is resolved the same way first, so a chain of follow-ups
keeps its subject.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from jieba import posseg

from qa.text import NATIONAL, NOT_A_YEAR_AFTER, from_word_start, names_nation, place_names, years_in

# Words a follow-up opens with, or ends with, and pronouns that point back.
OPENERS = re.compile(r"^(?:那么说|那么|那末|那(?!曲)|还有|另外|此外|以及|再问一下|再问|而|同时|其中|这里面|里面|里头)")
TAIL = re.compile(r"(?:的|的话)?(?:呢|怎么样|咋样|如何|情况)?[？?。！!\s]*$")
# Words that point back to the part before within one question (「又」「还」 do not: 「西藏又派了
# 多少人」 names its own subject) …
PRONOUNS = re.compile(
    r"他们|她们|它们|(?<!其)[他她]|这些|那些|该|此|上述|这个|那个|这项|这一|这种|那种|这里|那里|当地|同期|其中|那年|那一年|当年"
    r"|这几[个项类条]|那几[个项类条]|这[两三四五六七八九]个|那[两三四五六七八九]个|这笔|那笔|这次|那次|这批|那批|这份|那份|这位|那位|(?<![大谈议年论])会上"
)
# … and to the question before, across turns.
POINTS_BACK = re.compile(PRONOUNS.pattern + "|那边|又|还")
# A follow-up asks little of its own: fewer topic characters than this (「花了多少钱？」).
MAX_BARE_CHARS = 6
MAX_UNSCOPED_CHARS = 10
MAX_UNSCOPED_FIGURE_CHARS = 20
# A follow-up with this many topic characters of its own names its own subject.
SELF_CONTAINED_CHARS = 10
INSIDE = re.compile(r"其中|里面|里头|当中")  # 「里面进了多少家企业」 asks inside the earlier subject
ASKS_FIGURE = re.compile(r"多少|几[个名户人项所次万亿年成]")
# 「那日喀则市区呢？」 still only moves the place; more beside the place names a new subject.
MAX_PLACE_REST_CHARS = 2
ASKING = re.compile(
    r"多少|几|哪|什么|啥|谁|吗|是否|是不是|怎么|怎样|如何|咋|为何|为什么|为啥|有没有|能不能|会不会|呢|是多少"
)
QUESTION_WORDS = re.compile(
    r"(?:具体)?(?:是|有|为)?(?:多少|几)(?:钱|人|个|名|户|家|次|年|亿元|万元|元|项|所|条|种|位|期|批|人次)?|哪(?:一|几)?(?:天|年|月|个|些|位|项|种|条|家|里|儿)?"
    r"|什么时候|什么|啥时候|啥|是谁|谁|吗|呢|是否|是不是|怎么样|怎样|怎么|如何|咋样|咋|为什么|为啥|为何|一共|总共|分别|各自|请问"
)
TIME_EXPRESSION = re.compile(
    r"(?:(?:19|20)?\d{2}\s*年?\s*(?:到|至|—|-|~|～)\s*)?(?:19|20)\d{2}\s*年(?:底|初|末|以来|年底|年初)?"
    r"|(?:19|20)\d{2}(?=\s*(?:到|至|—|-|~|～))"
    # as users type years: 「18到21年」「16、17年」, and 「17年」 where no count of years can be meant
    r"|(?<![\d.])[0-2]\d\s*年?\s*(?:到|至|—|-|~|～|、|和)\s*[0-2]\d\s*年(?:底|初|末)?"
    r"|(?<![\d.近这前后多几十每第过了用花])[0-2]\d年(?:底|初|末)?(?!间|内|里|多|后|前|左右|半|时间|的时间)"
    + NOT_A_YEAR_AFTER
    + r"|[“\"]?十[一二三四]五[”\"]?(?:期间|时期)?"
)
SHORT_YEAR_IN_TIME = re.compile(r"(?<![\d.])([0-2]\d)(?!\d)")
RELATIVE_YEAR = {"前一年": -1, "上一年": -1, "去年": -1, "头一年": -1, "后一年": 1, "下一年": 1, "第二年": 1, "次年": 1}
# 「那２１年呢？」: full-width digits as typed on a Chinese keyboard read as their half-width twins.
HALF_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
# 「同一时间」「同期」 in a follow-up keep the earlier question's time.
SAME_TIME = re.compile(r"(?:在)?(?:同一时间|同一时期|同一年|同期|同年|那时候?|当时)")
# A quoted term of a question asking what something means or includes.
QUOTED_TERM = re.compile(r"[「“\"]([^」”\"]{2,20})[」”\"]")
ASKS_MEANING = re.compile(r"什么意思|啥意思|指的?是|指什么|指啥|是什么|是啥|包括|含义|内涵")
# Levels of government and numbered rounds replace their like (中央 → 省级, 一期 → 二期).
LEVEL = re.compile(r"中央|国家|省级|省里|自治区|市级|市里|地级|县级|县里|乡级|乡镇|村级")
ROUND = re.compile(r"[一二三四五六七八九十\d]+期|第[一二三四五六七八九十\d]+批")
# The thing a figure question counts: after 多少/几 and a measure word (「多少扶贫贴息贷款」).
COUNTED = re.compile(
    r"(?:多少|几)(?:名|个|户|家|位|项|条|种|次|所|元|亿元|万元|万|亿|公里|人次|人)?([\u4e00-\u9fff“”]{2,12})"
)
# What closes a list named in a question (「…、市县抓落实里面」「…这三项中」).
LIST_TAIL = re.compile(r"(?:这|那)?(?:[几两三四五六七八九十\d]+(?:个|条|项|方面))?(?:里面|里头|当中|之中|中|里|等)$")
COUNTED_BEFORE = re.compile(r"([\u4e00-\u9fff“”]{2,12}?)(?:是|有|为|达到|达|约|共|一共|总共|累计)?(?:多少|几)")


@dataclass(frozen=True)
class Resolved:
    """A question as it means in its chat."""

    text: str  # self-contained: retrieval and answering use it
    rewritten: bool  # False: the question needed no context


def resolve(question: str, history: Sequence[str]) -> Resolved:
    """The self-contained form of ``question`` given the user's earlier questions (oldest first)."""
    question, history = question.translate(HALF_WIDTH_DIGITS), [h.translate(HALF_WIDTH_DIGITS) for h in history]
    previous = ""
    for earlier in history:
        previous = _resolve_one(earlier, previous) if previous else earlier
    if not previous:
        return Resolved(question, False)
    resolved = _resolve_one(question, previous)
    return Resolved(resolved, resolved != question)


def resolve_part(part: str, previous_part: str) -> str:
    """A later part of one question resolved against the part before it.

    A part that points back (「其中…」「他们…」「这些…」), opens as a follow-up (「那…」「…呢」)
    or asks little beside its place (「…？西藏有多少？」) is a follow-up. One naming a subject of
    its own keeps it and takes only the earlier part's place and time where it names none:
    「2015年西藏建档立卡贫困人口有多少？到2019年底累计脱贫多少？」 asks about 西藏, and
    「全国派了多少个驻村工作队？西藏又派了多少人次干部驻村？」 about 西藏 alone.
    """
    text = part.strip()
    places = place_names(text, loose=True)
    topic = _bare(text)
    for place in places:
        topic = topic.replace(place, "")
    if len(topic) <= MAX_BARE_CHARS or PRONOUNS.search(text) or OPENERS.search(text) or re.search(r"呢[？?]*$", text):
        return _resolve_one(part, previous_part)
    return _with_own_scope(part, previous_part)


def _with_own_scope(question: str, previous: str) -> str:
    """The question with the earlier question's place and time in front where it names none
    (「到2019年底累计脱贫多少？」 after a question on 西藏 in 2015; none to carry: unchanged)."""
    text = question.strip()
    carried = () if place_names(text, loose=True) or names_nation(text) else _places_once(previous)
    times = () if TIME_EXPRESSION.search(text) else TIME_EXPRESSION.findall(previous)
    scope = "".join(dict.fromkeys([*times, *carried]))
    return scope + question if scope else question


def is_follow_up(question: str) -> bool:
    """True if the question leans on the one before it for what it is about.

    A time is not a subject: 「到2020年提高到多少了？」 asks about the earlier question's.
    """
    text = question.strip()
    if OPENERS.search(text) or re.search(r"呢[？?]*$", text) or POINTS_BACK.search(text):
        return True
    return len(_bare(TIME_EXPRESSION.sub("", text))) <= MAX_BARE_CHARS


def is_unscoped(question: str) -> bool:
    """True for a short question with no place or time of its own (「帮着引进的各类资金有多少？」):
    it keeps the place and time of the one before it, though it may ask about something new."""
    text = question.strip()
    bare = _bare(text)
    # A figure question whose subject is left out (it opens with a verb: 「带动了多少户建档立卡
    # 贫困户创收？」) counts for the earlier question's place, however many words it has.
    longest = MAX_UNSCOPED_FIGURE_CHARS if ASKS_FIGURE.search(text) and _opens_with_verb(text) else MAX_UNSCOPED_CHARS
    return (
        len(bare) <= longest
        and not place_names(text, loose=True)
        and not names_nation(text)
        and not TIME_EXPRESSION.search(text)
    )


def _opens_with_verb(text: str) -> bool:
    words = posseg.lcut(text)
    return bool(words) and words[0].flag.startswith("v")


def _places_once(text: str) -> tuple[str, ...]:
    """The places a text names, one name each: 「阿里地区」 is not also 「阿里」."""
    places = place_names(text, loose=True)
    return tuple(p for p in places if not any(p != q and p in q for q in places))


def _bare(text: str) -> str:
    """The topic characters of a question: no question words, punctuation or particles."""
    return re.sub(r"[^\w]|[了的吗呢吧啊]", "", QUESTION_WORDS.sub("", text))


def _resolve_one(question: str, previous: str) -> str:
    if not is_follow_up(question):
        return _with_own_scope(question, previous) if is_unscoped(question) else question
    constraint = TAIL.sub("", OPENERS.sub("", question.strip())).strip(" ，,")
    asks_nothing = bool(constraint) and not ASKING.search(constraint)
    if asks_nothing and len(constraint) <= 16:
        replaced = _replace_slot(constraint, previous)
        if replaced:
            return replaced
    # 「那2020年3月开的决战决胜脱贫攻坚座谈会呢，在哪儿开的？」 names its subject and asks of it:
    # the earlier question is no part of it, only its place and time where it names none.
    own_topic = _bare(TIME_EXPRESSION.sub("", constraint))
    leans_back = PRONOUNS.search(question) or INSIDE.search(question)
    if not asks_nothing and not leans_back and len(own_topic) >= SELF_CONTAINED_CHARS:
        return _with_own_scope(OPENERS.sub("", question.strip()), previous)
    # 「那十九届四中全会呢？」 asks the earlier question (「…是哪天开的？」) again: its asking words stay.
    return f"{_statement(previous, question, keep_asking=asks_nothing)}，{question.strip()}"


def _statement(previous: str, question: str, keep_asking: bool = False) -> str:
    """An earlier question as the context of a new one: its question words (unless the new one
    asks nothing of its own) and closing punctuation removed, and its times and places too when
    the new question names its own."""
    statement = previous if keep_asking else QUESTION_WORDS.sub("", previous)
    if TIME_EXPRESSION.search(question):
        statement = TIME_EXPRESSION.sub("", statement)
    new_places = place_names(question, loose=True)
    if new_places:
        for place in place_names(statement, loose=True):
            if place not in new_places:
                statement = statement.replace(place, "")
    return statement.strip(" ，,？?。！!")


def _replace_slot(constraint: str, previous: str) -> str | None:
    """The earlier question with the slot the constraint names replaced (place, year, level,
    round or the counted thing), or None when there is nothing of its kind to replace."""
    ask = previous.rstrip("？?。 ")
    places = place_names(constraint, loose=True)
    asked_places = place_names(ask, loose=True)
    constraint_scope = SAME_TIME.sub("", constraint)  # 「那全国同一时间呢？」 moves only the place
    # 「那嘉黎县娘亚牦牛养殖基地呢？」 names a new subject, not only a new place for the old one.
    # (「20年去陕西呢」 names a new time too: both are replaced.)
    new_time = _time_of(constraint, ask) if TIME_EXPRESSION.search(constraint_scope) else None
    beyond_places = re.sub("|".join(map(re.escape, places)) or "^$", "", TIME_EXPRESSION.sub("", constraint_scope))
    beyond_places = beyond_places.strip("的去在到")
    if places and len(beyond_places) <= MAX_PLACE_REST_CHARS:
        old = [p for p in asked_places if p not in places]
        # the whole country is a place too: 「全国…」 then 「那西藏呢？」 asks about 西藏 alone
        old += [m.group() for m in NATIONAL.finditer(ask)]
        old_times = TIME_EXPRESSION.findall(ask)
        if new_time:
            ask = _replace_first(ask, old_times, new_time, everywhere=True) if old_times else f"{new_time}{ask}"
        if old:
            return _ask(_replace_first(ask, old, places[0]))
        return _ask(f"{constraint}{ask}" if not new_time else f"{places[0]}{ask}")
    nation = NATIONAL.search(constraint_scope)
    if nation and asked_places and len(NATIONAL.sub("", constraint_scope).strip("的")) <= MAX_PLACE_REST_CHARS:
        return _ask(_replace_first(ask, asked_places, nation.group(), everywhere=True))
    sibling = _sibling_asked(constraint, ask)
    if sibling:
        return sibling
    # 「“省负总责”是什么意思？」 then 「那市县抓落实呢？」: the quoted term was the subject asked about.
    quoted = QUOTED_TERM.search(ask)
    if quoted and ASKS_MEANING.search(ask) and not places and not _time_of(constraint, ask):
        return _ask(ask[: quoted.start(1)] + constraint.strip('「」“”"') + ask[quoted.end(1) :])
    new_time = _time_of(constraint, ask)
    if new_time:
        old_times = TIME_EXPRESSION.findall(ask)
        if old_times:
            return _ask(_replace_first(ask, old_times, new_time, everywhere=True))
        return _ask(f"{new_time}{ask}")
    for pattern in (LEVEL, ROUND):
        named = pattern.search(constraint)
        if named and pattern.search(ask):
            new = named.group()
            return _ask(_replace_first(ask, [m.group() for m in pattern.finditer(ask)], new))
    counted = _counted(ask)
    if counted and constraint not in ask and not places:
        return _ask(ask.replace(counted, constraint, 1))
    return None


def _sibling_asked(constraint: str, ask: str) -> str | None:
    """「中央统筹、省负总责、市县抓落实里面，市县抓落实是啥意思？」 then 「那中央统筹呢？」: the
    constraint is another item of a list the earlier question named, so its asking clause is
    asked again about the constraint (「中央统筹是啥意思？」)."""
    for listed in re.findall(r"[^，,。；;？?]*、[^，,。；;？?]*", ask):
        items = [LIST_TAIL.sub("", item) for item in re.split(r"[、和与及]", listed) if item]
        if constraint not in items:
            continue
        asking = re.split(r"[，,；;]", ask)[-1]
        for item in sorted(items, key=len, reverse=True):
            if item != constraint and item in asking:
                return _ask(asking.replace(item, constraint, 1))
    return None


def _time_of(constraint: str, previous: str) -> str | None:
    """The time a constraint names: a year or period, or a year relative to the earlier question's."""
    found = TIME_EXPRESSION.search(constraint)
    if found:
        # 「那17年呢」 replaces a year: written out (2017年), as the documents write years.
        return SHORT_YEAR_IN_TIME.sub(r"20\1", found.group())
    for word, step in RELATIVE_YEAR.items():
        if word in constraint:
            years = sorted(years_in(previous, short_years=True))
            if years:
                return f"{years[-1] + step}年"
    return None


def _counted(question: str) -> str | None:
    """What an earlier figure question counted, as written (「扶贫贴息贷款」)."""
    for pattern in (COUNTED, COUNTED_BEFORE):
        match = pattern.search(question)
        if match:
            # from a word's start: 「昌都义务教育…」 is not counting 「都义务教育…」
            start = from_word_start(question, match.start(1), match.end(1))
            return re.sub(r"^(?:了|的|是|有)+|(?:了|的|是|有|呢|吗)+$", "", question[start : match.end(1)]) or None
    return None


def _replace_first(text: str, olds: Sequence[str], new: str, everywhere: bool = False) -> str:
    """``text`` with the first of ``olds`` replaced by ``new`` (every one of them, if ``everywhere``)."""
    if everywhere:
        for i, old in enumerate(sorted(set(olds), key=len, reverse=True)):
            text = text.replace(old, new if i == 0 else "", 1)
        return re.sub(r"\s+", "", text)
    return text.replace(olds[0], new, 1)


def _ask(text: str) -> str:
    return f"{text}？"
