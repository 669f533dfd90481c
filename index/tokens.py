"""Lexical tokens: what BM25 indexes and what term weights count, the same for chunks and queries.

Text is matched in NFKC form (full-width digits and punctuation become
half-width; the original text is what is shown). Numbers with their magnitude
and unit (「9899万」「22.7%」「380亿元」) are kept whole as extra tokens, so a
figure in a question finds the passage that states it.

No search engine is imported here: ``qa/`` tokenizes questions with these functions
whatever store holds the index (index.stores).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import unicodedata
from collections.abc import Sequence

import jieba
import numpy as np

jieba.setLogLevel(logging.WARNING)

TOKENIZERS = ("jieba", "bigram")

NUMBER_WITH_UNIT = re.compile(
    r"\d+(?:[.,]\d+)*(?:\s*(?:%|‰|万亿|亿|万|千|百))?(?:\s*(?:元|人|户|个|家|名|公里|亩|吨|次|项|所|村|县|万|亿))?"
)
WORD_CHARS = re.compile(r"[\w\u0f00-\u0fff]", re.U)
# Words that carry no topic: question words, particles, and very common verbs.
STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 等 有 个 为 对 把 被 从 到 向 于 以 之 其 这 那 这个 那个 这些 那些
    哪 哪个 哪些 哪里 哪儿 哪一 哪一年 什么 多少 几 几个 怎么 怎样 如何 为什么 是否 是不是 吗 呢 吧 啊
    一共 分别 具体 具体是 主要 都 也 还 就 又 并 而 但 所 我们 我国 中 上 下 里 年 月 日 时 请问 一 指""".split()
)


def normalize(text: str) -> str:
    """The form text is matched in: NFKC (full-width → half-width) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def tokenize(text: str, method: str = "jieba") -> list[str]:
    """Lexical tokens of a text (chunk or query).

    Args:
        text: original text.
        method: ``jieba`` (words, search mode) or ``bigram`` (overlapping character pairs).
    Returns:
        Tokens, stopwords and punctuation removed, whole numbers-with-units appended.
    """
    norm = normalize(text)
    if method == "jieba":
        words = jieba.lcut_for_search(norm)
    elif method == "bigram":
        words = _bigrams(norm)
    else:
        raise ValueError(f"unknown tokenizer {method!r}; use one of {TOKENIZERS}")
    tokens = [w.strip() for w in words]
    tokens = [w for w in tokens if w and w not in STOPWORDS and WORD_CHARS.search(w)]
    tokens.extend(m.group(0).replace(" ", "") for m in NUMBER_WITH_UNIT.finditer(norm))
    return tokens


def _bigrams(text: str) -> list[str]:
    out: list[str] = []
    for run in re.findall(r"[\w\u0f00-\u0fff]+", text):
        if len(run) == 1 or run.isascii():
            out.append(run)
        else:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def token_hashes(tokens: Sequence[str]) -> np.ndarray:
    """Stable 64-bit hashes of tokens (blake2b); a collision among 10^7 tokens has odds ≈ 3·10^-6."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in tokens),
        dtype=np.uint64,
        count=len(tokens),
    )


def bm25_idf(df: int, total: int) -> float:
    """BM25's inverse document frequency (Lucene's, as bm25s computes it) of a token in ``df`` of ``total`` chunks."""
    return math.log(1 + (total - df + 0.5) / (df + 0.5))
