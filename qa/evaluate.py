"""The metrics of ``bench/questions/FORMAT.md``, implemented exactly, over answers in JSON form.

Text comparisons use NFKC with all whitespace removed on both sides. A passage
is relevant when its document is one of the question's sources and its text
contains an evidence string, or a contiguous run of at least 60% of one (and
at least 6 characters).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from index.errors import ConfigError

MARKER = re.compile(r"\[\d+\]")
MAX_ANSWER_CHARS = 300
MIN_RUN_SHARE = 0.6
MIN_RUN_CHARS = 6


@dataclass(frozen=True)
class EvalQuestion:
    """One line of a question set."""

    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[str, ...]
    sources: tuple[str, ...]
    type: str
    history: tuple[str, ...] = ()  # the user's earlier questions in the chat, oldest first
    kind: str = ""  # a finer type where the set gives one (near_place, followup, offtopic…)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def read_questions(path: Path) -> list[EvalQuestion]:
    """Read a question set (JSON lines).

    Raises:
        ConfigError: the file is missing, unreadable, has a line that is not a question, or holds none.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the question set {path}: {exc}") from exc
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(
                EvalQuestion(
                    id=str(row["id"]),
                    question=row["question"],
                    answers=tuple(row.get("answers", [])),
                    evidence=tuple(row.get("evidence", [])),
                    sources=tuple(row.get("sources", [])),
                    type=row.get("type", ""),
                    history=tuple(_history(row.get("history", []))),
                    kind=row.get("kind", ""),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}:{number}: not a question line ({exc})") from exc
    if not questions:
        raise ConfigError(f"the question set {path} holds no questions")
    return questions


def _history(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(turn, str) for turn in value):
        raise TypeError("history must be a list of earlier questions (strings)")
    return value


def norm(text: str) -> str:
    """NFKC with all whitespace removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def longest_common_run(a: str, b: str) -> int:
    """Length of the longest common substring of a and b."""
    if not a or not b:
        return 0
    best = 0
    previous = [0] * (len(b) + 1)
    for ch in a:
        current = [0] * (len(b) + 1)
        for j, other in enumerate(b, start=1):
            if ch == other:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def is_relevant(source: str, text: str, question: EvalQuestion) -> bool:
    """The README's relevance test for one passage or citation."""
    if Path(source).name not in question.sources and source not in question.sources:
        return False
    passage = norm(text)
    for evidence in map(norm, question.evidence):
        if evidence in passage:
            return True
        needed = max(math.ceil(MIN_RUN_SHARE * len(evidence)), MIN_RUN_CHARS)
        if len(evidence) >= needed and longest_common_run(evidence, passage) >= needed:
            return True
    return False


def answer_hit(reply: dict, question: EvalQuestion) -> bool:
    """Answered, short, and containing every gold answer string."""
    if not reply.get("answered"):
        return False
    answer = MARKER.sub("", reply.get("answer", ""))
    if len(answer) > MAX_ANSWER_CHARS:
        return False
    text = norm(answer)
    return all(norm(a) in text for a in question.answers)


def first_relevant_rank(reply: dict, question: EvalQuestion, depth: int = 10) -> int | None:
    """1-based rank of the first relevant passage within ``depth``, or None."""
    for rank, passage in enumerate(reply.get("passages", [])[:depth], start=1):
        if is_relevant(passage["source"], passage["text"], question):
            return rank
    return None


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def share(count: float, total: int) -> float | None:
    """count / total, or None when the set has nothing to measure (None, unlike NaN, is valid JSON)."""
    return count / total if total else None


def score(pairs: Iterable[tuple[EvalQuestion, dict]]) -> dict[str, float | None]:
    """All metrics of the README for (question, reply) pairs."""
    pairs = list(pairs)
    answerable = [(q, r) for q, r in pairs if q.answerable]
    unanswerable = [(q, r) for q, r in pairs if not q.answerable]
    ranks = [first_relevant_rank(r, q) for q, r in answerable]
    n = len(answerable)
    totals = [r["timings_ms"]["total"] for _, r in pairs]
    cited = sum(any(is_relevant(c["source"], c["text"], q) for c in r.get("citations", [])) for q, r in answerable)
    return {
        "questions": len(pairs),
        "answerable": n,
        "recall@1": share(sum(1 for k in ranks if k is not None and k <= 1), n),
        "recall@5": share(sum(1 for k in ranks if k is not None and k <= 5), n),
        "mrr@10": share(sum(1 / k for k in ranks if k is not None), n),
        "answer_hit": share(sum(answer_hit(r, q) for q, r in answerable), n),
        "cited_evidence": share(cited, n),
        "unanswerable_declined": share(sum(not r.get("answered") for _, r in unanswerable), len(unanswerable)),
        "latency_p50_ms": percentile(totals, 0.50),
        "latency_p95_ms": percentile(totals, 0.95),
    }


def calibration(rows: list[dict]) -> dict[str, int | float | None]:
    """How the answer/decline decision came out: answered correctly, answered wrongly, declined an
    answerable question, declined correctly (from ``run_eval``'s rows)."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    return {
        "answered_correctly": sum(r["hit"] for r in answerable),
        "answered_wrongly": sum(r["answered"] and not r["hit"] for r in answerable),
        "declined_answerable": sum(not r["answered"] for r in answerable),
        "declined_correctly": sum(r["hit"] for r in unanswerable),
        "answered_unanswerable": sum(not r["hit"] for r in unanswerable),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
    }


def by_kind(rows: list[dict]) -> dict[str, tuple[int, int]]:
    """(correct, total) per kind of question (the set's ``kind``, else its ``type``); correct is
    answer-hit for answerable questions and declined for the others."""
    found: dict[str, list[int]] = {}
    for row in rows:
        counts = found.setdefault(row["kind"] or row["type"] or "?", [0, 0])
        counts[0] += bool(row["hit"])
        counts[1] += 1
    return {kind: (correct, total) for kind, (correct, total) in sorted(found.items())}


def run_eval(
    questions: list[EvalQuestion], ask: Callable[[str, list[str]], dict]
) -> tuple[dict[str, float | None], list[dict]]:
    """Ask every question (with its history); return the metrics and per-question rows for inspection."""
    pairs = []
    rows = []
    for q in questions:
        reply = ask(q.question, list(q.history))
        pairs.append((q, reply))
        rows.append(
            {
                "id": q.id,
                "type": q.type,
                "kind": q.kind,
                "answerable": q.answerable,
                "rank": first_relevant_rank(reply, q) if q.answerable else None,
                "answered": reply.get("answered"),
                "hit": answer_hit(reply, q) if q.answerable else not reply.get("answered"),
                "answer": reply.get("answer"),
                "rewritten": reply.get("rewritten_question"),
            }
        )
    return score(pairs), rows
