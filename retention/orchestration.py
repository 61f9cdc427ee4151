"""Running the Airflow DAG from the command line, on a project-local AIRFLOW_HOME with SQLite metadata."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from retention.config import PROJECT_ROOT, Config

DAG_ID = "retention_nightly"


class DagRunFailed(RuntimeError):
    pass


def airflow_env(cfg: Config) -> dict[str, str]:
    """Environment for every airflow command: local home, our dags folder, quiet and small."""
    home = cfg.paths.airflow_home
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{cfg.services.airflow_port}/execution/",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "GX_ANALYTICS_ENABLED": "False",
            "MLFLOW_TRACKING_URI": cfg.paths.mlflow_uri,
        }
    )
    return env


def airflow(
    cfg: Config, *args: str, check: bool = True, capture: bool = False
) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).with_name("airflow")
    return subprocess.run(
        [str(binary), *args],
        env=airflow_env(cfg),
        check=check,
        text=True,
        capture_output=capture,
        cwd=PROJECT_ROOT,
    )


def ensure_metadata_db(cfg: Config) -> None:
    """Create the SQLite metadata database on first use (`airflow db migrate` is idempotent but slow)."""
    cfg.paths.airflow_home.mkdir(parents=True, exist_ok=True)
    if not (cfg.paths.airflow_home / "airflow.db").exists():
        airflow(cfg, "db", "migrate", capture=True)


def run_dag(cfg: Config, run_date: dt.date, data_dir: Path | None = None) -> Path:
    """Run the nightly DAG for one date in-process, as `airflow dags test` does; raise if a task failed.

    Airflow's own output goes to a log file (returned) so the terminal shows only the summary.
    """
    ensure_metadata_db(cfg)
    conf = {"run_date": run_date.isoformat()}
    if data_dir is not None:
        conf["data_dir"] = str(Path(data_dir).resolve())
    log = cfg.paths.warehouse.parent / "log" / f"{DAG_ID}-{run_date}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        binary = Path(sys.executable).with_name("airflow")
        command = [str(binary), "dags", "test", DAG_ID, run_date.isoformat(), "--conf", json.dumps(conf)]
        subprocess.run(command, env=airflow_env(cfg), stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    state = dag_run_state(cfg, run_date)
    if state != "success":
        tail = "\n".join(log.read_text().splitlines()[-60:])
        raise DagRunFailed(f"{tail}\n\n{DAG_ID} for {run_date} ended '{state}': the full log is {log}")
    return log


def dag_run_state(cfg: Config, run_date: dt.date) -> str:
    """The state of the latest run of the DAG for `run_date`, read from the metadata DB."""
    import sqlite3

    with sqlite3.connect(cfg.paths.airflow_home / "airflow.db") as db:
        row = db.execute(
            "select state from dag_run where dag_id = ? and date(logical_date) = ? order by id desc limit 1",
            (DAG_ID, run_date.isoformat()),
        ).fetchone()
    return row[0] if row else "missing"
