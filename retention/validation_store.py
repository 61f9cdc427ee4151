"""Where validation outcomes are kept: ``ops.validation_results`` (one row per expectation failure, plus
one summary row per suite and run date), and the MLflow runs of the date, so a model can be traced to
the data checks it passed."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from retention.config import Config
from retention.quality import GateResult
from retention.warehouse import connect, table_exists

RESULTS_DDL = """
create schema if not exists ops;
create table if not exists ops.validation_results (
    run_date date, suite varchar, expectation varchar, column_name varchar, severity varchar,
    unexpected_count bigint, sample varchar, evaluated bigint, passed bigint, validated_at timestamp
);
"""
EXPERIMENTS = ("retention-churn", "retention-recommender")


def rows(run_date: dt.date, results: list[GateResult]) -> pd.DataFrame:
    """A summary row per suite (expectation NULL) and a row per failed expectation."""
    out = []
    for r in results:
        out.append((run_date, r.suite, None, None, None, None, None, r.evaluated, r.passed))
        out += [
            (run_date, r.suite, f.expectation, f.column, f.severity, f.unexpected_count,
             json.dumps(f.sample, default=str), None, None)
            for f in r.failures
        ]  # fmt: skip
    columns = ["run_date", "suite", "expectation", "column_name", "severity", "unexpected_count", "sample"]
    return pd.DataFrame(out, columns=[*columns, "evaluated", "passed"])


def record(cfg: Config, run_date: dt.date, results: list[GateResult]) -> None:
    """Replace the run date's rows of these suites in ops.validation_results."""
    frame = rows(run_date, results)
    with connect(cfg.paths.warehouse) as con:
        con.execute(RESULTS_DDL)
        con.execute("begin transaction")
        con.execute(
            "delete from ops.validation_results where run_date = ? and suite in (select unnest(?))",
            [run_date, [r.suite for r in results]],
        )
        con.register("results_frame", frame)
        con.execute("insert into ops.validation_results select *, current_timestamp from results_frame")
        con.unregister("results_frame")
        con.execute("commit")


def counts(cfg: Config, run_date: dt.date) -> dict[str, dict[str, int]]:
    """Per suite validated for the run date: expectations evaluated, passed, failed as error / warn."""
    if not cfg.paths.warehouse.exists():
        return {}
    with connect(cfg.paths.warehouse, read_only=True) as con:
        if not table_exists(con, "ops", "validation_results"):
            return {}
        found = con.execute(
            """select suite, max(evaluated), max(passed),
                count(*) filter (where severity = 'error'), count(*) filter (where severity = 'warn')
            from ops.validation_results where run_date = ? group by suite order by suite""",
            [run_date],
        ).fetchall()
    return {
        suite: {"evaluated": e, "passed": p, "errors": err, "warnings": w} for suite, e, p, err, w in found
    }


def mlflow_metrics(cfg: Config, run_date: dt.date) -> dict[str, float]:
    return {
        f"dq_{suite}_{key}": float(value)
        for suite, numbers in counts(cfg, run_date).items()
        for key, value in numbers.items()
    }


def log_to_active_run(cfg: Config, run_date: dt.date) -> None:
    """The checks of the run date so far (raw events, features) on the active MLflow run."""
    import mlflow

    metrics = mlflow_metrics(cfg, run_date)
    if metrics:
        mlflow.log_metrics(metrics)
        mlflow.set_tag("dq.suites", ",".join(sorted(counts(cfg, run_date))))


def log_to_runs_of_date(cfg: Config, run_date: dt.date) -> list[str]:
    """All the run date's checks on the latest training run of that date in each experiment."""
    import mlflow

    from training import tracking

    tracking.configure(cfg)
    client = mlflow.MlflowClient()
    metrics = mlflow_metrics(cfg, run_date)
    logged = []
    for name in EXPERIMENTS:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            continue
        found = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.run_date = '{run_date.isoformat()}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        for run in found:
            for key, value in metrics.items():
                client.log_metric(run.info.run_id, key, value)
            client.set_tag(run.info.run_id, "dq.suites", ",".join(sorted(counts(cfg, run_date))))
            logged.append(run.info.run_id)
    return logged
