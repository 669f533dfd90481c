"""Example questions for the chat, written from the corpus itself.

A clause that states a figure (「中央层面共安排320个单位定点帮扶592个贫困县」)
becomes a question by putting 「多少」 in place of the figure. Candidates are
kept only if the real pipeline answers them with that figure, so an example a
first-time user clicks always shows a cited answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from index.errors import PolicyQAError
from index.types import Document
from qa.types import Answer

log = logging.getLogger(__name__)

# A count with its measure word; years (「2014年」) and bare numbers are not asked about.
FIGURE = re.compile(
    r"(?<![\d.\-—~～])(\d+(?:\.\d+)?)(多)?(万|亿)?(人次|万人|公里|个|名|户|家|项|所|座|条|次|人|元|亩|吨|篇|期|批)"
)
CLAUSE_END = re.compile(r"[，,；;。！？!?：:\n]")
CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")
# Clauses that lean on the sentence before them make poor questions on their own.
DEPENDENT_START = re.compile(r"^(?:其中|其|这|此|该|并|但|而|还|也|同时|同期|同年|当年|另外|此外|以及|我们|我|他们|它)")
MIN_CLAUSE_CHARS = 12
MAX_CLAUSE_CHARS = 36
# Words of context a question needs before its figure to say what is counted.
MIN_CONTEXT_CHARS = 6
# How many candidates are put to the pipeline at most (each costs one answer, ~0.1–0.5 s).
MAX_TRIES = 16


@dataclass(frozen=True)
class Candidate:
    """A question written from a clause, and the figure its answer must contain."""

    question: str
    figure: str
    doc_id: str


def figure_question(clause: str) -> tuple[str, str] | None:
    """(question, figure) for a clause stating a count, or None if it makes no good question."""
    clause = clause.strip(' 　"“”')
    if not MIN_CLAUSE_CHARS <= len(clause) <= MAX_CLAUSE_CHARS or DEPENDENT_START.match(clause):
        return None
    match = FIGURE.search(clause)
    if match is None or len(CJK_CHAR.findall(clause[: match.start()])) < MIN_CONTEXT_CHARS:
        return None
    asked = "多少" + (match.group(3) or "") + match.group(4)
    return clause[: match.start()] + asked + clause[match.end() :] + "？", match.group(1)


def candidates(documents: Iterable[Document]) -> list[Candidate]:
    """Questions from every document, interleaved so consecutive ones come from different documents."""
    per_doc = [list(_doc_candidates(doc)) for doc in documents]
    interleaved: list[Candidate] = []
    for row in range(max((len(c) for c in per_doc), default=0)):
        interleaved.extend(c[row] for c in per_doc if row < len(c))
    return interleaved


def _doc_candidates(doc: Document) -> Iterator[Candidate]:
    seen: set[str] = set()
    for clause in CLAUSE_END.split(doc.text):
        made = figure_question(clause)
        if made and made[0] not in seen:
            seen.add(made[0])
            yield Candidate(made[0], made[1], doc.doc_id)


def pick_examples(ask: Callable[[str], Answer], documents: Iterable[Document], limit: int = 4) -> list[str]:
    """Up to ``limit`` questions the pipeline answers with the figure they were written from.

    Args:
        ask: answers one question (the pipeline's ``ask``).
        documents: the corpus.
        limit: how many examples to return.
    """
    picked: list[str] = []
    for candidate in candidates(documents)[:MAX_TRIES]:
        if len(picked) >= limit:
            break
        try:
            answer = ask(candidate.question)
        except Exception as exc:
            level = logging.INFO if isinstance(exc, PolicyQAError) else logging.WARNING
            log.log(level, "example %r failed: %r", candidate.question, exc)
            continue
        if answer.answered and candidate.figure in answer.text:
            picked.append(candidate.question)
    return picked
