"""The nightly pipeline's steps. The Airflow DAG calls `run_step(name, ...)`; each step is a plain
function of (config, run date) so it also runs from tests and the CLI.

Steps build their outputs in a per-run staging schema; `publish` moves all of them into `marts` in one
transaction, so users querying the marts see yesterday's outputs or today's, never a mix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from retention.config import Config, load_config
from retention.contract import ContractError
from retention.quality import QualityGateError
from retention.transform import DbtError
from retention.warehouse import connect, table_exists

# Errors caused by the data itself: the DAG fails the task at once instead of retrying.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (ContractError, QualityGateError, DbtError)

MARTS = ("user_features", "churn_scores", "risk_segments", "user_recommendations", "intervention_list")


def stage_schema(run_date: dt.date) -> str:
    return f"stage_{run_date:%Y%m%d}"


def ingest(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    from retention.ingest import ingest as ingest_files

    report = ingest_files(cfg.paths.warehouse, cfg.paths.data_dir, run_date, cfg.quality)
    return {
        "dates_loaded": len(report.dates_loaded),
        "dates_skipped": len(report.dates_skipped),
        "events_loaded": report.events_loaded,
        "items": report.items,
        "users": report.users,
        "source": report.source,
        "quarantined": report.quarantined,
        "ignored_columns": report.ignored_columns,
    }


def transform(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    """`dbt build` as of the run date's cutoff, then `dbt docs generate`, on one parse of the project."""
    from retention.transform import build_docs, build_features, cutoff_for, parse

    manifest = parse(cfg, run_date)
    built = build_features(cfg, run_date, manifest)
    return {
        "cutoff": cutoff_for(run_date).isoformat(),
        "dbt_docs": str(build_docs(cfg, run_date, manifest)),
        "dbt_seconds": round(sum(built.node_seconds.values()), 2),
    }


