"""Risk segments on calibrated probabilities (optionally value-weighted), their sizes and observed churn
rates logged to MLflow."""

import datetime as dt

import mlflow
import numpy as np
import pandas as pd

from retention.config import Churn
from retention.scoring import risk_segment, value_at_risk, value_weighted_risk
from retention.segment_tracking import EXPERIMENT, log_segments, observed_churn, segment_sizes
from retention.warehouse import connect

RUN_DATE = dt.date(2026, 8, 31)


def test_value_weighting_moves_big_spenders_up_and_non_spenders_down():
    probability = np.array([0.4, 0.4, 0.4])
    spend = np.array([0.0, 10.0, 20.0])  # mean 10
    assert list(value_at_risk(probability, spend)) == [0.0, 4.0, 8.0]
    np.testing.assert_allclose(value_weighted_risk(probability, spend), [0.0, 0.4, 0.8])
    assert list(risk_segment(probability, Churn(), spend)) == ["medium"] * 3  # off by default
    weighted = Churn(value_weighted=True)
    assert list(risk_segment(probability, weighted, spend)) == ["low", "medium", "high"]
    assert list(risk_segment(probability, weighted, np.zeros(3))) == ["medium"] * 3  # nobody spends


def test_default_thresholds_are_documented_values():
    assert (Churn().segment_high, Churn().segment_medium) == (0.6, 0.3)


def segments_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "run_date": RUN_DATE - dt.timedelta(days=30),
            "churn_probability": [0.9, 0.7, 0.4, 0.1],
            "segment": ["high", "high", "medium", "low"],
        }
    )


def test_segment_sizes_and_the_observed_churn_once_the_window_has_passed(platform):
    cfg = platform
    scored = segments_frame()
    sizes = segment_sizes(scored)
    assert sizes["segment_high_users"] == 2 and sizes["segment_high_share"] == 0.5
    assert sizes["segment_high_mean_probability"] == 0.8
    with connect(cfg.paths.warehouse):
        pass
    assert observed_churn(cfg, RUN_DATE) == {}  # no marts yet
    window_start = dt.datetime.combine(RUN_DATE - dt.timedelta(days=29), dt.time())
    events = pd.DataFrame(
        {
            "user_id": ["a", "c", "d", "b"],
            # a returns inside the window; b only after it ends (still churned); c and d inside
            "ts": [
                window_start,
                window_start + dt.timedelta(days=5),
                window_start,
                window_start + dt.timedelta(days=30),
            ],
        }
    )
    with connect(cfg.paths.warehouse) as con:
        con.execute("create schema marts; create schema staging")
        con.register("scored_frame", scored)
        con.register("events_frame", events)
        con.execute("create table marts.risk_segments as select * from scored_frame")
        con.execute("create table staging.stg_events as select * from events_frame")
    observed = observed_churn(cfg, RUN_DATE)
    assert observed == {
        "observed_churn_rate_high": 0.5,
        "observed_churn_rate_medium": 0.0,
        "observed_churn_rate_low": 0.0,
    }

    logged = log_segments(cfg, RUN_DATE, scored.assign(run_date=RUN_DATE))
    run = mlflow.MlflowClient().search_runs([mlflow.get_experiment_by_name(EXPERIMENT).experiment_id])[0]
    assert run.data.metrics["segment_low_users"] == 1.0
    assert run.data.metrics["observed_churn_rate_high"] == 0.5
    assert run.data.params["segment_high"] == "0.6"
    assert logged["segment_medium_users"] == 1.0
