"""`publish`: all marts replaced for the run date in one transaction, older dates kept, new columns added."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from retention import pipeline

DAY = dt.date(2026, 8, 1)


def stage_all(cfg, run_date: dt.date, **extra_columns) -> None:
    frames = {
        table: pd.DataFrame({"user_id": ["u1", "u2"], "run_date": [run_date, run_date], **extra_columns})
        for table in pipeline.MARTS
    }
    pipeline._write_stage(cfg, run_date, frames)


def marts(cfg) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        return {t: con.execute(f"select * from marts.{t} order by all").df() for t in pipeline.MARTS}


def test_publish_replaces_only_its_date_and_adds_new_columns(platform):
    cfg = platform
    stage_all(cfg, DAY - dt.timedelta(days=1))
    pipeline.publish(cfg, DAY - dt.timedelta(days=1))
    stage_all(cfg, DAY, score=[0.5, 0.7])  # a newer pipeline version writes one more column
    assert pipeline.publish(cfg, DAY) == {t: 2 for t in pipeline.MARTS}
    stage_all(cfg, DAY, score=[0.1, 0.2])  # rerun of the same date
    pipeline.publish(cfg, DAY)
    for frame in marts(cfg).values():
        assert len(frame) == 4
        today = frame[frame["run_date"] == pd.Timestamp(DAY)]
        assert list(today["score"]) == [0.1, 0.2]
        assert frame[frame["run_date"] < pd.Timestamp(DAY)]["score"].isna().all()
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        schemas = {
            r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()
        }
    assert not any(s.startswith("stage_") for s in schemas)


def test_publish_with_a_missing_output_changes_nothing(platform):
    cfg = platform
    stage_all(cfg, DAY)
    pipeline.publish(cfg, DAY)
    before = marts(cfg)
    frames = {"churn_scores": pd.DataFrame({"user_id": ["u9"], "run_date": [DAY]})}
    pipeline._write_stage(cfg, DAY, frames)  # the other staged outputs are missing
    with pytest.raises(RuntimeError, match="staging tables"):
        pipeline.publish(cfg, DAY)
    after = marts(cfg)
    for table in pipeline.MARTS:
        pd.testing.assert_frame_equal(after[table], before[table])
