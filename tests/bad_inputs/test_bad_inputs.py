"""The bad-input corpus (bad_input_kinds.py) against a published platform.

One platform is built and published once from the tiny history without its last day (the real pipeline
steps, no Airflow). Each kind then writes that last day's partition into the data folder, as the next
night's export would, and runs what a nightly run runs up to where it must stop — ingest (which skips
the unchanged earlier days) and the raw-events gate — on a copy of the warehouse; the partition is
removed afterwards. Asserted for each: the outcome (stop with a clear message, quarantine and go on, or
warn and go on), the published marts unchanged, and no raw file altered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from bad_input_kinds import ALL_ROWS, KINDS
from bad_table_kinds import TABLE_KINDS
from conftest import platform_env

from retention import pipeline
from retention.config import Config, load_config
from retention.contract import ContractError
from retention.ingest import latest_event_date
from retention.quality import QualityGateError


@dataclass
class Published:
    cfg: Config
    day: dt.date  # the day the bad inputs arrive for: the day after the published run
    good_events: pd.DataFrame  # that day's real events, which each kind spoils
    marts: dict[str, list[tuple]]
    data_files: dict[str, str]


@dataclass
class Outcome:
    stopped_at: str | None
    message: str = ""
    ingested: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)


def mart_rows(cfg: Config) -> dict[str, list[tuple]]:
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        return {t: con.execute(f"select * from marts.{t} order by all").fetchall() for t in pipeline.MARTS}


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Published:
    root = tmp_path_factory.mktemp("published")
    data, day = root / "data", latest_event_date(tiny_data)
    shutil.copytree(tiny_data, data)
    partition = data / "events" / f"date={day}"
    good = pd.read_parquet(partition / "events.parquet")
    shutil.rmtree(partition)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in platform_env(root, data).items():
            patch.setenv(key, value)
        cfg = load_config()
        for step in pipeline.STEPS.values():
            step(cfg, day - dt.timedelta(days=1))
    return Published(cfg, day, good, mart_rows(cfg), file_hashes(data))


def case_config(published: Published, root: Path, with_mlflow: bool = False) -> Config:
    """A copy of the published warehouse (and MLflow store), for one case to break."""
    warehouse = root / "var" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True)
    shutil.copy2(published.cfg.paths.warehouse, warehouse)
    if with_mlflow:  # validate_outputs logs to the night's MLflow runs
        shutil.copytree(published.cfg.paths.mlflow_dir, root / "mlruns")
    return published.cfg.replace(
        "paths",
        warehouse=warehouse,
        data_docs_dir=root / "var" / "data_docs",
        mlflow_dir=root / "mlruns",
    )


def run_until_stop(cfg: Config, day: dt.date) -> Outcome:
    """ingest, then the raw-events gate: what a nightly run does before anything else depends on them."""
    try:
        ingested = pipeline.ingest(cfg, day)
    except ContractError as error:
        return Outcome("ingest", str(error))
    try:
        gate = pipeline.validate_raw(cfg, day)
    except QualityGateError as error:
        return Outcome("validate_raw", str(error), ingested)
    return Outcome(None, "", ingested, gate)


def rows_written(folder: Path) -> int:
    return sum(
        len(pd.read_parquet(p)) if p.suffix == ".parquet" else len(pd.read_csv(p)) for p in folder.iterdir()
    )


def query(cfg: Config, sql: str, params: list) -> list[tuple]:
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture
def new_partition(published: Published):
    """The bad day's partition folder in the published data folder, removed after the case."""
    folder = published.cfg.paths.data_dir / "events" / f"date={published.day}"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder)


@pytest.mark.parametrize("name", list(KINDS))
def test_bad_input(published: Published, new_partition: Path, tmp_path: Path, name: str):
    kind, day, folder, good = KINDS[name], published.day, new_partition, published.good_events
    cfg = case_config(published, tmp_path)
    kind.make(folder, good.copy(), day)
    files = file_hashes(cfg.paths.data_dir)

    outcome = run_until_stop(cfg, day)

    if kind.outcome == "stop":
        assert outcome.stopped_at == kind.step, outcome
        for word in kind.words:
            assert word in outcome.message, (word, outcome.message)
        named = str(folder) if kind.step == "ingest" else "suite 'raw_events'"
        assert named in outcome.message
    else:
        assert outcome.stopped_at is None, outcome.message
        assert_quarantined(cfg, day, folder, kind.quarantined, len(good))
        if kind.outcome == "warn":
            assert_warned(cfg, day, outcome, kind.words)
    assert mart_rows(cfg) == published.marts
    assert file_hashes(cfg.paths.data_dir) == files


