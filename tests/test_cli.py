"""The `retention` command line: help, simulate, ingest and sql, run as the installed script in a subprocess
(help texts through typer's CliRunner). Every path the CLI touches lives in a temp folder."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from retention.cli import app
from retention.ingest import ingest
from retention.simulator import SimulationSpec, simulate, write_dataset

RETENTION = Path(sys.executable).with_name("retention")
SMALL = ["--users", "300", "--items", "40", "--days", "20", "--seed", "3"]
SPEC = SimulationSpec(users=300, items=40, days=20, seed=3, start_date=dt.date(2026, 6, 1))

COMMAND_OPTIONS = {
    "simulate": ["--users", "--items", "--days", "--seed", "--start", "--out", "--format"],
    "ingest": ["--data", "--date"],
    "run": ["--date", "--data"],
    "demo": [],
    "sql": ["query", "--shell"],  # arguments as typer shows them: lower case
    "bench": ["name", "--data", "--out"],
    "up": [],
    "down": [],
}


def cli_env(tmp: Path) -> dict[str, str]:
    """This process's environment without RETENTION_* settings, with every platform path under `tmp`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    for key, path in {
        "WAREHOUSE": tmp / "var" / "warehouse.duckdb",
        "DATA_DIR": tmp / "var" / "data",
        "MLFLOW_DIR": tmp / "mlruns",
        "AIRFLOW_HOME": tmp / "var" / "airflow",
        "BENCH_DIR": tmp / "var" / "bench",
    }.items():
        env[f"RETENTION_PATHS__{key}"] = str(path)
    env["COLUMNS"] = "200"  # wide enough that rich never wraps a path or a number
    return env


def retention(
    *args: str, tmp: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RETENTION), *args],
        env=env or cli_env(tmp),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "data"
    write_dataset(simulate(SPEC), out)
    return out


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, small_data: Path) -> Path:
    """A temp root whose warehouse (as cli_env places it) holds `small_data`."""
    root = tmp_path_factory.mktemp("cli-warehouse")
    ingest(Path(cli_env(root)["RETENTION_PATHS__WAREHOUSE"]), small_data)
    return root


def count_events(folder: Path, fmt: str = "parquet") -> int:
    with duckdb.connect() as con:
        row = con.execute(f"select count(*) from read_{fmt}('{folder}/events/*/events.{fmt}')").fetchone()
    assert row is not None
    return int(row[0])


