"""The end-of-run summary: what was published, what MLflow holds, where things are, what to try next."""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.table import Table

from retention.config import Config
from retention.pipeline import MARTS
from retention.quality_summary import print_quality
from retention.transform import dbt_target_path
from retention.warehouse import connect, table_exists


def next_steps(cfg: Config) -> list[tuple[str, str]]:
    airflow, mlflow = cfg.services.airflow_port, cfg.services.mlflow_port
    return [
        (
            "make up",
            f"open the Airflow UI (http://127.0.0.1:{airflow}) and the MLflow UI (http://127.0.0.1:{mlflow})",
        ),
        ("make sql", "a read-only SQL shell on the warehouse"),
        (
            'retention sql "select segment, arm, count(*) from marts.intervention_list group by all"',
            "query the outputs",
        ),
    ]


def mart_counts(cfg: Config, run_date: dt.date) -> dict[str, int]:
    with connect(cfg.paths.warehouse, read_only=True) as con:
        return {
            table: con.execute(
                f"select count(*) from marts.{table} where run_date = ?", [run_date]
            ).fetchone()[0]
            if table_exists(con, "marts", table)
            else 0
            for table in MARTS
        }


def mlflow_runs(cfg: Config) -> dict[str, int]:
    import mlflow

    from training import tracking

    tracking.configure(cfg)
    client = mlflow.MlflowClient()
    return {
        e.name: len(client.search_runs([e.experiment_id], max_results=10_000))
        for e in client.search_experiments()
        if e.name != "Default"
    }


def print_summary(cfg: Config, run_date: dt.date, console: Console | None = None) -> None:
    console = console or Console()
    outputs = Table(title=f"Published outputs, run_date {run_date}")
    outputs.add_column("table")
    outputs.add_column("rows", justify="right")
    for table, rows in mart_counts(cfg, run_date).items():
        outputs.add_row(f"marts.{table}", f"{rows:,}")
    console.print(outputs)
    runs = Table(title="MLflow experiments")
    runs.add_column("experiment")
    runs.add_column("runs", justify="right")
    for name, count in mlflow_runs(cfg).items():
        runs.add_row(name, str(count))
    console.print(runs)
    console.print(f"DuckDB warehouse: [bold]{cfg.paths.warehouse}[/]")
    console.print(f"MLflow store:     [bold]{cfg.paths.mlflow_dir}[/] (tracking URI {cfg.paths.mlflow_uri})")
    dbt_docs = dbt_target_path(cfg) / "index.html"
    console.print(f"dbt docs:         [bold]{dbt_docs}[/] (`make dbt-docs` serves them)")
    print_quality(cfg, run_date, console)
    console.print("Next, try:")
    for command, what in next_steps(cfg):
        console.print(f"  [bold cyan]{command}[/]  # {what}")
