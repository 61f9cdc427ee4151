"""The dbt feature models: point-in-time correct and idempotent."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from retention import pipeline
from retention.ingest import latest_event_date


def features(cfg) -> pd.DataFrame:
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        return con.execute("select * from features.user_features order by user_id").df()


def test_features_ignore_events_after_the_cutoff_and_rebuilds_are_idempotent(platform):
    cfg = platform
    run_date = latest_event_date(cfg.paths.data_dir) - dt.timedelta(days=10)
    pipeline.ingest(cfg, run_date)
    pipeline.transform(cfg, run_date)
    before = features(cfg)
    assert len(before) > 0
    cutoff = pd.Timestamp(run_date + dt.timedelta(days=1))
    assert (before["cutoff_date"] == cutoff).all()

    pipeline.transform(cfg, run_date)
    pd.testing.assert_frame_equal(features(cfg), before)

    # Load the ten later days too: features at the same cutoff must not change.
    pipeline.ingest(cfg, latest_event_date(cfg.paths.data_dir))
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        [(future,)] = con.execute("select count(*) from raw.events where ts >= ?", [cutoff]).fetchall()
    assert future > 0
    pipeline.transform(cfg, run_date)
    pd.testing.assert_frame_equal(features(cfg), before)


def test_churn_labels_use_only_the_window_after_the_label_cutoff(platform):
    cfg = platform
    run_date = latest_event_date(cfg.paths.data_dir)
    pipeline.ingest(cfg, run_date)
    pipeline.transform(cfg, run_date)
    cutoff = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    label_cutoff = cutoff - dt.timedelta(days=cfg.features.horizon_days)
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        labels = con.execute("select user_id, churned, cutoff_date from features.churn_labels").df()
        returned = {
            r[0]
            for r in con.execute(
                "select distinct user_id from raw.events where ts >= ? and ts < ?", [label_cutoff, cutoff]
            ).fetchall()
        }
        training = con.execute(
            "select min(cutoff_date) as c, max(cutoff_date) as newest from features.churn_training_set"
        ).df()
        [(snapshot,)] = con.execute("select max(cutoff_date) from features.training_snapshots").fetchall()
    assert (labels["cutoff_date"] == pd.Timestamp(label_cutoff)).all()
    expected = (~labels["user_id"].isin(returned)).astype(int)
    assert (labels["churned"] == expected).all()
    assert 0 < labels["churned"].mean() < 1
    # The churn model validates on the newest snapshot, on the weekly calendar at or before the label cutoff.
    assert training["c"][0] == training["newest"][0] == pd.Timestamp(snapshot)
    assert pd.Timestamp(label_cutoff) - pd.Timedelta(days=7) < training["c"][0] <= pd.Timestamp(label_cutoff)
