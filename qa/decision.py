"""Answer or decline: a decision about the whole question, from how its parts' rankings look.

The sentence model (qa.model) says how likely each sentence answers a part, and ranks them.
Whether to answer at all is a different question, told by the ranking's shape as well as by
one probability against a bar (a little better so, measured: README "Answers"): how sure the
best sentence is and how far ahead of the next, whether its words are words the documents use,
whether a sentence of the wrong scope was likelier, how many parts there are and of what kind.
A second logistic regression over these
named numbers (``DECISION_NAMES``) gives the probability that the answer the question would
get is right; it is fitted on the training questions' out-of-fold rankings by
``python -m bench.train_answerer`` and stored beside the sentence model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.evidence import EvidenceSentence
from qa.features import INDEX
from qa.query import SubQuestion
from qa.scope import ScopeCheck

DECISION_NAMES = (
    "log_strength",  # best probability / its part kind's threshold, of the strongest part
    "log_weakest_strength",  # of the weakest part: a two-fact question may lack one
    "margin",  # the strongest part's best probability less its runner-up's
    "close_candidates",  # sentences at least half as likely as the best
    "several_parts",
    "wants_figure",
    "scope_blocked",  # a sentence of the wrong scope was likelier than every open one
    "blocked_probability",
    "max_similarity",  # of any evidence sentence to the part
    "unknown_terms",  # of the best sentence's part: words no document uses
    "missing_weight",  # the heaviest question word the best sentence lacks
    "unknown_focus",  # of the counted thing: words no document uses (「女党员」: no count of them is stated)
    "restricted",  # a part of something is asked (「其中」「里面」)
)
PROBABILITY_FLOOR = 1e-4  # log of a zero probability


@dataclass(frozen=True)
class Ranked:
    """A part's sentences ranked by the sentence model (wrong-scope sentences at probability 0)."""

    part: SubQuestion
    features: np.ndarray  # qa.features rows, one per evidence sentence
    probability: np.ndarray
    order: np.ndarray  # sentence indexes, most likely first
    blocked: tuple[float, EvidenceSentence, ScopeCheck] | None  # the best sentence, had its scope been right
    threshold: float  # the sentence model's threshold for this kind of part

    @property
    def best_probability(self) -> float:
        return float(self.probability[self.order[0]])

    @property
    def strength(self) -> float:
        """The best probability as a share of the part's threshold."""
        return self.best_probability / self.threshold


def decision_features(ranked: Sequence[Ranked]) -> np.ndarray:
    """The ``DECISION_NAMES`` row of a question whose parts were ranked (at least one)."""
    strongest = max(ranked, key=lambda r: r.strength)
    probability = strongest.probability
    runner_up = float(probability[strongest.order[1]]) if len(strongest.order) > 1 else 0.0
    best = strongest.features[strongest.order[0]]
    values = (
        _log(strongest.strength),
        _log(min(r.strength for r in ranked)),
        strongest.best_probability - runner_up,
        # none, when every sentence had the wrong scope (all at probability 0)
        float((probability >= 0.5 * strongest.best_probability).sum()) if strongest.best_probability > 0 else 0.0,
        float(len(ranked) > 1),
        float(bool(strongest.part.wants)),
        float(strongest.blocked is not None),
        strongest.blocked[0] if strongest.blocked is not None else 0.0,
        float(strongest.features[:, INDEX["similarity"]].max()),
        float(best[INDEX["unknown_terms"]]),
        float(best[INDEX["missing_weight"]]),
        float(best[INDEX["unknown_focus"]]),
        float(best[INDEX["restricted"]]),
    )
    return np.array(values, dtype=np.float64)


def _log(value: float) -> float:
    return math.log(max(value, PROBABILITY_FLOOR))
