"""Nightly churn training on dbt's training_snapshots: temporal split, MLflow run with plots, the
promotion gate; and the sequences rebuilt at any cutoff equal dbt's features.user_sequences."""

import datetime as dt

import duckdb
import mlflow
import pandas as pd
import pytest
from conftest import platform_env

from retention import pipeline
from retention.config import load_config
from retention.ingest import latest_event_date
from retention.transform import run_dbt
from training import tracking
from training.churn_data import sequences_at
from training.train_churn import REGISTERED_NAME, train_churn

PLOTS = {"roc.png", "precision_recall.png", "calibration.png", "lift_by_decile.png", "shap_importance.png"}


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_data):
    root = tmp_path_factory.mktemp("train-churn")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in platform_env(root, tiny_data).items():
            patch.setenv(key, value)
        cfg = load_config()
        run_date = latest_event_date(tiny_data)
        pipeline.ingest(cfg, run_date)
        # Only the models training needs (the full build with its tests is test_feature_store's).
        run_dbt(cfg, ["run", "--select", "+training_snapshots", "+user_sequences"], run_date)
        yield cfg, run_date


def test_gbdt_trains_out_of_time_logs_its_plots_and_passes_the_gate(built):
    cfg, run_date = built
    result = train_churn(cfg.replace("churn", model="gbdt"), run_date)
    assert result["promoted"] and result["val_roc_auc"] > 0.6
    tracking.configure(cfg)
    run = mlflow.get_run(result["run_id"])
    params = run.data.params
    assert params["split"] == "temporal"
    validation_cutoff = pd.Timestamp(params["validation_cutoff"])
    for cutoff in params["train_cutoffs"].split(","):
        assert pd.Timestamp(cutoff) + pd.Timedelta(days=cfg.features.horizon_days) <= validation_cutoff
    artifacts = {
        a.path.split("/")[-1] for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")
    }
    assert artifacts == PLOTS
    assert {"val_ece", "val_top_decile_lift"} <= set(run.data.metrics)
    assert tracking.champion_version(REGISTERED_NAME) == result["version"]


def test_sequences_at_a_cutoff_equal_dbts_user_sequences(built):
    cfg, run_date = built
    with duckdb.connect(str(cfg.paths.warehouse), read_only=True) as con:
        dbt = con.execute("select * exclude (sequence_length, first_ts) from features.user_sequences").df()
        ours = sequences_at(con, "staging.stg_events", run_date + dt.timedelta(days=1), dbt["user_id"])
    key = ["user_id"]
    dbt, ours = (f.sort_values(key).reset_index(drop=True) for f in (dbt, ours))
    for column in ("item_ids", "event_types", "gap_seconds"):
        dbt[column], ours[column] = dbt[column].map(list), ours[column].map(list)
    pd.testing.assert_frame_equal(ours[dbt.columns], dbt, check_dtype=False)
