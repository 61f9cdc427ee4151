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


def simulated_data(tmp_path_factory: pytest.TempPathFactory, spec: SimulationSpec, name: str) -> Path:
    """`spec`'s simulated history in the data contract (parquet), in a fresh folder named after `name`."""
    out = tmp_path_factory.mktemp(name) / "data"
    write_dataset(simulate(spec), out)
    return out


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated history, written once per session."""
    return simulated_data(tmp_path_factory, TINY, "tiny")


def platform_env(root: Path, data_dir: Path) -> dict[str, str]:
    """Environment that puts every path of the platform (warehouse, stores, homes) under `root`."""
    return {
        "RETENTION_PATHS__WAREHOUSE": str(root / "var" / "warehouse.duckdb"),
        "RETENTION_PATHS__MLFLOW_DIR": str(root / "mlruns"),
        "RETENTION_PATHS__AIRFLOW_HOME": str(root / "var" / "airflow"),
        "RETENTION_PATHS__BENCH_DIR": str(root / "var" / "bench"),
        "RETENTION_PATHS__DATA_DOCS_DIR": str(root / "var" / "data_docs"),
        "RETENTION_PATHS__DATA_DIR": str(data_dir),
    }


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_data: Path) -> Config:
    """The platform config with warehouse, MLflow store, Airflow home and data under tmp_path."""
    for key, value in platform_env(tmp_path, tiny_data).items():
        monkeypatch.setenv(key, value)
    return load_config()