def validate_raw(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    """Data-quality gate on the run date's raw events (retention/gates.py): error stops the run."""
    from retention.gates import validate_raw as gate

    return gate(cfg, run_date)


def validate_features(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    """Data-quality gate on the features: ranges, null rates, row count and drift vs the last run."""
    from retention.gates import validate_features as gate

    return gate(cfg, run_date)


def validate_outputs(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    """Data-quality gate on the staged outputs, before publish."""
    from retention.gates import validate_outputs as gate

    return gate(cfg, run_date)


def train_churn(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    from training.train_churn import train_churn as train

    return train(cfg, run_date)


def train_recommender(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    from training.train_recommender import train_recommender as train

    return train(cfg, run_date)


def score(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    """Churn probability, segment and top-K unseen items for every active user, with the champions."""
    from retention.scoring import risk_segment, top_k, value_at_risk
    from retention.segment_tracking import log_segments
    from training import tracking
    from training.train_churn import REGISTERED_NAME as CHURN
    from training.train_recommender import REGISTERED_NAME as RECOMMENDER

    cutoff = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    with connect(cfg.paths.warehouse, read_only=True) as con:
        features = con.execute("select * from features.user_features order by user_id").df()
        # The sequence churn model reads the users' last events beside their features.
        sequences = con.execute(
            "select user_id, last_ts, item_ids, event_types, gap_seconds from features.user_sequences"
        ).df()
        seen = con.execute(
            "select distinct user_id, item_id from staging.stg_events where ts < ?", [cutoff]
        ).df()
    tracking.configure(cfg)
    churn_model = tracking.load_champion(CHURN)
    recommender = tracking.load_champion(RECOMMENDER)
    probability = churn_model.predict_proba(features.merge(sequences, on="user_id", how="left"))
    spend = features["purchase_value_30d"].to_numpy(dtype=float)
    scores = pd.DataFrame(
        {
            "user_id": features["user_id"],
            "run_date": run_date,
            "churn_probability": probability,
            "model_version": tracking.champion_version(CHURN),
        }
    )
    segments = scores[["user_id", "run_date", "churn_probability"]].assign(
        segment=risk_segment(probability, cfg.churn, spend),
        expected_value_at_risk=value_at_risk(probability, spend),
    )
    log_segments(cfg, run_date, segments)
    recs = top_k(
        recommender, list(features["user_id"]), seen, cfg.recommender.top_k, cfg.recommender.batch_users
    )
    recs = recs.assign(run_date=run_date, model_version=tracking.champion_version(RECOMMENDER))
    user_features = features.assign(run_date=run_date)
    _write_stage(
        cfg,
        run_date,
        {
            "user_features": user_features,
            "churn_scores": scores,
            "risk_segments": segments,
            "user_recommendations": recs[
                ["user_id", "run_date", "rank", "item_id", "score", "model_version"]
            ],
        },
    )
    return {
        "users_scored": len(scores),
        "recommendations": len(recs),
        **segments["segment"].value_counts().to_dict(),
    }


def intervene(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    from retention.interventions import assign_arms

    schema = stage_schema(run_date)
    since = run_date - dt.timedelta(days=cfg.interventions.fatigue_days)
    with connect(cfg.paths.warehouse, read_only=True) as con:
        scored = con.execute(
            f"""select s.user_id, s.segment, s.churn_probability, f.carts_30d, f.purchases_30d, f.tenure_days
                from {schema}.risk_segments s join {schema}.user_features f using (user_id)"""
        ).df()
        recs = con.execute(f"select user_id, rank, item_id from {schema}.user_recommendations").df()
        contacted: set[str] = set()
        if table_exists(con, "marts", "intervention_list"):
            contacted = {
                r[0]
                for r in con.execute(
                    """select distinct user_id from marts.intervention_list
                   where arm <> 'none' and run_date >= ? and run_date < ?""",
                    [since, run_date],
                ).fetchall()
            }
    interventions = assign_arms(scored, recs, contacted, cfg.interventions, run_date)
    _write_stage(cfg, run_date, {"intervention_list": interventions})
    return {
        "holdout": int(interventions["is_holdout"].sum()),
        **interventions["arm"].value_counts().to_dict(),
    }


def publish(cfg: Config, run_date: dt.date) -> dict[str, Any]:
    """Replace the run date's rows of every mart in one transaction, then drop the staging schema."""
    schema = stage_schema(run_date)
    counts = {}
    with connect(cfg.paths.warehouse) as con:
        missing = [t for t in MARTS if not table_exists(con, schema, t)]
        if missing:
            raise RuntimeError(f"cannot publish {run_date}: staging tables {missing} are missing in {schema}")
        con.execute("begin transaction")
        con.execute("create schema if not exists marts")
        for table in MARTS:
            con.execute(f"create table if not exists marts.{table} as select * from {schema}.{table} limit 0")
            _add_new_columns(con, f"{schema}.{table}", "marts", table)
            con.execute(f"delete from marts.{table} where run_date = ?", [run_date])
            con.execute(f"insert into marts.{table} by name select * from {schema}.{table}")
            counts[table] = con.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
        con.execute(f"drop schema {schema} cascade")
        con.execute("commit")
    return counts


def _add_new_columns(con, source: str, schema: str, table: str) -> None:
    """Schema evolution: columns a newer version of the pipeline adds are added to the mart (older rows
    get NULL), so publishing never fails on a mart created by an earlier version."""
    existing = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }
    for name, column_type, *_ in con.execute(f"describe {source}").fetchall():
        if name not in existing:
            con.execute(f'alter table {schema}.{table} add column "{name}" {column_type}')


def _write_stage(cfg: Config, run_date: dt.date, frames: dict[str, pd.DataFrame]) -> None:
    schema = stage_schema(run_date)
    with connect(cfg.paths.warehouse) as con:
        con.execute(f"create schema if not exists {schema}")
        for name, frame in frames.items():
            con.register("frame", frame)
            con.execute(f"create or replace table {schema}.{name} as select * from frame")
            con.unregister("frame")


STEPS: dict[str, Callable[[Config, dt.date], dict[str, Any]]] = {
    "ingest": ingest,
    "validate_raw": validate_raw,
    "transform": transform,
    "validate_features": validate_features,
    "train_churn": train_churn,
    "train_recommender": train_recommender,
    "score": score,
    "intervene": intervene,
    "validate_outputs": validate_outputs,
    "publish": publish,
}


def config_for_run(params: dict[str, Any] | None) -> Config:
    """The platform config, with the DAG run's params (data folder, model choices) applied."""
    cfg = load_config()
    params = params or {}
    if params.get("data_dir"):
        cfg = cfg.replace("paths", data_dir=Path(params["data_dir"]).resolve())
    if params.get("churn_model"):
        cfg = cfg.replace("churn", model=params["churn_model"])
    if params.get("recommender"):
        cfg = cfg.replace("recommender", model=params["recommender"])
    return cfg


def run_step(name: str, params: dict[str, Any] | None, logical_date: dt.date) -> dict[str, Any]:
    """Entry point for Airflow tasks: the run date is the `run_date` param, else the logical date."""
    run_date = dt.date.fromisoformat(params["run_date"]) if (params or {}).get("run_date") else logical_date
    return STEPS[name](config_for_run(params), run_date)
