"""Chinese lexical search: tokens for BM25 (bm25s), the same for chunks and queries.

Text is matched in NFKC form (full-width digits and punctuation become
half-width; the original text is what is shown). Numbers with their magnitude
and unit (「9899万」「22.7%」「380亿元」) are kept whole as extra tokens, so a
figure in a question finds the passage that states it.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import bm25s
import jieba
import numpy as np

jieba.setLogLevel(logging.WARNING)
# bm25s sets its own logger to DEBUG, which prints on every build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

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
        if len(run) == 1:
            out.append(run)
        elif run.isascii():
            out.append(run)
        else:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


class LexicalIndex:
    """BM25 over chunk tokens, saved and loaded with bm25s' own pickle-free format."""

    def __init__(self, retriever: bm25s.BM25, method: str) -> None:
        self.retriever = retriever
        self.method = method

    @classmethod
    def build(cls, texts: Sequence[str], method: str) -> LexicalIndex:
        """Index texts (their position is the row id)."""
        retriever = bm25s.BM25()
        # An empty token list would make bm25s fail; "" is its own placeholder token.
        retriever.index([tokenize(t, method) or [""] for t in texts], show_progress=False)
        return cls(retriever, method)

    def save(self, directory: Path) -> None:
        """Write the index files into ``directory``."""
        self.retriever.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, method: str, mmap: bool = False) -> LexicalIndex:
        """Read an index written by ``save``."""
        retriever = bm25s.BM25.load(str(directory), mmap=mmap, show_progress=False)
        return cls(retriever, method)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (row ids, BM25 scores) for a query, best first; empty when no token matches."""
        vocab = self.retriever.vocab_dict
        tokens = [t for t in tokenize(query, self.method) if t in vocab]
        if not tokens:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores = self.retriever.get_scores(tokens)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top].astype(np.float32)

    def idf(self, token: str) -> float:
        """BM25's inverse document frequency of a token; a token in no chunk gets the highest."""
        scores = self.retriever.scores
        total = int(scores["num_docs"])
        row = self.retriever.vocab_dict.get(token)
        df = 0 if row is None else int(scores["indptr"][row + 1] - scores["indptr"][row])
        return math.log(1 + (total - df + 0.5) / (df + 0.5))
