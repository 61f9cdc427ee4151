"""End to end: the real retention_nightly DAG (Airflow `dags test`, dbt, GE, MLflow) on a tiny simulated
history, through the `retention run` command a user types."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import mlflow
import pytest
from conftest import platform_env

from retention.config import Config
from retention.ingest import latest_event_date
from retention.pipeline import MARTS
from training import tracking

RETENTION = str(Path(sys.executable).with_name("retention"))


def run_nightly(cfg: Config, run_date: dt.date) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [RETENTION, "run", "--date", run_date.isoformat(), "--data", str(cfg.paths.data_dir)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return result


def mart_snapshot(cfg: Config) -> dict[str, list[tuple]]:
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        return {
            t: con.execute(f"select * exclude (model_version) from marts.{t} order by all").fetchall()
            if t in {"churn_scores", "user_recommendations"}
            else con.execute(f"select * from marts.{t} order by all").fetchall()
            for t in MARTS
        }


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path):
    """One real DAG run for the latest simulated date, then a rerun of the same date."""
    root = tmp_path_factory.mktemp("nightly")
    env = platform_env(root, tiny_data)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        from retention.config import load_config

        cfg = load_config()
        run_date = latest_event_date(tiny_data)
        first = run_nightly(cfg, run_date)
        after_first = mart_snapshot(cfg)
        second = run_nightly(cfg, run_date)
        yield cfg, run_date, first, after_first, second


def query(cfg: Config, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_the_run_succeeds_and_prints_the_summary(nightly):
    cfg, run_date, first, _, _ = nightly
    out = first.stdout
    assert f"Published outputs, run_date {run_date}" in out
    for table in MARTS:
        assert f"marts.{table}" in out
    assert "retention-churn" in out and str(cfg.paths.warehouse.name) in out


def test_all_five_outputs_are_non_empty_for_the_run_date(nightly):
    cfg, run_date, *_ = nightly
    for table in MARTS:
        [(rows,)] = query(cfg, f"select count(*) from marts.{table} where run_date = ?", [run_date])
        assert rows > 0, table


def test_every_active_user_has_exactly_one_segment_and_a_probability(nightly):
    cfg, run_date, *_ = nightly
    [(active,)] = query(cfg, "select count(*) from features.user_features")
    [(segmented, distinct)] = query(
        cfg,
        "select count(*), count(distinct user_id) from marts.risk_segments where run_date = ?",
        [run_date],
    )
    assert segmented == distinct == active
    [(bad,)] = query(
        cfg, "select count(*) from marts.risk_segments where segment not in ('high','medium','low')"
    )
    assert bad == 0
    [(low, high)] = query(
        cfg, "select min(churn_probability), max(churn_probability) from marts.churn_scores"
    )
    assert 0.0 <= low <= high <= 1.0


def test_no_recommended_item_was_already_seen_by_the_user(nightly):
    cfg, run_date, *_ = nightly
    cutoff = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    [(seen_recs,)] = query(
        cfg,
        """
        select count(*) from marts.user_recommendations r
        join raw.events e on e.user_id = r.user_id and e.item_id = r.item_id and e.ts < ?""",
        [cutoff],
    )
    assert seen_recs == 0
    [(users, max_rank)] = query(
        cfg, "select count(distinct user_id), max(rank) from marts.user_recommendations"
    )
    assert users > 0 and max_rank == cfg.recommender.top_k


def test_intervention_list_respects_holdout_share_and_rules(nightly):
    cfg, run_date, *_ = nightly
    [(n, holdout, treated_holdout)] = query(
        cfg,
        """
        select count(*), avg(is_holdout::int), count(*) filter (where is_holdout and arm <> 'none')
        from marts.intervention_list where run_date = ?""",
        [run_date],
    )
    assert n > 0 and treated_holdout == 0
    assert abs(holdout - cfg.interventions.holdout_share) < 0.06
    [(low_treated,)] = query(
        cfg, "select count(*) from marts.intervention_list where segment = 'low' and arm <> 'none'"
    )
    assert low_treated == 0


def test_models_are_tracked_registered_and_promoted(nightly):
    cfg, *_ = nightly
    tracking.configure(cfg)
    client = mlflow.MlflowClient()
    for name in ("retention-churn", "retention-recommender"):
        champion = client.get_model_version_by_alias(name, "champion")
        run = client.get_run(champion.run_id)
        assert any(key.startswith("val_") for key in run.data.metrics)
    decisions = query(
        cfg, "select model_name, promoted, reason from ops.promotion_decisions order by decided_at"
    )
    assert [d[1] for d in decisions[:2]] == [True, True]
    # The rerun's candidates are no better than the champions trained on the same data: not promoted.
    assert [d[1] for d in decisions[2:]] == [False, False]


def test_rerunning_the_same_date_gives_the_same_rows(nightly):
    cfg, _, _, after_first, _ = nightly
    assert mart_snapshot(cfg) == after_first


def test_a_failed_run_names_the_bad_file_and_keeps_the_published_outputs(nightly, tmp_path):
    cfg, run_date, *_ = nightly
    published = mart_snapshot(cfg)
    data = tmp_path / "data"
    shutil.copytree(cfg.paths.data_dir, data)
    next_day = run_date + dt.timedelta(days=1)
    bad = data / "events" / f"date={next_day}" / "events.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "event_id,user_id,item_id,event_type,ts,value,session_id\n"
        f"x1,u00001,i0001,view,{next_day}T10:00:00Z,0,s1\n"
        f"x2,u00001,i0001,purchase,{next_day}T10:05:00Z,-5,s1\n"
    )
    before = bad.read_bytes()
    result = subprocess.run(
        [RETENTION, "run", "--date", next_day.isoformat(), "--data", str(data)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1
    assert "events.csv" in result.stdout and "'value'" in result.stdout and "ended 'failed'" in result.stdout
    assert mart_snapshot(cfg) == published
    assert bad.read_bytes() == before