def files_content(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------
# Help


def test_app_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for command in COMMAND_OPTIONS:
        assert command in result.output


@pytest.mark.parametrize("command", list(COMMAND_OPTIONS))
def test_command_help_mentions_its_options(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"Usage: root {command}" in result.output
    for option in COMMAND_OPTIONS[command]:
        assert option in result.output, f"{command} --help does not mention {option}"


def test_installed_script_runs() -> None:
    result = subprocess.run([str(RETENTION), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage: retention" in result.stdout


# --------------------------------------------------------------------------------------------------
# simulate


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_simulate_writes_the_contract_layout(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "sim"
    result = retention("simulate", *SMALL, "--out", str(out), "--format", fmt, tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    assert (out / f"items.{fmt}").is_file()
    assert (out / f"users.{fmt}").is_file()
    assert (out / "ground_truth" / "users.parquet").is_file()
    partitions = sorted(p.name for p in (out / "events").iterdir())
    assert partitions == [f"date={dt.date(2026, 6, 1) + dt.timedelta(days=d)}" for d in range(20)]
    for name in partitions:
        assert [p.name for p in (out / "events" / name).iterdir()] == [f"events.{fmt}"]
    if fmt == "csv":
        with open(out / "events" / partitions[0] / "events.csv", newline="") as f:
            header = next(csv.reader(f))
        assert header == ["event_id", "user_id", "item_id", "event_type", "ts", "value", "session_id"]
    events = count_events(out, fmt)
    assert events > 0
    assert f"'events': {events}" in result.stdout


def test_simulate_same_seed_same_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = retention("simulate", *SMALL, "--out", str(tmp_path / name), tmp=tmp_path)
        assert result.returncode == 0, result.stderr
    first, second = files_content(tmp_path / "a"), files_content(tmp_path / "b")
    assert len(first) == 20 + 3
    assert first == second


# --------------------------------------------------------------------------------------------------
# ingest


def test_ingest_loads_and_prints_the_report(tmp_path: Path, small_data: Path) -> None:
    result = retention("ingest", "--data", str(small_data), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = count_events(small_data)
    assert f"events_loaded={expected}" in result.stdout
    assert "users=300" in result.stdout
    assert "source='contract'" in result.stdout
    warehouse = Path(cli_env(tmp_path)["RETENTION_PATHS__WAREHOUSE"])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.events").fetchone() == (expected,)


def _simulate_with_negative_values(tmp_path: Path, rows_to_break: int | None) -> tuple[Path, Path, list[int]]:
    """A small CSV history whose 2026-06-02 file has a negative value on `rows_to_break` view rows (all if
    None); returns the data folder, the broken file and the broken rows' line numbers."""
    data = tmp_path / "bad"
    few_days = ["--users", "300", "--items", "40", "--days", "3", "--seed", "3"]
    simulated = retention("simulate", *few_days, "--out", str(data), "--format", "csv", tmp=tmp_path)
    assert simulated.returncode == 0, simulated.stderr
    bad_file = data / "events" / "date=2026-06-02" / "events.csv"
    with open(bad_file, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    views = [i for i, row in enumerate(rows) if i and row[header.index("event_type")] == "view"]
    for i in views[:rows_to_break]:
        rows[i][header.index("value")] = "-3"
    with open(bad_file, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return data, bad_file, [i + 1 for i in views[:rows_to_break]]


def test_ingest_malformed_file_fails_naming_file_and_column(tmp_path: Path) -> None:
    data, bad_file, lines = _simulate_with_negative_values(tmp_path, rows_to_break=None)

    result = retention("ingest", "--data", str(data), tmp=tmp_path)
    assert result.returncode != 0
    assert str(bad_file) in result.stderr
    assert "column 'value'" in result.stderr
    assert f"line {lines[0]}" in result.stderr
    assert "Traceback" not in result.stderr
    warehouse = Path(cli_env(tmp_path)["RETENTION_PATHS__WAREHOUSE"])
    if warehouse.exists():  # no event was loaded
        with duckdb.connect(str(warehouse), read_only=True) as con:
            tables = {
                r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
            }
            if "events" in tables:
                assert con.execute("select count(*) from raw.events").fetchone() == (0,)


def test_ingest_quarantines_a_few_bad_rows_and_loads_the_rest(tmp_path: Path) -> None:
    data, bad_file, lines = _simulate_with_negative_values(tmp_path, rows_to_break=1)

    result = retention("ingest", "--data", str(data), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "value is negative" in result.stdout
    warehouse = Path(cli_env(tmp_path)["RETENTION_PATHS__WAREHOUSE"])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        quarantined = con.execute("select source_file, line from raw.quarantine").fetchall()
    assert quarantined == [(str(bad_file), lines[0])]


# --------------------------------------------------------------------------------------------------
# sql


def test_sql_prints_the_result(loaded: Path, small_data: Path) -> None:
    result = retention("sql", "select count(*) as n from raw.events", tmp=loaded)
    assert result.returncode == 0, result.stderr
    assert " n " in result.stdout
    assert f" {count_events(small_data)} " in result.stdout


def test_sql_prints_values_verbatim(loaded: Path) -> None:
    result = retention("sql", "select '[bold]x[/bold] [/]' as \"[red]c\"", tmp=loaded)
    assert result.returncode == 0, result.stderr
    assert "[bold]x[/bold] [/]" in result.stdout
    assert "[red]c" in result.stdout


def test_sql_invalid_query_prints_the_error_and_fails(loaded: Path) -> None:
    result = retention("sql", "select * from raw.no_such_table", tmp=loaded)
    assert result.returncode == 1
    assert "Catalog Error" in result.stdout
    assert "no_such_table" in result.stdout
    syntax = retention("sql", "selec [/] 1", tmp=loaded)
    assert syntax.returncode == 1
    assert "Parser Error" in syntax.stdout
    assert "Traceback" not in syntax.stderr


def test_sql_opens_the_warehouse_read_only(loaded: Path) -> None:
    result = retention("sql", "create table x as select 1 as a", tmp=loaded)
    assert result.returncode == 1
    assert "read-only" in result.stdout
    warehouse = cli_env(loaded)["RETENTION_PATHS__WAREHOUSE"]
    with duckdb.connect(warehouse, read_only=True) as con:
        assert con.execute(
            "select count(*) from information_schema.tables where table_name = 'x'"
        ).fetchone() == (0,)


def test_sql_on_a_missing_warehouse_fails_clearly(tmp_path: Path) -> None:
    result = retention("sql", "select 1", tmp=tmp_path)
    assert result.returncode != 0
    warehouse = cli_env(tmp_path)["RETENTION_PATHS__WAREHOUSE"]
    assert f"warehouse {warehouse} does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Path(warehouse).exists()


def test_sql_shell_reads_statements_until_eof(loaded: Path) -> None:
    statements = (
        "select 42 as answer;\nselect 'two' ||\n  'lines' as joined;\nselec oops;\nselect 7 as after;\n"
    )
    result = retention("sql", "--shell", tmp=loaded, stdin=statements)
    assert result.returncode == 0, result.stderr  # errors in the shell are shown, the shell goes on
    assert "answer" in result.stdout and " 42 " in result.stdout
    assert "twolines" in result.stdout
    assert "Parser Error" in result.stdout
    assert " 7 " in result.stdout
