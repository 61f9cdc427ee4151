"""The platform's one source of configuration: `retention.yaml`, overridable by environment.

`load_config()` reads the YAML file (``$RETENTION_CONFIG`` or the project's ``retention.yaml``), then
applies ``RETENTION_<SECTION>__<KEY>`` environment variables, and returns a frozen, typed `Config`
that is passed down to every step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "RETENTION_"


@dataclass(frozen=True)
class Paths:
    data_dir: Path = Path("var/data/demo")
    warehouse: Path = Path("var/warehouse.duckdb")
    mlflow_dir: Path = Path("mlruns")
    airflow_home: Path = Path("var/airflow")
    bench_dir: Path = Path("var/bench")
    # An MLflow server to track to instead of the local store (e.g. http://mlflow:5000 in docker compose).
    mlflow_tracking_uri: str = ""

    @property
    def mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlflow_dir / "artifacts"


@dataclass(frozen=True)
class Simulation:
    """The demo history's size; also the simulator's spec (`retention.simulator.SimulationSpec`)."""

    users: int = 20_000
    items: int = 2_000
    days: int = 90
    seed: int = 42
    start_date: dt.date = dt.date(2026, 6, 1)


@dataclass(frozen=True)
class Features:
    active_days: int = 30
    horizon_days: int = 30


@dataclass(frozen=True)
class Churn:
    model: str = "logistic"
    segment_high: float = 0.5
    segment_medium: float = 0.2


@dataclass(frozen=True)
class Recommender:
    model: str = "popularity"
    popularity_days: int = 14
    top_k: int = 10
    batch_users: int = 4096


@dataclass(frozen=True)
class Interventions:
    holdout_share: float = 0.10
    coupon_budget: int = 500
    care_budget: int = 1000
    fatigue_days: int = 7
    salt: str = "retention-holdout-v1"


@dataclass(frozen=True)
class Services:
    airflow_port: int = 8080
    mlflow_port: int = 5000


@dataclass(frozen=True)
class Config:
    paths: Paths = field(default_factory=Paths)
    simulation: Simulation = field(default_factory=Simulation)
    features: Features = field(default_factory=Features)
    churn: Churn = field(default_factory=Churn)
    recommender: Recommender = field(default_factory=Recommender)
    interventions: Interventions = field(default_factory=Interventions)
    services: Services = field(default_factory=Services)

    def replace(self, section: str, **values: Any) -> Config:
        """A copy with some values of one section changed (e.g. ``cfg.replace("paths", data_dir=p)``)."""
        updated = dataclasses.replace(getattr(self, section), **values)
        return dataclasses.replace(self, **{section: updated})


def _coerce(value: Any, like: Any) -> Any:
    if isinstance(like, Path):
        return Path(value)
    if isinstance(like, dt.date):
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    if isinstance(like, bool):
        return str(value).lower() in {"1", "true", "yes", "on"}
    return type(like)(value)


def _section(cls: type, values: dict[str, Any], env: dict[str, str], name: str, root: Path) -> Any:
    defaults = cls()
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"retention config: unknown keys in section '{name}': {sorted(unknown)}")
    merged = dict(values)
    for key in known:
        env_value = env.get(f"{ENV_PREFIX}{name.upper()}__{key.upper()}")
        if env_value is not None:
            merged[key] = env_value
    typed = {k: _coerce(v, getattr(defaults, k)) for k, v in merged.items()}
    for key, value in typed.items():
        if isinstance(value, Path) and not value.is_absolute():
            typed[key] = (root / value).resolve()
    for key in known - set(typed):
        default = getattr(defaults, key)
        if isinstance(default, Path) and not default.is_absolute():
            typed[key] = (root / default).resolve()
    return cls(**typed)


def config_file(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(f"{ENV_PREFIX}CONFIG", PROJECT_ROOT / "retention.yaml")).resolve()


def load_config(env: dict[str, str] | None = None) -> Config:
    """Read the YAML config, apply ``RETENTION_<SECTION>__<KEY>`` overrides, resolve paths."""
    env = dict(os.environ if env is None else env)
    path = config_file(env)
    raw = yaml.safe_load(path.read_text()) if path.exists() else {}
    raw = raw or {}
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    unknown = set(raw) - set(sections)
    if unknown:
        raise ValueError(f"{path}: unknown config sections {sorted(unknown)}")
    classes = {
        "paths": Paths,
        "simulation": Simulation,
        "features": Features,
        "churn": Churn,
        "recommender": Recommender,
        "interventions": Interventions,
        "services": Services,
    }
    return Config(
        **{name: _section(cls, raw.get(name) or {}, env, name, path.parent) for name, cls in classes.items()}
    )
