"""Train the configured churn model on `features.training_snapshots` (many weekly cutoffs), validate it on
the latest complete cutoff (`training.churn_data.temporal_split`), log it with its plots to MLflow and
run the promotion gate."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from retention.config import Config
from retention.warehouse import connect
from training.churn_data import temporal_split, with_sequences
from training.churn_evaluation import churn_metrics
from training.churn_model import LABEL, ChurnModel, churn_model_for
from training.churn_plots import churn_figures
from training.promotion import log_and_gate

# The MLflow experiment and the registered model share this name.
REGISTERED_NAME = "retention-churn"


def model_for(cfg: Config) -> ChurnModel:
    """The configured model, for the configured churn horizon."""
    return churn_model_for(cfg.churn.model, cfg.features.horizon_days)


def load_snapshots(cfg: Config, with_event_sequences: bool) -> pd.DataFrame:
    with connect(cfg.paths.warehouse, read_only=True) as con:
        frame = con.execute("select * from features.training_snapshots order by cutoff_date, user_id").df()
        if with_event_sequences and not frame.empty:
            frame = with_sequences(con, frame)
    if frame.empty or frame[LABEL].nunique() < 2:
        labels = sorted(frame[LABEL].unique()) if not frame.empty else []
        raise ValueError(
            f"features.training_snapshots has {len(frame)} rows, labels {labels}: a churn model needs both"
            " churned and retained users (is the history shorter than active_days + horizon_days ="
            f" {cfg.features.active_days + cfg.features.horizon_days} days?)"
        )
    return frame


def train_churn(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    frame = load_snapshots(cfg, with_event_sequences=cfg.churn.model == "sequence")
    split = temporal_split(frame, cfg.features.horizon_days)
    valid = split.validation
    model = model_for(cfg).fit(split.train, split.calibration)

    def validation_auc(candidate: Any) -> float:
        return churn_metrics(valid[LABEL].to_numpy(), candidate.predict_proba(valid))["roc_auc"]

    params = {
        "model": cfg.churn.model,
        **split.describe(),
        **{f"config.{k}": v for k, v in dataclasses.asdict(model.config).items()},
        "horizon_days": cfg.features.horizon_days,
        "churn_rate": round(float(np.mean(frame[LABEL])), 4),
    }
    probability = model.predict_proba(valid)
    metrics = churn_metrics(valid[LABEL].to_numpy(), probability)
    result = log_and_gate(cfg, REGISTERED_NAME, run_date, model, params, metrics, "roc_auc", validation_auc)
    log_figures(result["run_id"], churn_figures(valid[LABEL].to_numpy(), probability, model, valid))
    return result


def log_figures(run_id: str, figures: dict[str, plt.Figure]) -> None:
    """Attach the figures to the (finished) run as artifacts."""
    with mlflow.start_run(run_id=run_id):
        for name, figure in figures.items():
            mlflow.log_figure(figure, name)
            plt.close(figure)
