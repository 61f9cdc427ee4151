"""Post-hoc probability calibration on held-out rows: Platt scaling (a logistic regression on the
score's logit: two parameters, keeps the ranking) or isotonic regression (monotone, more flexible, needs
more rows and turns ranges of scores into ties)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

Method = Literal["platt", "isotonic", "none"]
EPS = 1e-6


def logit(probability: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probability, dtype=float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


class Calibrator:
    """Maps a model's raw churn scores (probabilities) to calibrated probabilities."""

    def __init__(self, method: Method = "platt") -> None:
        if method not in ("platt", "isotonic", "none"):
            raise ValueError(f"unknown calibration method '{method}' (platt, isotonic, none)")
        self.method = method
        self.mapper: LogisticRegression | IsotonicRegression | None = None

    def fit(self, raw: np.ndarray, y_true: np.ndarray) -> Calibrator:
        if self.method == "none" or len(np.unique(y_true)) < 2:
            self.mapper = None
        elif self.method == "platt":
            self.mapper = LogisticRegression(C=1e6).fit(logit(raw)[:, None], y_true)
        else:
            self.mapper = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(raw, y_true)
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.mapper is None:
            return raw
        if isinstance(self.mapper, LogisticRegression):
            return self.mapper.predict_proba(logit(raw)[:, None])[:, 1]
        return self.mapper.predict(raw)