def assert_quarantined(cfg: Config, day: dt.date, folder: Path, expected: dict[str, int], day_rows: int):
    found = query(
        cfg, "select reason, source_file, line from raw.quarantine where event_date = ? order by all", [day]
    )
    for prefix, rows in expected.items():
        matching = [r for r in found if r[0].startswith(prefix)]
        assert len(matching) == (day_rows if rows == ALL_ROWS else rows), (prefix, found[:5])
    assert len(found) == sum(day_rows if n == ALL_ROWS else n for n in expected.values()), found[:5]
    assert all(file.startswith(str(folder)) and line >= 1 for _, file, line in found)
    [(loaded,)] = query(cfg, "select count(*) from raw.events where event_date = ?", [day])
    assert loaded + len(found) == rows_written(folder)


def assert_warned(cfg: Config, day: dt.date, outcome: Outcome, words: tuple[str, ...]):
    warnings = " ".join(outcome.gate["raw_events"]["warnings"]) + str(outcome.ingested["ignored_columns"])
    for word in words:
        assert word in warnings, (word, warnings)
    if outcome.gate["raw_events"]["warnings"]:
        recorded = query(
            cfg,
            "select count(*) from ops.validation_results where run_date = ? and severity = 'warn'",
            [day],
        )
        assert recorded[0][0] >= 1


def test_the_corpus_has_every_kind_the_issue_lists():
    listed = {
        "missing column", "wrong type", "unparseable timestamp", "future timestamps", "duplicated event_ids",
        "negative value", "unknown event_type", "unknown user/item ids above the threshold", "empty day",
        "10x the usual volume", "truncated Parquet file", "CSV with a wrong delimiter", "non-UTF-8 bytes",
        "extra column", "NaN and inf values", "duplicated whole file",
    }  # fmt: skip
    assert listed <= set(KINDS) and len(KINDS) >= 15


def stage_published_outputs(cfg: Config, published_day: dt.date, run_date: dt.date) -> None:
    """Rebuild a run's staging schema from the published marts, as if `run_date` had just scored."""
    schema = pipeline.stage_schema(run_date)
    with duckdb.connect(str(cfg.paths.warehouse)) as con:
        con.execute(f"create schema {schema}")
        for table in pipeline.MARTS:
            con.execute(
                f"create table {schema}.{table} as select * replace (?::date as run_date) "
                f"from marts.{table} where run_date = ?",
                [run_date, published_day],
            )


@pytest.mark.parametrize("name", list(TABLE_KINDS))
def test_bad_features_and_outputs(published: Published, tmp_path: Path, name: str):
    kind = TABLE_KINDS[name]
    cfg = case_config(published, tmp_path, with_mlflow=kind.gate == "validate_outputs")
    for section, values in kind.config.items():
        cfg = cfg.replace(section, **values)
    published_day = published.day - dt.timedelta(days=1)
    run_date = published.day if kind.gate == "validate_features" or kind.next_day else published_day
    if kind.gate == "validate_outputs":
        stage_published_outputs(cfg, published_day, run_date)
    with duckdb.connect(str(cfg.paths.warehouse)) as con:
        con.execute(kind.sql.format(stage=pipeline.stage_schema(run_date)))

    try:
        result = pipeline.STEPS[kind.gate](cfg, run_date)
    except QualityGateError as error:
        assert kind.outcome == "stop", str(error)
        for word in kind.words:
            assert word in str(error), (word, str(error))
    else:
        assert kind.outcome == "warn", result
        warnings = " ".join(
            w for suite in result.values() if isinstance(suite, dict) for w in suite.get("warnings", [])
        )
        for word in kind.words:
            assert word in warnings, (word, result)
    assert mart_rows(cfg) == published.marts


# Last in the module: after every case ran on it.
def test_the_published_platform_and_its_data_are_untouched(published: Published):
    assert mart_rows(published.cfg) == published.marts
    assert file_hashes(published.cfg.paths.data_dir) == published.data_files
