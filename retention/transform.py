"""Runs the dbt project (staging -> features) on the warehouse for one cutoff."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from retention.config import PROJECT_ROOT, Config

DBT_PROJECT = PROJECT_ROOT / "dbt_project"


class DbtError(RuntimeError):
    pass


def cutoff_for(run_date: dt.date) -> dt.date:
    """Features see every event up to the end of the run date: the cutoff is the next midnight (UTC)."""
    return run_date + dt.timedelta(days=1)


def dbt_vars(cfg: Config) -> dict[str, object]:
    """The project vars from the config (constant from run to run, so dbt's partial parsing holds)."""
    return {
        "active_days": cfg.features.active_days,
        "horizon_days": cfg.features.horizon_days,
    }


def dbt_env(cfg: Config, run_date: dt.date | None = None) -> dict[str, str]:
    """dbt's environment: the warehouse, dbt's work folders and the run's cutoff (DBT_CUTOFF, read by
    macros/cutoffs.sql: an env var, as a changed --vars would make dbt re-parse the whole project)."""
    work = cfg.paths.warehouse.parent / "dbt"
    env = {
        "RETENTION_WAREHOUSE": str(cfg.paths.warehouse),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DBT_PARTIAL_PARSE": "True",
    }
    if run_date is not None:
        env["DBT_CUTOFF"] = cutoff_for(run_date).isoformat()
    return env


def dbt_command(cfg: Config, args: list[str], run_date: dt.date | None = None) -> list[str]:
    """The dbt CLI call for `args` on this project (run it with `dbt_env(cfg, run_date)`)."""
    command = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
    ]
    if run_date is not None:
        command += ["--vars", json.dumps(dbt_vars(cfg))]
    return command


def run_dbt(cfg: Config, args: list[str], run_date: dt.date | None = None) -> None:
    """Run the dbt CLI in a subprocess (dbt-duckdb keeps its connection open for the life of a process,
    which would lock the warehouse for the next step); raise DbtError with dbt's own report."""
    command = dbt_command(cfg, args, run_date)
    env = {**os.environ, **dbt_env(cfg, run_date)}
    result = subprocess.run(command, env=env, text=True, capture_output=True)
    print(result.stdout, end="")
    if result.returncode != 0:
        failures = [line for line in result.stdout.splitlines() if "ERROR" in line or "FAIL" in line]
        detail = "\n".join(failures[-20:]) or result.stderr[-2000:]
        raise DbtError(f"dbt {' '.join(args)} failed:\n{detail}")


def build_features(cfg: Config, run_date: dt.date) -> None:
    """`dbt build`: models and their data tests, as of the run date's cutoff."""
    run_dbt(cfg, ["build"], run_date)


def build_docs(cfg: Config, run_date: dt.date) -> Path:
    """`dbt docs generate` from the manifest the build just wrote (no recompilation): the lineage and the
    catalog of every model as of this run; returns the site's index.html (`retention dbt-docs` serves it)."""
    run_dbt(cfg, ["docs", "generate", "--no-compile"], run_date)
    return dbt_target_path(cfg) / "index.html"


def dbt_target_path(cfg: Config) -> Path:
    """Where dbt writes its artifacts (manifest, catalog, docs) for this warehouse."""
    return Path(dbt_env(cfg)["DBT_TARGET_PATH"])
