"""The fitted answer model: how likely a sentence answers a question part, from its features.

Two logistic regressions over ``qa.features.NAMES`` — one for parts that ask for a figure, one
for the others (what answers 「为什么」 looks nothing like what answers 「多少」) — fitted on the
training questions by ``python -m bench.train_answerer`` and stored as plain JSON beside this
module (no pickle): the feature names, their means and scales, the coefficients, and for each
regression the decision threshold chosen on the development questions (a why-question's best
sentence is rarer and less sure than a figure's, so one threshold for both would decline the
policy questions a lower bar answers). Scoring is a dot product, so
answering needs no machine-learning library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.errors import ConfigError
from qa.features import NAMES

MODEL_FILE = Path(__file__).with_name("answer_model.json")
FORMAT_VERSION = 3


@dataclass(frozen=True)
class Regression:
    """One logistic regression on standardized features."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return {
            "mean": [round(float(v), 8) for v in self.mean],
            "scale": [round(float(v), 8) for v in self.scale],
            "coef": [round(float(v), 8) for v in self.coef],
            "intercept": round(float(self.intercept), 8),
        }


@dataclass(frozen=True)
class AnswerModel:
    """The regressions for figure and other parts, and for each the probability from which a part
    is answered."""

    names: tuple[str, ...]
    figure: Regression
    other: Regression
    figure_threshold: float
    other_threshold: float

    def threshold_for(self, wants_figure: bool) -> float:
        return self.figure_threshold if wants_figure else self.other_threshold

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """P(the sentence answers the part) for each row of a ``qa.features`` matrix."""
        if features.size == 0:
            return np.zeros(len(features))
        wants_figure = features[:, self.names.index("wants_figure")] > 0
        found = self.other.probabilities(features)
        if wants_figure.any():
            found[wants_figure] = self.figure.probabilities(features[wants_figure])
        return found

    def to_json(self, **about: object) -> dict:
        """The stored form; ``about`` records how it was fitted (sets, sizes, dev metrics)."""
        return {
            "format": FORMAT_VERSION,
            "kind": "logistic-regression per part kind",
            "features": list(self.names),
            "figure": self.figure.to_json(),
            "other": self.other.to_json(),
            "thresholds": {
                "figure": round(float(self.figure_threshold), 4),
                "other": round(float(self.other_threshold), 4),
            },
            **about,
        }


def untrained_model() -> AnswerModel:
    """A model that answers nothing: what ``bench.train_answerer`` retrieves with before fitting."""
    zeros = np.zeros(len(NAMES))
    blank = Regression(zeros, np.ones(len(NAMES)), zeros, 0.0)
    return AnswerModel(NAMES, blank, blank, figure_threshold=1.0, other_threshold=1.0)


def model_from_json(data: dict) -> AnswerModel:
    """The model of a stored JSON object.

    Raises:
        ConfigError: the file is of another format or was fitted on other features than this
            code computes (then run ``python -m bench.train_answerer``).
    """
    if data.get("format") != FORMAT_VERSION or tuple(data.get("features", ())) != NAMES:
        raise ConfigError(
            "回答模型与当前代码的特征不一致，请运行 python -m bench.train_answerer 重新拟合。"
            " The answer model was fitted on other features; refit it with python -m bench.train_answerer."
        )
    return AnswerModel(
        names=tuple(data["features"]),
        figure=_regression(data["figure"]),
        other=_regression(data["other"]),
        figure_threshold=float(data["thresholds"]["figure"]),
        other_threshold=float(data["thresholds"]["other"]),
    )


def _regression(data: dict) -> Regression:
    return Regression(
        mean=np.asarray(data["mean"], dtype=np.float64),
        scale=np.asarray(data["scale"], dtype=np.float64),
        coef=np.asarray(data["coef"], dtype=np.float64),
        intercept=float(data["intercept"]),
    )


def load_model(path: Path = MODEL_FILE) -> AnswerModel:
    """The stored answer model (``qa/answer_model.json`` by default)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the answer model {path}: {exc}") from exc
    return model_from_json(data)
