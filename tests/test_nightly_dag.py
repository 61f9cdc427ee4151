"""End to end: the real retention_nightly DAG (Airflow `dags test`, dbt, GE, MLflow) on a tiny simulated
history, through the `retention run` command a user types."""

from __future__ import annotations

import datetime as dt
import json
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
from retention.transform import dbt_target_path
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


def test_the_run_generates_the_dbt_docs_with_the_lineage(nightly):
    cfg, _, first, _, _ = nightly
    target = dbt_target_path(cfg)
    assert str(target / "index.html") in first.stdout.replace("\n", "")
    catalog = json.loads((target / "catalog.json").read_text())
    assert {"user_features", "churn_labels", "int_user_daily_activity"} <= {
        node["metadata"]["name"] for node in catalog["nodes"].values()
    }
    parents = json.loads((target / "manifest.json").read_text())["parent_map"]
    assert "model.retention.int_user_daily_activity" in parents["model.retention.user_features"]


def test_rerunning_the_same_date_gives_the_same_rows(nightly):
    cfg, _, _, after_first, _ = nightly
    assert mart_snapshot(cfg) == after_first


def run_next_day_with(cfg: Config, run_date: dt.date, tmp_path: Path, events_csv: str):
    """`retention run` for the day after `run_date` on a copy of the data plus that day's `events_csv`;
    returns the result, the new file and its bytes before the run."""
    data = tmp_path / "data"
    shutil.copytree(cfg.paths.data_dir, data)
    next_day = run_date + dt.timedelta(days=1)
    new_file = data / "events" / f"date={next_day}" / "events.csv"
    new_file.parent.mkdir(parents=True)
    new_file.write_text(events_csv.format(day=next_day))
    before = new_file.read_bytes()
    result = subprocess.run(
        [RETENTION, "run", "--date", next_day.isoformat(), "--data", str(data)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return result, new_file, before


EVENTS_HEADER = "event_id,user_id,item_id,event_type,ts,value,session_id\n"


def test_a_failed_run_names_the_bad_file_and_keeps_the_published_outputs(nightly, tmp_path):
    cfg, run_date, *_ = nightly
    published = mart_snapshot(cfg)
    bad_rows = "x1,u00001,i0001,view,{day}T10:00:00Z,0,s1\n" + "".join(
        f"x{i},u00001,i0001,purchase,{{day}}T10:0{i}:00Z,-5,s1\n" for i in range(2, 10)
    )
    result, bad, before = run_next_day_with(cfg, run_date, tmp_path, EVENTS_HEADER + bad_rows)
    assert result.returncode == 1
    assert "events.csv" in result.stdout and "'value'" in result.stdout and "ended 'failed'" in result.stdout
    assert mart_snapshot(cfg) == published
    assert bad.read_bytes() == before


def test_the_summary_shows_the_data_checks_and_where_the_data_docs_are(nightly):
    cfg, run_date, first, *_ = nightly
    out = first.stdout
    assert f"Data quality checks, run_date {run_date}" in out
    for suite in ("raw_events", "user_features", "churn_scores", "intervention_list"):
        assert suite in out
    assert "Quarantined rows: 0" in out
    docs = cfg.paths.data_docs_dir / "index.html"
    assert str(docs) in out.replace("\n", "") and docs.is_file()


def test_models_carry_the_data_checks_of_their_run(nightly):
    cfg, run_date, *_ = nightly
    tracking.configure(cfg)
    client = mlflow.MlflowClient()
    for name in ("retention-churn", "retention-recommender"):
        champion = client.get_run(client.get_model_version_by_alias(name, "champion").run_id)
        for suite in ("raw_events", "user_features"):  # the checks its training data passed
            assert champion.data.metrics[f"dq_{suite}_errors"] == 0
            assert champion.data.metrics[f"dq_{suite}_passed"] > 0
        experiment = client.get_experiment_by_name(name).experiment_id
        [latest] = client.search_runs(
            [experiment], f"tags.run_date = '{run_date}'", order_by=["start_time DESC"], max_results=1
        )
        assert latest.data.metrics["dq_intervention_list_errors"] == 0  # and the outputs of its night


def task_states(cfg: Config, run_date: dt.date) -> dict[str, str]:
    import sqlite3

    with sqlite3.connect(cfg.paths.airflow_home / "airflow.db") as db:
        rows = db.execute(
            """select task_id, state from task_instance where run_id = (
                select run_id from dag_run where dag_id = 'retention_nightly' and date(logical_date) = ?
                order by id desc limit 1)""",
            (run_date.isoformat(),),
        ).fetchall()
    return dict(rows)


def test_a_failed_gate_stops_the_run_before_anything_downstream(nightly, tmp_path):
    cfg, run_date, *_ = nightly
    published = mart_snapshot(cfg)
    result, _, _ = run_next_day_with(cfg, run_date, tmp_path, EVENTS_HEADER)
    next_day = run_date + dt.timedelta(days=1)
    assert result.returncode == 1
    assert "suite 'raw_events'" in result.stdout and "expect_table_row_count_to_be_between" in result.stdout
    states = task_states(cfg, next_day)
    assert states["ingest"] == "success" and states["validate_raw"] == "failed"
    assert {states[t] for t in ("transform", "train_churn", "publish")} == {"upstream_failed"}
    assert mart_snapshot(cfg) == published
