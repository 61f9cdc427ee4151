"""Risk segments in MLflow: each night's segment sizes, and, once their churn window has passed, the
observed churn rate of the segments scored `horizon_days` earlier (experiment `retention-segments`)."""

from __future__ import annotations

import datetime as dt

import mlflow
import pandas as pd

from retention.config import Config
from retention.warehouse import connect, table_exists

EXPERIMENT = "retention-segments"

OBSERVED_SQL = """
select s.segment, count(*) as users, avg(case when e.user_id is null then 1.0 else 0.0 end) as churn_rate
from marts.risk_segments as s
left join (select distinct user_id from staging.stg_events where ts >= $start and ts < $end) as e
    using (user_id)
where s.run_date = $scored_on
group by s.segment
"""


def segment_sizes(segments: pd.DataFrame) -> dict[str, float]:
    """Users, share and mean probability of each segment (0 for an empty one)."""
    metrics: dict[str, float] = {}
    for name in ("high", "medium", "low"):
        rows = segments[segments["segment"] == name]
        metrics[f"segment_{name}_users"] = float(len(rows))
        metrics[f"segment_{name}_share"] = len(rows) / max(len(segments), 1)
        metrics[f"segment_{name}_mean_probability"] = (
            float(rows["churn_probability"].mean()) if len(rows) else 0.0
        )
    return metrics


def observed_churn(cfg: Config, run_date: dt.date) -> dict[str, float]:
    """Churn rate per segment of the users scored `horizon_days` before `run_date`, whose churn window
    [their cutoff, their cutoff + horizon) ends at this run's cutoff; {} while no such scores exist."""
    horizon = dt.timedelta(days=cfg.features.horizon_days)
    scored_on = run_date - horizon
    start = dt.datetime.combine(scored_on + dt.timedelta(days=1), dt.time())
    with connect(cfg.paths.warehouse, read_only=True) as con:
        if not table_exists(con, "marts", "risk_segments"):
            return {}
        params = {"start": start, "end": start + horizon, "scored_on": scored_on}
        rows = con.execute(OBSERVED_SQL, params).fetchall()
    return {f"observed_churn_rate_{segment}": float(rate) for segment, _, rate in rows}


def log_segments(cfg: Config, run_date: dt.date, segments: pd.DataFrame) -> dict[str, float]:
    """One MLflow run per night with the segment sizes and the observed churn of earlier segments."""
    from training import tracking

    metrics = {**segment_sizes(segments), **observed_churn(cfg, run_date)}
    tracking.configure(cfg)
    tracking.use_experiment(cfg, EXPERIMENT)
    with mlflow.start_run(run_name=f"segments-{run_date}"):
        mlflow.set_tags({"run_date": run_date.isoformat()})
        mlflow.log_params(
            {
                "segment_high": cfg.churn.segment_high,
                "segment_medium": cfg.churn.segment_medium,
                "value_weighted": cfg.churn.value_weighted,
            }
        )
        mlflow.log_metrics(metrics)
    return metrics
