"""Train the churn model on `features.churn_training_set`, log it to MLflow, run the promotion gate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from retention.config import Config
from retention.sampling import stable_uniform
from retention.warehouse import connect
from training.churn_logistic import FEATURES, LogisticChurnModel
from training.evaluate import churn_metrics
from training.promotion import log_and_gate

# The MLflow experiment and the registered model share this name.
REGISTERED_NAME = "retention-churn"
# Validation users are fixed by a hash of their id, so no champion ever trained on them.
VALIDATION_SALT = "churn-validation-v1"
VALIDATION_SHARE = 0.2
MODELS = {"logistic": LogisticChurnModel}


def train_churn(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    with connect(cfg.paths.warehouse, read_only=True) as con:
        frame = con.execute("select * from features.churn_training_set order by user_id").df()
    if frame.empty or frame["churned"].nunique() < 2:
        raise ValueError(
            f"features.churn_training_set has {len(frame)} rows, labels {sorted(frame['churned'].unique())}:"
            " a churn model needs both churned and retained users (is the history shorter than"
            f" active_days + horizon_days = {cfg.features.active_days + cfg.features.horizon_days} days?)"
        )
    is_valid = stable_uniform(frame["user_id"], VALIDATION_SALT) < VALIDATION_SHARE
    train, valid = frame[~is_valid], frame[is_valid]
    model = MODELS[cfg.churn.model]().fit(train)

    def validation_auc(candidate: Any) -> float:
        return churn_metrics(valid["churned"].to_numpy(), candidate.predict_proba(valid))["roc_auc"]

    params = {
        "model": cfg.churn.model,
        "features": ",".join(FEATURES),
        "train_rows": len(train),
        "validation_rows": len(valid),
        "horizon_days": cfg.features.horizon_days,
        "churn_rate": round(float(np.mean(frame["churned"])), 4),
    }
    metrics = churn_metrics(valid["churned"].to_numpy(), model.predict_proba(valid))
    return log_and_gate(cfg, REGISTERED_NAME, run_date, model, params, metrics, "roc_auc", validation_auc)
