"""Which places a question asks about, and whether a sentence speaks of them.

A figure stated for another place does not answer: 「25.32%——这是2015年底西藏的贫困发生率」
is not 阿里地区's rate, and a question about 湖北省 cannot be answered from documents
that never mention it. jieba's part-of-speech tags find the places.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from jieba import posseg

from index.lexical import tokenize
from index.types import Document, Sentence

ADMIN_SUFFIXES = frozenset("省 市 县 区 州 地区 自治区 自治州 乡 镇".split())
ADMIN_SUFFIX = re.compile(r"(?:维吾尔自治区|壮族自治区|回族自治区|自治区|自治州|地区|省|市|县|区|州)$")
# Words jieba tags as places that are not places in these texts, or the whole country.
NOT_PLACES = frozenset("美丽 宜居 深度 高原 全国 中国 我国 东部 西部 中西部 城市".split())
# A sentence about the whole country speaks of no single place.
NATIONAL = re.compile(r"全国|我国|中国(?!共产党|特色|式|人民|精神|力量|价值|智慧|方案|样本)")
# A place asked about must be named this close before a sentence that names no place (its
# article: 「全市…」 under a 那曲 heading). On the three question sets every correct answer
# whose place is named only in its article has it within 1,500 characters.
PLACE_SCOPE_CHARS = 1500


@functools.lru_cache(maxsize=4096)
def place_names(text: str) -> tuple[str, ...]:
    """The place names a text mentions (「广西」「湖北省」「那曲市」); cached, as the same
    sentences are asked about by every part of a question and by the next questions.

    jieba tags most places ns; Tibetan ones it often takes for names (拉萨 nrt, 那曲 nr),
    so a transliterated name, or a name followed by 市/县/区…, counts too.
    """
    words = posseg.lcut(text)
    found = []
    for (word, tag), (after, _) in zip(words, [*words[1:], ("", "")]):
        if len(word) < 2 or word in NOT_PLACES:
            continue
        if tag in ("ns", "nrt"):
            found.append(word)
        elif tag.startswith("n") and after in ADMIN_SUFFIXES:
            found.append(word + after)
    return tuple(dict.fromkeys(found))


def place_stem(place: str) -> str:
    """A place name without its administrative suffix (「那曲市」→「那曲」, 「阿里地区」→「阿里」)."""
    stem = ADMIN_SUFFIX.sub("", place)
    return stem if len(stem) >= 2 else place


def place_keys(place: str) -> tuple[str, ...]:
    """What names a place in a text: its stem's first or last two characters, since jieba
    runs neighbouring names together (「阿里札达」 is 阿里's 札达县)."""
    stem = place_stem(place)
    return tuple(dict.fromkeys((stem[:2], stem[-2:])))


def speaks_of(sentence: Sentence, context: str, places: Sequence[Sequence[str]], document: Document) -> bool:
    """True if a sentence speaks of every place asked about (each given by ``place_keys``).

    It does when they are named in the sentence, its ``context`` (paragraph and heading) or
    the document's title; when none of them is named there and the sentence names other
    places (or the whole country), it does not; otherwise the ones not named nearby must be
    named in the ``PLACE_SCOPE_CHARS`` before it (its article).
    """
    if not places:
        return True
    near = document.title + context + sentence.text
    named = [keys for keys in places if _names(keys, near)]
    if len(named) == len(places):
        return True
    if not named and (NATIONAL.search(sentence.text) or place_names(sentence.text)):
        return False
    scope = document.title + document.text[max(0, sentence.start - PLACE_SCOPE_CHARS) : sentence.end]
    return all(_names(keys, scope) for keys in places)


def _names(keys: Sequence[str], text: str) -> bool:
    return any(key in text for key in keys)


def names_unknown_place(places: Sequence[str], term_weight: Callable[[str], float], method: str) -> bool:
    """True if one of a question's places (``place_names``) is mentioned by no document (each of
    its keys has a token of weight 0 in the lexical index): no figure of the documents is its."""
    return any(
        not any(all(term_weight(t) > 0 for t in tokenize(key, method)) for key in place_keys(place)) for place in places
    )
