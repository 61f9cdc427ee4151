"""The dbt feature layer (staging -> intermediate -> features): point-in-time correct, incremental
builds equal to full refreshes, idempotent reruns, exact session / inter-event statistics, and
`dbt docs generate`."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import simulated_data

from benchmarks.features import baseline_query, compare_sql
from retention import pipeline
from retention.config import load_config
from retention.ingest import latest_event_date
from retention.simulator import SimulationSpec
from retention.transform import DBT_PROJECT, DbtError, dbt_target_path, run_dbt

# Every relation the feature layer builds, with its grain (sort key).
INTERMEDIATE = {
    "intermediate.int_user_daily_activity": ["user_id", "activity_date"],
    "intermediate.int_user_item_daily": ["user_key", "item_key", "activity_date"],
    "intermediate.int_user_category_daily": ["user_key", "activity_date", "category"],
    "intermediate.int_item_daily_activity": ["item_id", "activity_date"],
    "intermediate.int_user_item_first_seen": ["user_key", "item_key"],
}
FEATURES = {
    "features.user_features": ["user_id"],
    "features.item_features": ["item_id"],
    "features.user_sequences": ["user_id"],
    "features.training_snapshots": ["cutoff_date", "user_id"],
    "features.churn_training_set": ["user_id"],
    "features.churn_labels": ["user_id"],
}


def read(cfg, table: str, keys: list[str]) -> pd.DataFrame:
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        frame = con.execute(f"select * from {table}").df()
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    for column in frame.columns:  # list columns (user_sequences) compare as tuples
        if (
            frame[column].dtype == object
            and len(frame)
            and isinstance(frame[column].iloc[0], (list, np.ndarray))
        ):
            frame[column] = frame[column].map(tuple)
    return frame


def snapshot(cfg, tables: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    return {table: read(cfg, table, keys) for table, keys in tables.items()}


def assert_same(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame], what: str) -> None:
    for table, frame in expected.items():
        assert len(frame) > 0, f"{table} is empty"
        try:
            pd.testing.assert_frame_equal(actual[table], frame, check_exact=True)
        except AssertionError as error:
            raise AssertionError(f"{what}: {table} differs\n{error}") from None


def test_features_at_a_cutoff_ignore_later_events_and_later_builds(platform):
    cfg = platform
    last = latest_event_date(cfg.paths.data_dir)
    run_date = last - dt.timedelta(days=10)
    tables = {**INTERMEDIATE, **FEATURES}
    pipeline.ingest(cfg, run_date)
    pipeline.transform(cfg, run_date)
    before = snapshot(cfg, tables)
    cutoff = pd.Timestamp(run_date + dt.timedelta(days=1))
    assert (before["features.user_features"]["cutoff_date"] == cutoff).all()
    assert (before["features.item_features"]["cutoff_date"] == cutoff).all()
    assert before["intermediate.int_user_daily_activity"]["activity_date"].max() < cutoff

    # Load the ten later days: the same cutoff gives the same features (and the same per-day tables).
    pipeline.ingest(cfg, last)
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        [(future,)] = con.execute("select count(*) from raw.events where ts >= ?", [cutoff]).fetchall()
    assert future > 0
    pipeline.transform(cfg, run_date)
    assert_same(snapshot(cfg, tables), before, "rebuilt after loading later days")

    # Build at the latest date (the incremental tables grow past the cutoff), then go back to the cutoff.
    pipeline.transform(cfg, last)
    later = read(cfg, "features.user_features", ["user_id"])
    assert (later["cutoff_date"] == pd.Timestamp(last + dt.timedelta(days=1))).all()
    pipeline.transform(cfg, run_date)
    assert_same(snapshot(cfg, tables), before, "rebuilt after a build at a later cutoff")


def test_a_changed_id_key_function_stops_the_build_before_any_keyed_table(platform, tmp_path: Path):
    """The per-(user, item) tables persist hashes of the ids (macros/keys.sql): if the warehouse's hash
    changed (an upgrade), `dbt build` must stop before writing keys that do not match the stored ones."""
    cfg = platform
    run_date = latest_event_date(cfg.paths.data_dir)
    pipeline.ingest(cfg, run_date)
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    check = project / "tests" / "id_key_is_stable.sql"
    recorded = re.search(r'"duckdb": "(\d+)"', check.read_text()).group(1)  # type: ignore[union-attr]
    check.write_text(check.read_text().replace(recorded, str(int(recorded) + 1)))  # as if hash() changed

    with pytest.raises(DbtError, match="id_key_is_stable: fail"):
        run_dbt(cfg, ["build", "--select", "stg_events+"], run_date, project=project)
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        tables = "select table_name from duckdb_tables() where schema_name = 'intermediate'"
        built = con.execute(tables).fetchall()
    assert built == []
    run_dbt(cfg, ["build", "--select", "id_key_is_stable"], run_date)  # the real project's record holds


def test_a_selective_build_runs_the_tests_of_what_it_builds_on_a_fresh_warehouse(platform):
    """`dbt build --select +user_features` on a warehouse without item_features or user_sequences runs the
    data tests of the models it builds (indirect_selection: buildable in dbt_project.yml), not the
    relationships tests that reach those missing tables (dbt's default would run them and fail)."""
    cfg = platform
    run_date = latest_event_date(cfg.paths.data_dir)
    pipeline.ingest(cfg, run_date)
    result = run_dbt(cfg, ["build", "--select", "+user_features"], run_date)
    tests = {node for node in result.nodes if node.startswith("test.")}
    assert any("user_features_user_id" in node for node in tests)  # user_features' own tests ran
    assert not any("item_features" in node or "user_sequences" in node for node in tests)
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        built = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert "user_features" in built and "item_features" not in built


@pytest.fixture
def late_platform(platform, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The tiny data plus late events: the last partition also holds 40 events of the oldest day ingest
    accepts late events of (quality.max_lateness_days before it)."""
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    last = latest_event_date(data)
    source = data / "events" / f"date={last - dt.timedelta(days=platform.quality.max_lateness_days)}"
    target = data / "events" / f"date={last}" / "late.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"""copy (select event_id || '-late' as event_id, * exclude (event_id)
                      from read_parquet('{source}/*.parquet', hive_partitioning = false)
                      order by event_id limit 40)
                to '{target}' (format parquet)"""
        )
    monkeypatch.setenv("RETENTION_PATHS__DATA_DIR", str(data))
    return load_config()


def test_day_by_day_incremental_builds_equal_a_full_refresh_and_reruns_change_nothing(late_platform):
    cfg = late_platform
    last = latest_event_date(cfg.paths.data_dir)
    late_day = last - dt.timedelta(days=cfg.quality.max_lateness_days)
    days = [last - dt.timedelta(days=k) for k in range(2, -1, -1)]
    for day in days:  # the nightly sequence: the first build is a full one, the next ones incremental
        pipeline.ingest(cfg, day)
        pipeline.transform(cfg, day)
    tables = {**INTERMEDIATE, **FEATURES, "staging.stg_late_events_daily": ["event_date"]}
    incremental = snapshot(cfg, tables)

    late = incremental["staging.stg_late_events_daily"].set_index("event_date")["late_events"]
    assert late[pd.Timestamp(last)] == 40 and late.drop(pd.Timestamp(last)).eq(0).all()
    # The late events (max_lateness_days before their partition) are in the per-day tables, built
    # incrementally.
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        [(expected,)] = con.execute(
            "select count(*) from staging.stg_events where cast(ts as date) = ?", [late_day]
        ).fetchall()
    daily = incremental["intermediate.int_user_daily_activity"]
    assert daily.loc[daily["activity_date"] == pd.Timestamp(late_day), "events"].sum() == expected

    pipeline.transform(cfg, last)
    assert_same(snapshot(cfg, tables), incremental, "rerun of the same date")

    run_dbt(cfg, ["build", "--full-refresh"], last)
    assert_same(snapshot(cfg, tables), incremental, "full refresh vs day-by-day incremental")


def test_a_corrected_older_partition_is_rebuilt_by_the_next_night(
    platform, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Ingest reloads a partition whose file changed, whatever its age; the next nightly build rebuilds from
    the earliest day the reload changed (macros/loads.sql) and equals a full refresh. A night with no late
    event rebuilds its own day only."""
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    monkeypatch.setenv("RETENTION_PATHS__DATA_DIR", str(data))
    cfg = load_config()
    last = latest_event_date(data)
    compiled = dbt_target_path(cfg) / "compiled/retention/models/intermediate/int_user_daily_activity.sql"

    def rebuilt_from(day: dt.date) -> bool:
        return f"ts >= cast(cast('{day}' as date) as timestamp)" in compiled.read_text()

    def snapshots_computed() -> int:
        text = (compiled.parents[1] / "features" / "training_snapshots.sql").read_text()
        return len(set(re.findall(r"\) as snapshot_\d+", text)))

    for day in [last - dt.timedelta(days=k) for k in range(2, -1, -1)]:
        pipeline.ingest(cfg, day)
        pipeline.transform(cfg, day)
    assert rebuilt_from(last)
    every_night = snapshots_computed()  # the wanted dates without rows (before the data began)

    old = last - dt.timedelta(days=10)  # settled long ago: in the sliding-window states and snapshots
    [file] = (data / "events" / f"date={old}").glob("*.parquet")
    with duckdb.connect() as con:  # the corrected file: 30 events fewer, one value changed
        con.execute(
            f"""copy (select * replace (case when row_number() over (order by event_id) = 1
                                            then value + 1 else value end as value)
                      from read_parquet('{file}', hive_partitioning = false)
                      order by event_id offset 30) to '{tmp_path / "corrected.parquet"}' (format parquet)"""
        )
    shutil.move(tmp_path / "corrected.parquet", file)
    assert pipeline.ingest(cfg, last)["dates_loaded"] == 2  # the corrected day and the run date
    pipeline.transform(cfg, last)
    assert rebuilt_from(old)
    # and the training snapshots whose label window holds the corrected day, not all 12 (snapshot_count)
    assert every_night < snapshots_computed() < 12
    tables = {**INTERMEDIATE, **FEATURES}
    nightly = snapshot(cfg, tables)
    run_dbt(cfg, ["build", "--full-refresh"], last)
    assert_same(snapshot(cfg, tables), nightly, "full refresh vs the night after a corrected partition")

    # A warehouse from before the loads were recorded (no table records, no affected_from): the next
    # build rebuilds every incremental model from its first day, once.
    with duckdb.connect(str(cfg.paths.warehouse)) as con:
        for (name,) in con.execute("select schema_name || '.' || table_name from duckdb_tables() "
                                   "where comment is not null").fetchall():  # fmt: skip
            con.execute(f"comment on table {name} is null")
        con.execute("update raw.load_log set affected_from = null")
    pipeline.ingest(cfg, last)
    pipeline.transform(cfg, last)
    assert rebuilt_from(dt.date(1, 1, 1))
    assert_same(snapshot(cfg, tables), nightly, "the first night after the upgrade")


def test_user_sequences_are_recomputed_for_every_user_when_the_population_changes(
    platform, monkeypatch: pytest.MonkeyPatch
):
    """A nightly build recomputes the sequences of the recently active users only (macros/sequences.sql);
    one with another active_days (a wider population) recomputes every user, as a full refresh does."""
    last = latest_event_date(platform.paths.data_dir)
    pipeline.ingest(platform, last)
    pipeline.transform(platform, last)
    before = read(platform, "features.user_sequences", ["user_id"])

    monkeypatch.setenv("RETENTION_FEATURES__ACTIVE_DAYS", "60")
    cfg = load_config()
    pipeline.transform(cfg, last)
    wider = read(cfg, "features.user_sequences", ["user_id"])
    assert len(wider) > len(before)
    assert set(before["user_id"]) < set(wider["user_id"])
    run_dbt(cfg, ["build", "--full-refresh", "--select", "+user_sequences"], last)
    table = "features.user_sequences"
    assert_same({table: read(cfg, table, ["user_id"])}, {table: wider}, "full refresh vs nightly")


def test_sessions_and_inter_event_times_match_the_events_recommendations_and_docs(platform):
    cfg = platform
    run_date = latest_event_date(cfg.paths.data_dir)
    cutoff = pd.Timestamp(run_date + dt.timedelta(days=1))
    pipeline.ingest(cfg, run_date)

    # A past run recommended to each user the item of their last event in the last 30 days (run dated 20
    # days before the cutoff): engagement = share of their 30-day events on those items after that run.
    rec_run = (cutoff - pd.Timedelta(days=20)).date()
    with duckdb.connect(str(cfg.paths.warehouse)) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            """create table marts.user_recommendations as
               select user_id, cast(? as date) as run_date, 1 as rank, arg_max(item_id, ts) as item_id
               from raw.events where ts < ? and ts >= ? - interval 30 day group by user_id""",
            [rec_run, cutoff, cutoff],
        )
        recs = con.execute("select user_id, item_id from marts.user_recommendations").df()
    pipeline.transform(cfg, run_date)
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        events = con.execute(
            "select user_id, item_id, ts from staging.stg_events where ts < ?", [cutoff]
        ).df()
    features = read(cfg, "features.user_features", ["user_id"]).set_index("user_id")

    # Event-level reference computations in pandas.
    events = events.sort_values(["user_id", "ts"], kind="stable")
    seconds = events["ts"].astype("datetime64[us]").astype("int64") // 1_000_000
    events["gap"] = seconds.groupby(events["user_id"]).diff()
    events["day"] = events["ts"].dt.floor("D")
    recent = events[events["ts"] >= cutoff - pd.Timedelta(days=90)].copy()
    recent["gap"] = (seconds[recent.index]).groupby(recent["user_id"]).diff()
    gaps = recent.dropna(subset=["gap"]).groupby("user_id")["gap"]
    hours_mean = gaps.mean() / 3600
    hours_std = gaps.std(ddof=0) / 3600
    month = events[events["ts"] >= cutoff - pd.Timedelta(days=30)].copy()
    same_day_gap = seconds[month.index].groupby([month["user_id"], month["day"]]).diff()
    sessions = (same_day_gap.isna() | (same_day_gap > 1800)).groupby(month["user_id"]).sum()
    on_recs = month.merge(recs, on=["user_id", "item_id"], how="left", indicator=True)
    on_recs = on_recs.assign(
        hit=(on_recs["_merge"] == "both") & (on_recs["ts"] >= pd.Timestamp(rec_run) + pd.Timedelta(days=1))
    )
    engagement = on_recs.groupby("user_id")["hit"].mean()

    users = features.index
    np.testing.assert_allclose(features["inter_event_hours_mean_90d"], hours_mean.reindex(users), rtol=1e-9)
    np.testing.assert_allclose(
        features["inter_event_hours_std_90d"], hours_std.reindex(users), rtol=1e-6, atol=1e-9
    )
    np.testing.assert_array_equal(features["sessions_30d"], sessions.reindex(users))
    np.testing.assert_allclose(features["rec_engagement_30d"], engagement.reindex(users), rtol=1e-12)
    assert features["rec_engagement_30d"].gt(0).any()
    for share in ("cart_abandonment_30d", "novel_item_share_30d", "rec_engagement_30d"):
        assert features[share].between(0, 1).all(), share

    run_dbt(cfg, ["docs", "generate"], run_date)
    catalog = json.loads((dbt_target_path(cfg) / "catalog.json").read_text())
    built = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert {"user_features", "item_features", "user_sequences", "training_snapshots"} <= built
    assert {"int_user_daily_activity", "stg_late_events_daily"} <= built


LONG = SimulationSpec(users=300, items=50, days=100, seed=11, start_date=dt.date(2026, 3, 1))


@pytest.fixture(scope="module")
def long_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 days: every feature window (up to 90 days) slides over days with events."""
    return simulated_data(tmp_path_factory, LONG, "long")


def test_the_sliding_window_state_gives_the_as_of_features_night_after_night(
    platform, long_data: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RETENTION_PATHS__DATA_DIR", str(long_data))
    cfg = load_config()
    # Nights in order (the state advances), a rerun (unchanged), a missed night and a backfill (rebuilt).
    nights = [
        (88, "rebuild"),
        (89, "advance"),
        (90, "advance"),
        (91, "advance"),
        (91, "same"),
        (92, "advance"),
        (94, "rebuild"),
        (95, "advance"),
        (90, "rebuild"),
        (96, "rebuild"),
    ]
    state = "intermediate.int_user_window_sums"
    previous = None
    for offset, mode in nights:
        day = LONG.start_date + dt.timedelta(days=offset)
        pipeline.ingest(cfg, day)
        run_dbt(cfg, ["run", "--select", "+user_features"], day)
        with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
            con.execute("create temp table expected as " + baseline_query(day + dt.timedelta(days=1)))
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'features' and table_name = 'user_features' order by ordinal_position"
            ).fetchall()
            compare = compare_sql("expected", "features.user_features", columns)
            [(differing,)] = con.execute(compare).fetchall()
            [(rows,)] = con.execute("select count(*) from features.user_features").fetchall()
            [(kept,)] = con.execute(
                f"select count(*) from {state} where cutoff_date < (select max(cutoff_date) from {state})"
            ).fetchall()
            current = con.execute(f"select * from {state} order by user_id").df()
        assert rows > 50 and differing == 0, f"night {offset} ({mode}): {differing} rows differ"
        # An advance rewrites only the users active on a day entering or leaving a window; a rebuild
        # writes every user at the new cutoff; a rerun of the same cutoff writes nothing.
        assert (kept > 0) == (mode in ("advance", "same")), (offset, mode, kept)
        if mode == "same":
            pd.testing.assert_frame_equal(current, previous)
        previous = current
