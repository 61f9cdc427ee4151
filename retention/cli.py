"""The `retention` command line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from retention.config import load_config

app = typer.Typer(
    help="Retention: nightly churn scores, recommendations and intervention lists.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
# Piped output (logs, CI) gets a fixed, wide layout instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 120)

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Folder of files in the data contract (or a MovieLens folder); default: paths.data_dir"
    ),
]


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


@app.command()
def simulate(
    users: Annotated[int | None, typer.Option(help="Number of users")] = None,
    items: Annotated[int | None, typer.Option(help="Number of items")] = None,
    days: Annotated[int | None, typer.Option(help="Days of history")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed")] = None,
    start: Annotated[str | None, typer.Option(help="First simulated day, YYYY-MM-DD")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder; default: paths.data_dir")] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
) -> None:
    """Generate a synthetic product history (events, items, users + a separate ground truth)."""
    from retention.simulator import simulate as run_simulation
    from retention.simulator import write_dataset

    cfg = load_config()
    given = {"users": users, "items": items, "days": days, "seed": seed, "start_date": _date(start)}
    spec = dataclasses.replace(cfg.simulation, **{k: v for k, v in given.items() if v is not None})
    out = out or cfg.paths.data_dir
    started = time.perf_counter()
    counts = write_dataset(run_simulation(spec), out, fmt)
    console.print(f"wrote {counts} to {out} in {time.perf_counter() - started:.1f} s")


@app.command()
def ingest(
    data: DataOption = None,
    date: Annotated[str | None, typer.Option(help="Load partitions up to this date (default: all)")] = None,
) -> None:
    """Validate event/item/user files against the data contract and load them into the warehouse."""
    from retention.contract import ContractError
    from retention.ingest import ingest as ingest_files

    cfg = load_config()
    try:
        report = ingest_files(cfg.paths.warehouse, data or cfg.paths.data_dir, _date(date), cfg.quality)
    except ContractError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    console.print(report)


@app.command()
def run(
    date: Annotated[
        str | None, typer.Option(help="Run date YYYY-MM-DD (default: the latest day in the data)")
    ] = None,
    data: DataOption = None,
) -> None:
    """Run the retention_nightly DAG for one date (as `airflow dags test` does) and print the summary."""
    from retention.ingest import latest_event_date
    from retention.orchestration import DAG_ID, DagRunFailed, run_dag
    from retention.summary import print_summary

    cfg = load_config()
    data_dir = (data or cfg.paths.data_dir).resolve()
    run_date = _date(date) or latest_event_date(data_dir)
    console.print(f"running {DAG_ID} for {run_date} on {data_dir} ...")
    try:
        log = run_dag(cfg, run_date, data_dir)
    except DagRunFailed as failure:
        console.print(str(failure), style="red", markup=False, highlight=False)
        raise typer.Exit(1) from failure
    console.print(f"Airflow log: {log}")
    print_summary(cfg, run_date, console)


@app.command()
def demo() -> None:
    """Simulate the demo data set (unless present) and run the nightly DAG for its latest date."""
    cfg = load_config()
    if not (cfg.paths.data_dir / "events").exists():
        simulate(out=cfg.paths.data_dir)
    run(date=None, data=cfg.paths.data_dir)


@app.command()
def sql(
    query: Annotated[str | None, typer.Argument(help="SQL to run on the warehouse (read-only)")] = None,
    shell: Annotated[bool, typer.Option("--shell", help="An interactive read-only SQL shell")] = False,
) -> None:
    """Query the warehouse read-only and print the result as a table."""
    from retention.warehouse import connect

    cfg = load_config()
    if not shell and not query:
        raise typer.BadParameter("give a QUERY or --shell")
    if not cfg.paths.warehouse.exists():
        typer.echo(
            f"warehouse {cfg.paths.warehouse} does not exist yet: run `retention ingest` or `retention demo`",
            err=True,
        )
        raise typer.Exit(1)
    ok = True
    with connect(cfg.paths.warehouse, read_only=True) as con:
        if query:
            ok = _print_result(con, query)
        if shell:
            _shell(con)
    if not ok:
        raise typer.Exit(1)


def _print_result(con, query: str) -> bool:
    """Print the result as a table (values and errors verbatim, never as rich markup); False on error."""
    import duckdb

    try:
        cursor = con.execute(query)
        rows = cursor.fetchmany(1000) if cursor.description else []
    except duckdb.Error as error:
        console.print(str(error), style="red", markup=False, highlight=False)
        return False
    if cursor.description is None:
        return True
    table = Table()
    for column in cursor.description:
        table.add_column(Text(column[0]))
    for row in rows:
        table.add_row(*[Text("NULL" if v is None else str(v)) for v in row])
    console.print(table)
    if len(rows) == 1000:
        console.print("(first 1000 rows)")
    return True


def _shell(con) -> None:
    console.print(
        "Read-only SQL on the warehouse; end statements with ';', Ctrl-D to quit. Try: show all tables;"
    )
    buffer = ""
    while True:
        try:
            line = input("retention> " if not buffer else "     ...> ")
        except EOFError:
            console.print()
            return
        buffer += line + "\n"
        if buffer.strip().endswith(";"):
            _print_result(con, buffer)
            buffer = ""


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help="Benchmark name (see `retention bench list`)")],
    data: Annotated[str | None, typer.Option("--data", help="Data for the benchmark (path or 'sim')")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="JSON results file; default var/bench/NAME.json")
    ] = None,
    horizon_days: Annotated[
        int | None, typer.Option("--horizon-days", help="Churn window, days (default: features.horizon_days)")
    ] = None,
) -> None:
    """Run a benchmark; it prints ratios against a baseline measured in the same run and writes JSON."""
    from benchmarks import BENCHMARKS, run_benchmark

    if name == "list":
        for bench_name, doc in BENCHMARKS.items():
            console.print(f"{bench_name}: {doc}")
        return
    cfg = load_config()
    if horizon_days is not None:
        cfg = cfg.replace("features", horizon_days=horizon_days)
    target = out or cfg.paths.bench_dir / f"{name}.json"
    results = run_benchmark(name, cfg, data)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2, default=str))
    console.print_json(json.dumps(results, default=str))
    console.print(f"results written to {target}")


@app.command("dbt-docs")
def dbt_docs(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1")] = 8081,
) -> None:
    """Serve the dbt docs (models, columns, tests, lineage) that the last run generated."""
    import os

    from retention.transform import dbt_command, dbt_env, dbt_target_path

    cfg = load_config()
    if not (dbt_target_path(cfg) / "catalog.json").exists():
        raise typer.BadParameter("no dbt docs yet: they are generated by each run (`make demo` first)")
    command = dbt_command(cfg, ["docs", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-browser"])
    os.execve(command[0], command, {**os.environ, **dbt_env(cfg)})


@app.command()
def up() -> None:
    """Start the Airflow and MLflow UIs on 127.0.0.1 in the background (`retention down` stops them)."""
    from retention.services import up as start

    for what, where in start(load_config()).items():
        console.print(f"{what:>8}: [bold]{where}[/]")


@app.command("data-docs")
def data_docs(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1")] = 8082,
) -> None:
    """Serve the Great Expectations Data Docs (every validation of every run) from paths.data_docs_dir."""
    import os

    folder = load_config().paths.data_docs_dir
    if not (folder / "index.html").exists():
        raise typer.BadParameter(f"no Data Docs in {folder} yet: each run builds them (`make demo` first)")
    console.print(f"Data Docs: {folder / 'index.html'}\nserving on http://127.0.0.1:{port} (Ctrl-C stops)")
    server = ["-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)]
    os.execv(sys.executable, [sys.executable, *server])


@app.command()
def down() -> None:
    """Stop the services started by `retention up` (by PID)."""
    from retention.services import down as stop

    stopped = stop(load_config())
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


if __name__ == "__main__":
    app()
