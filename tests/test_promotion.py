"""The promotion gate on a real MLflow store (SQLite + local artifacts in a temp folder)."""

import datetime as dt
from dataclasses import dataclass

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from retention.warehouse import connect
from training import tracking
from training.churn_logistic import FEATURES, LogisticChurnModel
from training.evaluate import churn_metrics
from training.promotion import promote_if_better

NAME = "retention-churn-test"
DAY = dt.date(2026, 8, 1)


def churn_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.poisson(3, size=(n, len(FEATURES))), columns=FEATURES).astype(float)
    risk = frame["days_since_last_event"] - frame["events_30d"]
    frame["churned"] = (risk + rng.normal(0, 1, n) > 0).astype(int)
    return frame


def log_candidate(cfg, model, run_date: dt.date | None = None) -> str:
    with mlflow.start_run():
        if run_date is not None:
            mlflow.set_tag("run_date", run_date.isoformat())
        return tracking.log_model(model, NAME)


@dataclass
class Gate:
    valid: pd.DataFrame
    good: LogisticChurnModel
    noise: LogisticChurnModel  # trained on shuffled labels: no better than chance on the same data

    def auc(self, model) -> float:
        return churn_metrics(self.valid["churned"].to_numpy(), model.predict_proba(self.valid))["roc_auc"]


@pytest.fixture
def gate(platform) -> Gate:
    tracking.configure(platform)
    tracking.use_experiment(platform, "promotion-test")
    train = churn_frame(2000, 1)
    shuffled = train.assign(churned=np.random.default_rng(3).permutation(train["churned"]))
    return Gate(churn_frame(1000, 2), LogisticChurnModel().fit(train), LogisticChurnModel().fit(shuffled))


def test_only_a_better_candidate_moves_the_champion_alias(platform, gate):
    cfg, auc, good, noise, valid = platform, gate.auc, gate.good, gate.noise, gate.valid

    first = promote_if_better(cfg, NAME, log_candidate(cfg, noise), "roc_auc", auc, DAY)
    assert first.promoted and first.reason == "no champion yet"
    second = promote_if_better(cfg, NAME, log_candidate(cfg, good), "roc_auc", auc, DAY)
    assert second.promoted and second.candidate_score > second.champion_score
    third = promote_if_better(cfg, NAME, log_candidate(cfg, noise), "roc_auc", auc, DAY)
    assert not third.promoted and third.champion_version == second.candidate_version
    assert tracking.champion_version(NAME) == second.candidate_version
    champion = tracking.load_champion(NAME)
    assert auc(champion) == second.candidate_score
    # Any MLflow client can load the champion by name and score with it.
    by_name = mlflow.pyfunc.load_model(f"models:/{NAME}@champion").predict(valid)
    assert np.allclose(by_name, champion.predict_proba(valid))

    with connect(cfg.paths.warehouse, read_only=True) as con:
        rows = con.execute(
            "select candidate_version, promoted from ops.promotion_decisions order by decided_at"
        ).fetchall()
    assert [r[1] for r in rows] == [True, True, False]
    run = mlflow.get_run(mlflow.search_runs(order_by=["start_time DESC"]).iloc[0]["run_id"])
    assert run.data.tags["promotion.promoted"] == "False"


def test_a_backfilled_date_never_replaces_a_champion_trained_later(platform, gate):
    cfg, auc, good, noise = platform, gate.auc, gate.good, gate.noise
    later = DAY + dt.timedelta(days=7)
    first = promote_if_better(cfg, NAME, log_candidate(cfg, noise, later), "roc_auc", auc, later)
    backfill = promote_if_better(cfg, NAME, log_candidate(cfg, good, DAY), "roc_auc", auc, DAY)
    assert first.promoted and not backfill.promoted
    assert backfill.reason.startswith(f"champion was trained for a later date ({later})")
    assert tracking.champion_version(NAME) == first.candidate_version
    same_day = promote_if_better(cfg, NAME, log_candidate(cfg, good, later), "roc_auc", auc, later)
    assert same_day.promoted  # on its own date the better model still wins
