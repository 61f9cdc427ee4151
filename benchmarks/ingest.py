"""Ingest benchmark: `retention.ingest.ingest` (contract validation + transactional load) against a bare
DuckDB load of the same files (``CREATE TABLE ... AS SELECT * FROM read_parquet/read_csv``, no checks),
both measured in this run, on this machine.

Data: ``None`` or ``"sim"`` simulates the config's default history (``cfg.simulation``) once under
``<bench_dir>/../bench-data/sim-<users>-<days>-<seed>`` and reuses it afterwards; any other value is a
folder in the data contract.

Method: every measurement runs in a fresh child process (``multiprocessing`` spawn context) against a
fresh warehouse file in a temporary folder (removed afterwards). The child times only the step itself
(``time.perf_counter``; interpreter start-up and imports are excluded) and reports the peak RSS of its
own process during the step: on Linux the kernel's high-water mark (``VmHWM`` in ``/proc/self/status``)
is reset just before the step (``5`` written to ``/proc/self/clear_refs``) and read after it, so the peak
covers the step plus what the process already held (the interpreter and imported libraries, reported
as ``rss_before_step_mb``). ``getrusage`` is only a fallback: on Linux ``ru_maxrss`` survives
``execve``, so a spawned child (and ``RUSAGE_CHILDREN``) starts from the RSS of the parent at fork time,
e.g. the parent's simulated data set. Both kinds of child import the same modules, so their peaks are
comparable. Each measurement is repeated ``REPEATS`` times; the fastest time and the highest peak RSS
are reported (all runs are kept in the JSON).

Incremental cost: a warehouse that already holds every partition up to the day before the last one is
prepared in the child (untimed), then ingesting up to the last day is timed: the new partition is
validated and loaded, the earlier ones are only hashed and skipped.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import platform
import queue
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

import retention.ingest  # noqa: F401  (imported here so that every child starts from the same baseline)
from benchmarks.data import simulated_history
from benchmarks.memory import proc_status_mb, reset_peak_rss
from retention.adapters.movielens import detect_movielens
from retention.config import Config
from retention.contract import ContractError, file_format
from retention.ingest import ingest, partitions

REPEATS = 3
RATIO_DEFINITION = (
    "ingest_seconds / baseline_seconds (> 1: ingest is that many times slower than the bare load)"
)
BASELINE_DEFINITION = (
    "bare DuckDB load of the same event files plus items and users into a fresh DuckDB file: "
    "CREATE TABLE ... AS SELECT * FROM read_parquet(files) / read_csv(files), no validation"
)
RSS_METHODS = {
    "vmhwm": "peak RSS of the child process during the step: VmHWM of /proc/self/status, reset by "
    "/proc/self/clear_refs just before the step; includes what the process held before (rss_before_step_mb)",
    "ru_maxrss": "peak RSS of the child process so far (getrusage(RUSAGE_SELF).ru_maxrss): may include the "
    "parent's RSS at fork time and, for the incremental step, its untimed preparation",
}


# --------------------------------------------------------------------------------------------------
# Children: each runs one measurement and sends back its timing and its own peak RSS.


def _rss_mb(method: str, key: str) -> float:
    if method == "vmhwm":
        return proc_status_mb(key) or 0.0
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)


def _baseline_step(warehouse: Path, data_dir: Path) -> dict[str, Any]:
    files = [f for day_files in partitions(data_dir).values() for f in day_files]
    by_format: dict[str, list[str]] = {}
    for f in files:
        by_format.setdefault(file_format(f), []).append(str(f))
    readers = {"parquet": "read_parquet($files_parquet)", "csv": "read_csv($files_csv, header = true)"}
    selects = [f"SELECT * FROM {readers[fmt]}" for fmt in by_format]
    params = {f"files_{fmt}": paths for fmt, paths in by_format.items()}
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE events AS " + " UNION ALL BY NAME ".join(selects), params)
        for name in ("items", "users"):
            snapshot = next(p for p in (data_dir / f"{name}.parquet", data_dir / f"{name}.csv") if p.exists())
            fmt = file_format(snapshot)
            con.execute(
                f"CREATE TABLE {name} AS SELECT * FROM {readers[fmt]}", {f"files_{fmt}": [str(snapshot)]}
            )
        row = con.execute("SELECT count(*) FROM events").fetchone()
    return {"events": int(row[0]) if row else 0}


def _ingest_step(warehouse: Path, data_dir: Path) -> dict[str, Any]:
    report = ingest(warehouse, data_dir)
    return {"events": report.events_loaded, "dates_loaded": len(report.dates_loaded)}


def _child(kind: str, warehouse: str, data_dir: str, results: Any) -> None:
    try:
        wh, data = Path(warehouse), Path(data_dir)
        extra: dict[str, Any] = {}
        if kind == "incremental":
            last = max(partitions(data))
            extra["prepared_dates"] = len(ingest(wh, data, last - dt.timedelta(days=1)).dates_loaded)
        rss_method = reset_peak_rss()
        rss_before = _rss_mb(rss_method, "VmRSS")
        started = time.perf_counter()
        if kind == "baseline":
            result = _baseline_step(wh, data)
        elif kind == "ingest":
            result = _ingest_step(wh, data)
        else:
            report = ingest(wh, data, max(partitions(data)))
            result = {
                "events": report.events_loaded,
                "dates_loaded": len(report.dates_loaded),
                "dates_skipped": len(report.dates_skipped),
            }
        seconds = time.perf_counter() - started
        results.put(
            {
                "ok": True,
                "seconds": seconds,
                "peak_rss_mb": _rss_mb(rss_method, "VmHWM"),
                "rss_before_step_mb": rss_before,
                "rss_method": rss_method,
                **extra,
                **result,
            }
        )
    except BaseException as error:  # reported to the parent, which raises
        results.put({"ok": False, "error": f"{type(error).__name__}: {error}"})


def _measure(kind: str, data_dir: Path, tmp_root: Path) -> dict[str, Any]:
    """One measurement in a fresh spawned child, on a fresh warehouse in a temporary folder."""
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix=f"bench-ingest-{kind}-", dir=tmp_root) as tmp:
        results = ctx.Queue()
        child = ctx.Process(
            target=_child, args=(kind, str(Path(tmp) / "warehouse.duckdb"), str(data_dir), results)
        )
        child.start()
        result = None
        while result is None:  # read before joining: a child blocks on exit until its queued data is read
            try:
                result = results.get(timeout=1)
            except queue.Empty:
                if not child.is_alive() and results.empty():  # e.g. killed by the OOM killer
                    child.join()
                    raise SystemExit(
                        f"ingest benchmark: the {kind} child process died (exit code {child.exitcode})"
                    ) from None
        child.join()
    if not result.pop("ok"):
        raise SystemExit(f"ingest benchmark: the {kind} step failed in its child process: {result['error']}")
    return result


# --------------------------------------------------------------------------------------------------
# Data


def _files_mb(files: list[Path]) -> float:
    return sum(f.stat().st_size for f in files) / 2**20


# --------------------------------------------------------------------------------------------------
# The benchmark


def run(cfg: Config, data: str | None) -> dict[str, Any]:
    """Measure ingest, the bare baseline and the incremental ingest; print a table; return the figures."""
    console = Console(width=None if sys.stdout.isatty() else 120)  # as the CLI's own console
    simulation = None
    if data in (None, "sim"):
        data_dir, simulation = simulated_history(cfg, cfg.simulation)
    else:
        data_dir = Path(data).expanduser().resolve()
        if not data_dir.is_dir():
            raise SystemExit(f"ingest benchmark: no data folder {data_dir}")
    if detect_movielens(data_dir):
        raise SystemExit(f"ingest benchmark: {data_dir} is a MovieLens folder; give a contract data folder")
    try:
        days = partitions(data_dir)
    except ContractError as error:  # e.g. no events/ folder
        raise SystemExit(f"ingest benchmark: {data_dir} is not a contract data folder: {error}") from error
    if not days:
        raise SystemExit(f"ingest benchmark: no event partitions under {data_dir / 'events'}")
    files = [f for day_files in days.values() for f in day_files]

    tmp_root = cfg.paths.warehouse.parent  # the warehouse's file system, not a possibly in-memory /tmp
    tmp_root.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "ingest": [], "incremental": []}
    kinds = ["baseline", "ingest"] + (["incremental"] if len(days) > 1 else [])
    with console.status("ingest benchmark ...") as status:
        for repeat in range(REPEATS):
            for kind in kinds:  # interleaved, so drifts in the machine's speed hit both sides alike
                status.update(f"ingest benchmark: {kind} {repeat + 1}/{REPEATS} on {data_dir} ...")
                runs[kind].append(_measure(kind, data_dir, tmp_root))

    def best(kind: str) -> dict[str, Any]:
        return min(runs[kind], key=lambda r: r["seconds"])

    ingest_best, baseline_best = best("ingest"), best("baseline")
    events = ingest_best["events"]
    if baseline_best["events"] != events:
        raise RuntimeError(f"ingest loaded {events} events but the baseline {baseline_best['events']}")
    results: dict[str, Any] = {
        "benchmark": "ingest",
        "data": str(data_dir),
        "simulation": simulation,
        "formats": sorted({file_format(f) for f in files}),
        "days": len(days),
        "event_files": len(files),
        "event_files_mb": round(_files_mb(files), 1),
        "events": events,
        "ingest_seconds": round(ingest_best["seconds"], 3),
        "events_per_second": round(events / ingest_best["seconds"]),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["ingest"]), 1),
        "rss_before_step_mb": round(ingest_best["rss_before_step_mb"], 1),
        "baseline_seconds": round(baseline_best["seconds"], 3),
        "baseline_events_per_second": round(events / baseline_best["seconds"]),
        "baseline_peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["baseline"]), 1),
        "ratio_vs_baseline": round(ingest_best["seconds"] / baseline_best["seconds"], 2),
        "ratio_definition": RATIO_DEFINITION,
        "baseline_definition": BASELINE_DEFINITION,
        "incremental_seconds": None,
        "incremental_events": None,
        "incremental_date": None,
        "incremental_peak_rss_mb": None,
        "incremental_share_of_full": None,
        "timing": f"fastest of {REPEATS} runs (peak RSS: highest), each in a fresh spawned child on a fresh "
        "warehouse",
        "rss_method": RSS_METHODS[ingest_best["rss_method"]],
        "runs": {
            kind: [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rs]
            for kind, rs in runs.items()
        },
        "machine": {
            "cpus": os.cpu_count(),
            "duckdb": duckdb.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if runs["incremental"]:
        incremental = best("incremental")
        results["incremental_seconds"] = round(incremental["seconds"], 3)
        results["incremental_events"] = incremental["events"]
        results["incremental_date"] = str(max(days))
        results["incremental_peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in runs["incremental"]), 1)
        results["incremental_share_of_full"] = round(incremental["seconds"] / ingest_best["seconds"], 3)
    _print_table(console, results)
    return results


def _print_table(console: Console, r: dict[str, Any]) -> None:
    table = Table(
        title=f"ingest benchmark: {r['days']} days, {r['event_files_mb']} MB of {'/'.join(r['formats'])}",
        caption=f"{r['timing']}; ratio = {r['ratio_definition']}",
    )
    for column in ("step", "events", "seconds", "events/s", "peak RSS MB", "vs baseline"):
        table.add_column(column, justify="left" if column == "step" else "right")
    table.add_row(
        "bare DuckDB load (baseline)",
        f"{r['events']:,}",
        f"{r['baseline_seconds']:.2f}",
        f"{r['baseline_events_per_second']:,}",
        f"{r['baseline_peak_rss_mb']:.0f}",
        "1.00x",
    )
    table.add_row(
        "ingest (validate + load)",
        f"{r['events']:,}",
        f"{r['ingest_seconds']:.2f}",
        f"{r['events_per_second']:,}",
        f"{r['peak_rss_mb']:.0f}",
        f"{r['ratio_vs_baseline']:.2f}x",
    )
    if r["incremental_seconds"] is not None:
        table.add_row(
            f"incremental ingest of {r['incremental_date']}",
            f"{r['incremental_events']:,}",
            f"{r['incremental_seconds']:.2f}",
            f"{round(r['incremental_events'] / r['incremental_seconds']):,}",
            f"{r['incremental_peak_rss_mb']:.0f}",
            "",
        )
    console.print(table)
