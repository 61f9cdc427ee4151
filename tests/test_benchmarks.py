"""`retention bench`: the ingest benchmark runs end to end on tiny data and writes sane figures.

No timing targets here: how fast ingest must be is for `retention bench ingest` at full size to show."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from benchmarks import BENCHMARKS
from benchmarks.ingest import REPEATS

RETENTION = Path(sys.executable).with_name("retention")


def bench(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env["RETENTION_PATHS__WAREHOUSE"] = str(tmp / "var" / "warehouse.duckdb")
    env["RETENTION_PATHS__BENCH_DIR"] = str(tmp / "var" / "bench")
    env["COLUMNS"] = "200"
    return subprocess.run(
        [str(RETENTION), "bench", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def count_events(folder: Path) -> int:
    with duckdb.connect() as con:
        row = con.execute(f"select count(*) from read_parquet('{folder}/*.parquet')").fetchone()
    assert row is not None
    return int(row[0])


def test_bench_list_lists_the_benchmarks(tmp_path: Path) -> None:
    result = bench("list", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ingest" in BENCHMARKS
    for name, description in BENCHMARKS.items():
        assert f"{name}: {description}" in result.stdout


def test_unknown_benchmark_fails_listing_the_available_ones(tmp_path: Path) -> None:
    result = bench("nosuch", tmp=tmp_path)
    assert result.returncode != 0
    assert "unknown benchmark 'nosuch'" in result.stderr
    assert f"available: {', '.join(BENCHMARKS)}" in result.stderr
    assert not (tmp_path / "var" / "bench").exists()


def test_ingest_benchmark_on_tiny_data(tmp_path: Path, tiny_data: Path) -> None:
    out = tmp_path / "results" / "ingest.json"
    result = bench("ingest", "--data", str(tiny_data), "--out", str(out), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"results written to {out}" in result.stdout
    assert "ingest (validate + load)" in result.stdout  # the human table
    assert not (tmp_path / "var" / "bench" / "ingest.json").exists()  # --out replaces the default

    r = json.loads(out.read_text())
    days = sorted(p.name for p in (tiny_data / "events").iterdir())
    assert r["benchmark"] == "ingest"
    assert r["data"] == str(tiny_data.resolve())
    assert r["simulation"] is None
    assert r["formats"] == ["parquet"]
    assert r["days"] == r["event_files"] == len(days)
    assert r["events"] == count_events(tiny_data / "events" / "*") > 0
    for key in ("ingest_seconds", "baseline_seconds", "incremental_seconds", "ratio_vs_baseline"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] > 0, key
    for key in ("peak_rss_mb", "baseline_peak_rss_mb", "incremental_peak_rss_mb", "rss_before_step_mb"):
        assert 10 < r[key] < 100_000, key
    assert r["peak_rss_mb"] >= r["rss_before_step_mb"]
    assert r["events_per_second"] > 0 and r["baseline_events_per_second"] > 0
    ratio = r["ingest_seconds"] / r["baseline_seconds"]  # both rounded to ms in the JSON
    assert math.isclose(r["ratio_vs_baseline"], ratio, rel_tol=0.05, abs_tol=0.01)
    assert "ingest_seconds / baseline_seconds" in r["ratio_definition"]
    assert r["incremental_date"] == days[-1].removeprefix("date=")
    assert r["incremental_events"] == count_events(tiny_data / "events" / days[-1]) > 0
    assert {kind: len(runs) for kind, runs in r["runs"].items()} == dict.fromkeys(
        ("baseline", "ingest", "incremental"), REPEATS
    )
    for run in r["runs"]["incremental"]:
        assert run["dates_loaded"] == 1 and run["dates_skipped"] == len(days) - 1
    # every measurement's temporary warehouse is gone
    assert not list((tmp_path / "var").glob("bench-ingest-*"))
