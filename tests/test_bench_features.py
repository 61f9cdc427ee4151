"""`retention bench features`: the hand-written baseline query equals dbt's features.user_features (the
benchmark's correctness guard: if the feature models change, this says so), and the benchmark runs end to
end on tiny data writing sane figures. No timing targets here: those are for the full-size run."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from benchmarks import BENCHMARKS
from benchmarks.features import FLOAT_RTOL, baseline_query
from retention import pipeline
from retention.config import Config
from retention.ingest import latest_event_date
from retention.warehouse import table_exists

RETENTION = Path(sys.executable).with_name("retention")


def test_baseline_query_equals_dbt_user_features(platform: Config, tiny_data: Path) -> None:
    run_date = latest_event_date(tiny_data) - dt.timedelta(days=1)
    pipeline.ingest(platform, run_date)
    pipeline.transform(platform, run_date)
    with duckdb.connect(str(platform.paths.warehouse), read_only=True) as con:
        # rec_engagement_30d is 0 in the baseline: it does not read recommendations (none here).
        assert not table_exists(con, "marts", "user_recommendations")
        expected = con.execute("SELECT * FROM features.user_features").df()
        actual = con.execute(baseline_query(run_date + dt.timedelta(days=1))).df()

    assert list(actual.columns) == list(expected.columns)
    assert len(expected) > 100
    assert expected["user_id"].is_unique
    expected = expected.sort_values("user_id").reset_index(drop=True)
    actual = actual.sort_values("user_id").reset_index(drop=True)
    assert actual["user_id"].tolist() == expected["user_id"].tolist()
    for column in expected.columns:
        e, a = expected[column], actual[column]
        if pd.api.types.is_float_dtype(e) or pd.api.types.is_float_dtype(a):
            e, a = e.astype(float), a.astype(float)
            assert (e.isna() == a.isna()).all(), column
            both = e.notna()
            close = [
                math.isclose(x, y, rel_tol=FLOAT_RTOL, abs_tol=1e-12)
                for x, y in zip(e[both], a[both], strict=True)
            ]
            assert all(close), f"{column}: {(~pd.Series(close)).sum()} rows differ"
        else:
            assert (
                e.astype(object).where(e.notna(), None).tolist()
                == a.astype(object).where(a.notna(), None).tolist()
            ), column
    # The tiny data exercise the features that have edge cases.
    assert (expected["days_since_last_purchase"] == 365).any()
    assert (expected["cart_abandonment_30d"] > 0).any()
    assert (expected["novel_item_share_30d"] > 0).any()
    assert expected["inter_event_hours_std_90d"].notna().any()


def test_features_benchmark_on_tiny_data(tmp_path: Path, tiny_data: Path) -> None:
    assert "features" in BENCHMARKS
    out = tmp_path / "results" / "f.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env["RETENTION_PATHS__WAREHOUSE"] = str(tmp_path / "var" / "warehouse.duckdb")
    env["RETENTION_PATHS__BENCH_DIR"] = str(tmp_path / "var" / "bench")
    env["COLUMNS"] = "200"
    env["RETENTION_BENCH_FEATURES_NIGHTS"] = "1"
    result = subprocess.run(
        [str(RETENTION), "bench", "features", "--data", str(tiny_data), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"results written to {out}" in result.stdout
    assert "features benchmark" in result.stdout  # the human table

    r = json.loads(out.read_text())
    assert r["benchmark"] == "features"
    assert list(r["sizes"]) == ["data"]
    s = r["sizes"]["data"]
    days = sorted(p.name.removeprefix("date=") for p in (tiny_data / "events").iterdir())
    assert s["data"] == str(tiny_data.resolve())
    assert s["days"] == len(days) - 1
    assert s["cutoff"] == days[-1]
    assert s["incremental_date"] == days[-1]
    with duckdb.connect() as con:
        per_day = dict(
            con.execute(
                f"SELECT regexp_extract(filename, 'date=([0-9-]+)', 1), count(*) "
                f"FROM read_parquet('{tiny_data}/events/*/*.parquet', filename = true) GROUP BY ALL"
            ).fetchall()
        )
    assert s["events"] == sum(per_day.values()) - per_day[days[-1]] > 0
    assert s["incremental_events"] == per_day[days[-1]]
    for key in (
        "seconds",
        "baseline_seconds",
        "incremental_seconds",
        "all_models_seconds",
        "ratio_vs_baseline",
    ):
        assert isinstance(s[key], float) and math.isfinite(s[key]) and s[key] > 0, key
    for key in ("peak_rss_mb", "baseline_peak_rss_mb", "incremental_peak_rss_mb"):
        assert 10 < s[key] < 100_000, key
    assert s["events_per_s"] == pytest.approx(s["events"] / s["seconds"], rel=0.01)
    assert s["ratio_vs_baseline"] == pytest.approx(s["seconds"] / s["baseline_seconds"], rel=0.05, abs=0.01)
    assert s["incremental_share_of_full"] == pytest.approx(
        s["incremental_seconds"] / s["seconds"], rel=0.05, abs=0.01
    )
    # The incremental build's wall time = the warehouse's SQL + the close + dbt's own work.
    assert 0 < s["incremental_sql_seconds"] < s["incremental_seconds"]
    assert s["incremental_close_seconds"] >= 0 and s["incremental_dbt_own_seconds"] > 0
    parts = ("incremental_sql_seconds", "incremental_close_seconds", "incremental_dbt_own_seconds")
    assert sum(s[p] for p in parts) == pytest.approx(s["incremental_seconds"], abs=0.002)
    assert s["incremental_dbt_own_share_of_full"] == pytest.approx(
        s["incremental_dbt_own_seconds"] / s["seconds"], rel=0.05, abs=0.01
    )
    # The same day after a night (the full rebuild two days before the last, then one nightly build).
    a = s["after_nights"]
    assert a["nights"] == 1 and a["full_rebuild_date"] == days[-3] and a["incremental_date"] == days[-1]
    assert len(a["nightly_build_seconds"]) == len(a["warehouse_mb"]) == 1
    assert min(a["nightly_build_seconds"]) > 0 and min(a["warehouse_mb"]) > 0
    assert s["incremental_nights_ratio"] == pytest.approx(
        a["incremental_seconds"] / s["incremental_seconds"], rel=0.05, abs=0.01
    )
    assert "that day after 1 night instead of after a full rebuild" in result.stdout
    h = s["half_history"]
    assert h["days"] == (len(days) // 2) - 1 and h["incremental_date"] == days[(len(days) // 2) - 1]
    assert h["incremental_events"] == per_day[h["incremental_date"]]
    assert h["seconds"] > 0 and h["incremental_seconds"] > 0
    assert s["incremental_history_ratio"] == pytest.approx(
        s["incremental_seconds"] / h["incremental_seconds"], rel=0.05, abs=0.01
    )
    assert s["baseline_matches_dbt"] is True
    assert s["feature_rows"] > 100
    assert "user_features" in s["models_seconds"] and "int_user_daily_activity" in s["models_seconds"]
    assert "user_features" in s["incremental_models_seconds"]
    n = s["nightly_build"]  # the pipeline's whole nightly build, every model and data test
    assert n["seconds"] > n["models_total_seconds"] > 0 and n["tests_total_seconds"] > 0
    assert n["share_of_all_models"] == pytest.approx(
        n["seconds"] / s["all_models_seconds"], rel=0.05, abs=0.01
    )
    slowest = list(n["slowest_models"].values())
    assert len(slowest) == 5 and slowest == sorted(slowest, reverse=True)
    assert r["linearity"] is None  # one size only
    assert set(r["targets"]) >= {"ratio_vs_baseline_max", "linearity_max", "incremental_share_max"}
    assert r["met"]["baseline_matches_dbt"] is True
    assert r["parent_rss_mb"] > 0
    assert "seconds" in r["definitions"] and "SELECT" in r["baseline_sql"]
    # The temporary warehouses are gone; the configured warehouse was never touched.
    assert not list((tmp_path / "var").glob("bench-features-*"))
    assert not (tmp_path / "var" / "warehouse.duckdb").exists()


@pytest.mark.parametrize("nights", ["two", "-1"])
def test_features_benchmark_rejects_a_bad_number_of_nights(
    tmp_path: Path, tiny_data: Path, nights: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env["RETENTION_PATHS__WAREHOUSE"] = str(tmp_path / "var" / "warehouse.duckdb")
    env["RETENTION_BENCH_FEATURES_NIGHTS"] = nights
    result = subprocess.run(
        [str(RETENTION), "bench", "features", "--data", str(tiny_data), "--out", str(tmp_path / "f.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert f"RETENTION_BENCH_FEATURES_NIGHTS must be a whole number of nights, not '{nights}'" in (
        result.stdout + result.stderr
    )
    assert not (tmp_path / "f.json").exists()
