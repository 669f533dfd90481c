"""Use each document's date: questions about the latest state prefer the most recent documents.

「目前全国累计选派了多少名第一书记？」 is answered by a 2021 report, not by a 2018
speech that matches the words better. Cumulative figures grow every year, so for
such questions a relevant recent document *supersedes* the dated documents of
earlier years: their passages move behind all others, out of reach of the
answerer (which reads only the first few), but stay in the list shown. Undated
documents are never superseded — their age is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.text import says_now
from qa.types import Hit

# A passage is relevant enough to supersede older documents when its fused score is at
# least this share of the best one. Half the top score separates passages that answer
# from passages that only share words (dev set: answering passages score 1.4–2.8 of a
# 2.8 maximum, word-sharing ones below 1.2).
RELEVANT_SHARE = 0.5


def asks_for_latest(question: str) -> bool:
    """True if the question asks for the current or latest state (最新/目前/现在/最近…)."""
    return says_now(question)


def year_of(iso: str | None) -> int | None:
    """The year of an ISO date string, None if there is none."""
    match = re.match(r"\s*(\d{4})", iso or "")
    return int(match.group(1)) if match else None


def prefer_recent(hits: Sequence[Hit], relevant_share: float = RELEVANT_SHARE) -> list[Hit]:
    """The hits with passages of superseded documents moved to the end.

    A dated document is superseded when another relevant passage (score at least
    ``relevant_share`` of the best) comes from a document dated in a later year.
    Order is kept otherwise; scores are unchanged (so the list is no longer sorted
    by score when something moved).

    Args:
        hits: retrieved passages, best first.
        relevant_share: the share of the best score a passage needs to supersede others.
    Returns:
        The same hits, current documents first.
    """
    if not hits:
        return []
    floor = relevant_share * max(h.score for h in hits)
    years = [year for h in hits if h.score >= floor and (year := year_of(h.date)) is not None]
    if not years:
        return list(hits)
    newest = max(years)
    current = [h for h in hits if (year_of(h.date) or newest) >= newest]
    superseded = [h for h in hits if (year_of(h.date) or newest) < newest]
    return current + superseded
