from pathlib import Path

import pytest

from retention.config import PROJECT_ROOT, load_config


def test_defaults_come_from_the_project_yaml():
    cfg = load_config(env={})
    assert cfg.paths.warehouse == PROJECT_ROOT / "var" / "warehouse.duckdb"
    assert cfg.paths.mlflow_uri == f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}"
    assert cfg.features.horizon_days == 30
    assert cfg.recommender.top_k == 10


def test_environment_overrides_are_typed():
    cfg = load_config(
        env={
            "RETENTION_SCORING__X": "1",
            "RETENTION_RECOMMENDER__TOP_K": "20",
            "RETENTION_INTERVENTIONS__HOLDOUT_SHARE": "0.25",
            "RETENTION_PATHS__WAREHOUSE": "/tmp/w.duckdb",
        }
    )
    assert cfg.recommender.top_k == 20
    assert cfg.interventions.holdout_share == 0.25
    assert cfg.paths.warehouse == Path("/tmp/w.duckdb")


def test_another_config_file_and_unknown_keys(tmp_path: Path):
    good = tmp_path / "retention.yaml"
    good.write_text("paths:\n  warehouse: w.duckdb\nchurn:\n  segment_high: 0.7\n")
    cfg = load_config(env={"RETENTION_CONFIG": str(good)})
    assert cfg.paths.warehouse == tmp_path / "w.duckdb"
    assert cfg.churn.segment_high == 0.7
    bad = tmp_path / "bad.yaml"
    bad.write_text("churn:\n  segment_hgih: 0.7\n")
    with pytest.raises(ValueError, match="segment_hgih"):
        load_config(env={"RETENTION_CONFIG": str(bad)})
