"""The seed's churn baseline: logistic regression on standardised behavioural features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from training.calibration import Method
from training.churn_model import LABEL, CalibratedChurnModel, numeric_matrix

# Columns of `features.user_features` the model reads (counts are heavy-tailed: log1p first).
FEATURES = [
    "days_since_last_event",
    "days_since_last_purchase",
    "tenure_days",
    "events_7d",
    "events_30d",
    "events_prev_30d",
    "views_30d",
    "clicks_30d",
    "carts_30d",
    "purchases_30d",
    "purchase_value_30d",
    "active_days_30d",
    "distinct_items_30d",
]


@dataclass(frozen=True)
class LogisticConfig:
    C: float = 1.0
    max_iter: int = 1000
    calibration: Method = "platt"


class LogisticChurnModel(CalibratedChurnModel):
    name = "logistic"
    config_class = LogisticConfig

    def __init__(self, config: LogisticConfig | None = None) -> None:
        self.config = config or LogisticConfig()
        self.calibration_method = self.config.calibration
        self.pipeline: Pipeline | None = None

    def _fit_raw(self, train: pd.DataFrame) -> None:
        self.pipeline = make_pipeline(
            FunctionTransformer(np.log1p),
            StandardScaler(),
            LogisticRegression(C=self.config.C, max_iter=self.config.max_iter),
        )
        self.pipeline.fit(self._matrix(train), train[LABEL].to_numpy())

    def _raw_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.pipeline is None:
            raise RuntimeError("LogisticChurnModel.predict_proba called before fit")
        return self.pipeline.predict_proba(self._matrix(frame))[:, 1]

    @staticmethod
    def _matrix(frame: pd.DataFrame) -> np.ndarray:
        return np.nan_to_num(numeric_matrix(frame, FEATURES)).clip(min=0)
