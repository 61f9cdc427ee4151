"""Gradient-boosted trees (LightGBM) on the behavioural features, monotone where the direction is
obvious, with exact per-row SHAP values (LightGBM's TreeSHAP, `pred_contrib=True`) for explanations."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.calibration import Method
from training.churn_bgnbd import (
    BgnbdParams,
    fit_bgnbd,
    probability_alive,
    probability_no_transaction,
    rfm_inputs,
)
from training.churn_logistic import FEATURES as LOGISTIC_FEATURES
from training.churn_model import LABEL, CalibratedChurnModel, numeric_matrix

# Every numeric column of `features.user_features` worth a split, plus lifetime columns that some
# feature builders add (benchmarks/churn_data.py); the model uses those present when it is fitted.
CANDIDATE_FEATURES = [
    *LOGISTIC_FEATURES,
    "events_1d",
    "events_90d",
    "views_7d",
    "clicks_7d",
    "carts_7d",
    "purchases_7d",
    "purchases_90d",
    "purchase_value_90d",
    "active_days_90d",
    "sessions_30d",
    "mean_session_minutes_30d",
    "inter_event_hours_mean_90d",
    "inter_event_hours_std_90d",
    "activity_trend_4w",
    "cart_abandonment_30d",
    "category_entropy_90d",
    "novel_item_share_30d",
    "rec_engagement_30d",
    "days_since_first_event",
    "events_total",
    "active_days_total",
    "purchases_total",
    "purchase_value_total",
    "active_days_per_week",
]
BGNBD_FEATURES = ["bgnbd_p_alive", "bgnbd_p_silent"]
# +1: churn risk may only rise with the feature; -1: only fall. Recency, recent activity and BG/NBD's
# probabilities only (so the whole model is monotone in recency).
MONOTONE = {
    "days_since_last_event": 1,
    "active_days_30d": -1,
    "events_7d": -1,
    "bgnbd_p_alive": -1,
    "bgnbd_p_silent": 1,
}


@dataclass(frozen=True)
class GbdtConfig:
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 50
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    # One thread: with two, LightGBM's OpenMP threads spin against each other on a busy 2-core machine
    # (measured: 34 s instead of 0.7 s for 4 k rows).
    n_jobs: int = 1
    seed: int = 0
    calibration: Method = "platt"
    # BG/NBD's P(alive) and P(no active day in the horizon), fitted on the training rows, as two features.
    with_bgnbd: bool = True
    horizon_days: int = 30


class GbdtChurnModel(CalibratedChurnModel):
    name = "gbdt"
    config_class = GbdtConfig

    def __init__(self, config: GbdtConfig | None = None) -> None:
        self.config = config or GbdtConfig()
        self.calibration_method = self.config.calibration
        self.features: list[str] = []
        self.booster: lgb.LGBMClassifier | None = None
        self.bgnbd: BgnbdParams | None = None

    def _fit_raw(self, train: pd.DataFrame) -> None:
        c = self.config
        if c.with_bgnbd:
            self.bgnbd = fit_bgnbd(*rfm_inputs(train))
            train = self._with_bgnbd(train)
        self.features = [f for f in [*CANDIDATE_FEATURES, *BGNBD_FEATURES] if f in train.columns]
        self.booster = lgb.LGBMClassifier(
            n_estimators=c.n_estimators,
            learning_rate=c.learning_rate,
            num_leaves=c.num_leaves,
            min_child_samples=c.min_child_samples,
            subsample=c.subsample,
            subsample_freq=1,
            colsample_bytree=c.colsample_bytree,
            reg_lambda=c.reg_lambda,
            monotone_constraints=[MONOTONE.get(f, 0) for f in self.features],
            n_jobs=c.n_jobs,
            random_state=c.seed,
            verbose=-1,
        )
        self.booster.fit(numeric_matrix(train, self.features), train[LABEL].to_numpy())

    def _raw_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("GbdtChurnModel.predict_proba called before fit")
        return self.booster.predict_proba(numeric_matrix(self._with_bgnbd(frame), self.features))[:, 1]

    def shap_values(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-row SHAP values (log-odds contributions of the uncalibrated model), one column a feature."""
        if self.booster is None:
            raise RuntimeError("GbdtChurnModel.shap_values called before fit")
        matrix = numeric_matrix(self._with_bgnbd(frame), self.features)
        contributions = self.booster.predict(matrix, pred_contrib=True)
        return pd.DataFrame(contributions[:, :-1], columns=self.features, index=frame.index)

    def _with_bgnbd(self, frame: pd.DataFrame) -> pd.DataFrame:
        if getattr(self, "bgnbd", None) is None:
            return frame
        x, t_x, T = rfm_inputs(frame)
        return frame.assign(
            bgnbd_p_alive=probability_alive(self.bgnbd, x, t_x, T),
            bgnbd_p_silent=probability_no_transaction(self.bgnbd, x, t_x, T, self.config.horizon_days / 7),
        )
