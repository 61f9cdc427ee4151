"""Runs the dbt project (staging -> features) on the warehouse for one cutoff.

dbt runs in this process, through its programmatic API (`dbtRunner`): a step that builds the features and
then generates the docs parses the project once and shares the manifest, and a process that runs dbt more
than once (a test session, a long-lived worker, the benchmark) pays dbt's import and its first parse only
once. dbt-duckdb keeps its DuckDB connection open for the life of the process, which would lock the
warehouse for the next step: every invocation closes it before returning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from retention.config import PROJECT_ROOT, Config

DBT_PROJECT = PROJECT_ROOT / "dbt_project"
log = logging.getLogger(__name__)
FAILED = {"error", "fail", "runtime error"}
SCHEMA_CHANGED = "schemas on this incremental model are out of sync"  # dbt's on_schema_change: fail
# dbt unit tests check the SQL's logic on fixed rows, not the night's data: they run in `make test`
# (tests/test_dbt_unit_tests.py), not in every nightly build, as dbt recommends for production.
NIGHTLY_BUILD = ["build", "--exclude-resource-type", "unit_test"]


class DbtError(RuntimeError):
    pass


class DbtSchemaChanged(DbtError):
    """An incremental model's columns differ from its table's (the project changed): rebuild it."""


@dataclasses.dataclass(frozen=True)
class DbtResult:
    """What one dbt invocation did: each node's status and execution seconds, and the manifest it ran.

    sql_seconds: the warehouse's time in the SQL statements dbt sent (the sum of dbt's own per-statement
    timings, commits included); close_seconds: closing the warehouse afterwards (DuckDB checkpoints what
    is left in its write-ahead log). The rest of an invocation's wall time is dbt's own work: compiling
    the models' Jinja, running the materialization macros, metadata queries' bookkeeping, artifacts."""

    nodes: dict[str, tuple[str, float]]
    manifest: Any = None
    sql_seconds: float = 0.0
    close_seconds: float = 0.0

    @property
    def node_seconds(self) -> dict[str, float]:
        return {name.split(".")[-1]: seconds for name, (_, seconds) in self.nodes.items()}


def cutoff_for(run_date: dt.date) -> dt.date:
    """Features see every event up to the end of the run date: the cutoff is the next midnight (UTC)."""
    return run_date + dt.timedelta(days=1)


def dbt_vars(cfg: Config) -> dict[str, object]:
    """The project vars from the config (constant from run to run, so dbt's partial parsing holds)."""
    return {
        "active_days": cfg.features.active_days,
        "horizon_days": cfg.features.horizon_days,
        "reprocess_days": reprocess_days(cfg),
    }


def reprocess_days(cfg: Config) -> int:
    """The recent days before the cutoff, which the sliding-window states leave out and every night reads
    afresh: the run date and the `quality.max_lateness_days` days before it, the oldest day a late event
    that ingest accepts can be of (ts at or after its partition's day minus max_lateness_days). The
    day-incremental models rebuild only the days the loads changed (dbt_project/macros/loads.sql)."""
    return cfg.quality.max_lateness_days + 1


def dbt_env(cfg: Config, run_date: dt.date | None = None) -> dict[str, str]:
    """dbt's environment: the warehouse, dbt's work folders and the run's cutoff (DBT_CUTOFF, read by
    macros/cutoffs.sql only when dbt executes, so a new cutoff re-parses nothing)."""
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


def dbt_args(
    cfg: Config, args: list[str], run_date: dt.date | None = None, project: Path = DBT_PROJECT
) -> list[str]:
    """The dbt arguments for `args` on the dbt project `project` (run them with `dbt_env(cfg, run_date)`)."""
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    with_vars = ["--vars", json.dumps(dbt_vars(cfg))] if run_date is not None else []
    return [*args, *where, *with_vars]


def dbt_command(cfg: Config, args: list[str], run_date: dt.date | None = None) -> list[str]:
    """The dbt CLI call for `args` (for commands that must own a process, like `dbt docs serve`)."""
    return [str(Path(sys.executable).with_name("dbt")), *dbt_args(cfg, args, run_date)]


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` set for the duration (dbt reads its env vars at each invocation)."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _close_warehouse() -> None:
    """Close dbt-duckdb's process-wide DuckDB connection (it would keep the warehouse file locked)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def _failures(result: Any) -> list[str]:
    """One line per failed node (name, status, dbt's message) of an invocation's result."""
    lines = []
    for node in getattr(result, "results", None) or []:
        status = str(getattr(node.status, "value", node.status))
        if status in FAILED:
            message = " ".join(str(node.message or "").split())
            lines.append(f"{node.node.unique_id}: {status}: {message}")
    return lines


def run_dbt(
    cfg: Config,
    args: list[str],
    run_date: dt.date | None = None,
    manifest: Any = None,
    project: Path = DBT_PROJECT,
) -> DbtResult:
    """Run dbt `args` in this process on `project` (with `manifest`, dbt skips parsing); raise DbtError
    with every failed node, or dbt's own error, if the invocation did not succeed."""
    from dbt.cli.main import dbtRunner

    sql_seconds = 0.0

    def count_sql(event: Any) -> None:
        nonlocal sql_seconds
        if event.info.name == "SQLQueryStatus":
            sql_seconds += event.data.elapsed

    with _environment(dbt_env(cfg, run_date)):
        try:
            runner = dbtRunner(manifest=manifest, callbacks=[count_sql])
            outcome = runner.invoke(dbt_args(cfg, args, run_date, project))
        finally:
            closing = time.perf_counter()
            _close_warehouse()
            close_seconds = time.perf_counter() - closing
    if not outcome.success:
        detail = _failures(outcome.result) or [repr(outcome.exception)]
        error = DbtSchemaChanged if any(SCHEMA_CHANGED in line for line in detail) else DbtError
        raise error(f"dbt {' '.join(args)} failed:\n" + "\n".join(detail[-20:]))
    result = outcome.result
    nodes = {
        node.node.unique_id: (str(getattr(node.status, "value", node.status)), float(node.execution_time))
        for node in getattr(result, "results", None) or []
    }
    kept = result if args[:1] == ["parse"] else manifest
    return DbtResult(nodes, kept, sql_seconds=sql_seconds, close_seconds=close_seconds)


def parse(cfg: Config, run_date: dt.date | None = None) -> Any:
    """The project's manifest (dbt's partial parsing: only files changed since the last parse)."""
    return run_dbt(cfg, ["parse", "--no-write-json"], run_date).manifest


def build_features(cfg: Config, run_date: dt.date, manifest: Any = None) -> DbtResult:
    """`dbt build` of the models and their data tests (NIGHTLY_BUILD), as of the run date's cutoff. If an
    incremental model's columns changed since its table was built (a new version of the project), rebuild
    every model from the raw tables (`--full-refresh`) instead: appending to the old tables would misalign
    them."""
    try:
        return run_dbt(cfg, NIGHTLY_BUILD, run_date, manifest)
    except DbtSchemaChanged as changed:
        log.warning("%s\nthe feature layer changed shape: rebuilding it with --full-refresh", changed)
        return run_dbt(cfg, [*NIGHTLY_BUILD, "--full-refresh"], run_date, manifest)


def build_docs(cfg: Config, run_date: dt.date, manifest: Any = None) -> Path:
    """`dbt docs generate` without recompiling (the build wrote manifest.json, compiled SQL included): the
    lineage and the catalog of every model as of this run; returns the site's index.html (`retention
    dbt-docs` serves it)."""
    run_dbt(cfg, ["docs", "generate", "--no-compile"], run_date, manifest)
    return dbt_target_path(cfg) / "index.html"


def dbt_target_path(cfg: Config) -> Path:
    """Where dbt writes its artifacts (manifest, catalog, docs) for this warehouse."""
    return Path(dbt_env(cfg)["DBT_TARGET_PATH"])
