"""The data-quality part of the end-of-run summary: checks per suite, quarantined rows, Data Docs."""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.table import Table

from retention import validation_store
from retention.config import Config
from retention.warehouse import connect, table_exists


def quarantined(cfg: Config, run_date: dt.date) -> dict[str, int]:
    """Rows of the run date's partition that ingest put in raw.quarantine, per reason."""
    if not cfg.paths.warehouse.exists():
        return {}
    with connect(cfg.paths.warehouse, read_only=True) as con:
        if not table_exists(con, "raw", "quarantine"):
            return {}
        rows = con.execute(
            "select reason, count(*) from raw.quarantine where event_date = ? group by 1 order by 1",
            [run_date],
        ).fetchall()
    return dict(rows)


def print_quality(cfg: Config, run_date: dt.date, console: Console) -> None:
    checks = Table(title=f"Data quality checks, run_date {run_date}")
    for column in ("suite", "expectations", "passed", "errors", "warnings"):
        checks.add_column(column, justify="left" if column == "suite" else "right")
    for suite, n in validation_store.counts(cfg, run_date).items():
        checks.add_row(suite, *(str(n[k]) for k in ("evaluated", "passed", "errors", "warnings")))
    console.print(checks)
    rejected = quarantined(cfg, run_date)
    total = sum(rejected.values())
    console.print(f"Quarantined rows: [bold]{total}[/] (raw.quarantine, partition {run_date})")
    for reason, rows in rejected.items():
        console.print(f"  {rows:>6}  {reason}", markup=False, highlight=False)
    console.print(
        f"Data Docs:        [bold]{cfg.paths.data_docs_dir / 'index.html'}[/] (`make docs` serves them)"
    )
