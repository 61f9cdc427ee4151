"""The promotion gate: the only code that moves a registered model's `champion` alias.

A candidate becomes champion only when it scores strictly better than the current champion on the
same validation data (both are evaluated here, by the same function). Every decision is recorded on
the candidate's MLflow run and in the warehouse table ``ops.promotion_decisions``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import mlflow

from retention import validation_store
from retention.config import Config
from retention.warehouse import connect
from training import tracking
from training.tracking import CHAMPION, champion_version, load_version

DECISIONS_DDL = """
create schema if not exists ops;
create table if not exists ops.promotion_decisions (
    run_date date, model_name varchar, metric varchar,
    candidate_version varchar, candidate_score double,
    champion_version varchar, champion_score double,
    promoted boolean, reason varchar, decided_at timestamp
);
"""


@dataclass(frozen=True)
class Decision:
    run_date: dt.date
    model_name: str
    metric: str
    candidate_version: str
    candidate_score: float
    champion_version: str | None
    champion_score: float | None
    promoted: bool
    reason: str


def promote_if_better(
    cfg: Config,
    model_name: str,
    candidate_version: str,
    metric: str,
    evaluate: Callable[[Any], float],
    run_date: dt.date,
) -> Decision:
    """Evaluate candidate and champion with `evaluate` (higher is better); move the alias if warranted."""
    candidate_score = float(evaluate(load_version(model_name, candidate_version)))
    current = champion_version(model_name)
    champion_score = None
    if current is None:
        promoted, reason = True, "no champion yet"
    elif current == candidate_version:
        promoted, reason, champion_score = False, "candidate is already champion", candidate_score
    elif (trained := _run_date_of(model_name, current)) is not None and trained > run_date:
        # A backfill: the champion was trained later, maybe on this validation window itself, so the
        # comparison would be biased; a rerun of an older date never replaces a newer champion.
        promoted, reason = False, f"champion was trained for a later date ({trained}): backfill kept out"
    else:
        champion_score = float(evaluate(load_version(model_name, current)))
        promoted = candidate_score > champion_score
        reason = "better than champion" if promoted else "not better than champion"
    if promoted:
        mlflow.MlflowClient().set_registered_model_alias(model_name, CHAMPION, candidate_version)
    decision = Decision(
        run_date,
        model_name,
        metric,
        candidate_version,
        candidate_score,
        current,
        champion_score,
        promoted,
        reason,
    )
    _record(cfg, decision)
    return decision


def _run_date_of(model_name: str, version: str) -> dt.date | None:
    """The `run_date` tag of the run that logged a version (None for versions logged without one)."""
    client = mlflow.MlflowClient()
    tag = client.get_run(client.get_model_version(model_name, version).run_id).data.tags.get("run_date")
    return dt.date.fromisoformat(tag) if tag else None


def _record(cfg: Config, decision: Decision) -> None:
    """On the candidate's MLflow run (tags + metrics) and as a row of ops.promotion_decisions."""
    client = mlflow.MlflowClient()
    run_id = client.get_model_version(decision.model_name, decision.candidate_version).run_id
    client.set_tag(run_id, "promotion.promoted", str(decision.promoted))
    client.set_tag(run_id, "promotion.reason", decision.reason)
    client.set_tag(run_id, "promotion.champion_version", str(decision.champion_version))
    client.log_metric(run_id, f"promotion.candidate_{decision.metric}", decision.candidate_score)
    if decision.champion_score is not None:
        client.log_metric(run_id, f"promotion.champion_{decision.metric}", decision.champion_score)
    row = asdict(decision)
    with connect(cfg.paths.warehouse) as con:
        con.execute(DECISIONS_DDL)
        con.execute(
            "insert into ops.promotion_decisions values (?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            list(row.values()),
        )


def log_and_gate(
    cfg: Config,
    name: str,
    run_date: dt.date,
    model: Any,
    params: dict[str, Any],
    metrics: dict[str, float],
    gate_metric: str,
    evaluate: Callable[[Any], float],
) -> dict[str, Any]:
    """One MLflow run per candidate in experiment `name`: params, validation metrics, the model (a new
    version of registered model `name`), then the promotion gate. Returns the task's result for the DAG."""
    tracking.configure(cfg)
    tracking.use_experiment(cfg, name)
    with mlflow.start_run(run_name=f"{params['model']}-{run_date}") as run:
        mlflow.set_tags({"run_date": run_date.isoformat(), "model": params["model"]})
        mlflow.log_params(params)
        mlflow.log_metrics({f"val_{metric}": value for metric, value in metrics.items()})
        validation_store.log_to_active_run(cfg, run_date)  # the data checks this model trained on
        version = tracking.log_model(model, name)
        decision = promote_if_better(cfg, name, version, gate_metric, evaluate, run_date)
    return {
        "run_id": run.info.run_id,
        "version": version,
        "promoted": decision.promoted,
        "reason": decision.reason,
        **{f"val_{metric}": round(value, 4) for metric, value in metrics.items()},
    }
