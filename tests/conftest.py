"""Shared fixtures: small simulated data sets and a platform whose every path lives in a temp folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from retention.config import PROJECT_ROOT, Config, load_config
from retention.simulator import SimulationSpec, simulate, write_dataset

# Real public data sets live beside the repository, never inside it (see ../shared/data/*/SOURCE.md).
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
MOVIELENS_SMALL = SHARED_DATA / "movielens-small"

# Long enough for churn labels (active_days + horizon_days = 60) with room for training.
TINY = SimulationSpec(users=800, items=150, days=75, seed=7, start_date=dt.date(2026, 6, 1))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated history in the data contract (parquet), written once per session."""
    out = tmp_path_factory.mktemp("tiny") / "data"
    write_dataset(simulate(TINY), out)
    return out


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_data: Path) -> Config:
    """The platform config with warehouse, MLflow store, Airflow home and data under tmp_path."""
    paths = {
        "WAREHOUSE": tmp_path / "var" / "warehouse.duckdb",
        "MLFLOW_DIR": tmp_path / "mlruns",
        "AIRFLOW_HOME": tmp_path / "var" / "airflow",
        "BENCH_DIR": tmp_path / "var" / "bench",
        "DATA_DIR": tiny_data,
    }
    for key, value in paths.items():
        monkeypatch.setenv(f"RETENTION_PATHS__{key}", str(value))
    return load_config()
