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
    data_docs_dir: Path = Path("var/data_docs")  # Great Expectations Data Docs, rebuilt on every run
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
    model: str = "gbdt"  # logistic, gbdt, bgnbd or sequence (training/churn_model.py)
    segment_high: float = 0.6
    segment_medium: float = 0.3
    # Segment on p x recent spend / mean recent spend (value at risk) instead of p alone.
    value_weighted: bool = False


@dataclass(frozen=True)
class Recommender:
    model: str = "popularity"  # popularity | mf | sasrec (training/train_recommender.py)
    popularity_days: int = 14
    top_k: int = 10
    batch_users: int = 4096
    # mf and sasrec: epochs are chosen by early stopping on a leave-last-out split of the training events
    seed: int = 42
    max_epochs: int = 10
    patience: int = 2
    mf_dim: int = 64
    mf_negatives: int = 512
    mf_learning_rate: float = 0.005
    mf_batch_size: int = 1024
    sasrec_hidden: int = 128
    sasrec_blocks: int = 2
    sasrec_max_len: int = 50
    sasrec_dropout: float = 0.2
    sasrec_learning_rate: float = 0.002
    sasrec_batch_size: int = 16
    # The item text tower (training/item_text.py, training/sasrec.py): sasrec fuses the frozen title
    # embeddings of staging.stg_items into its item vectors and scores items nobody interacted with yet.
    sasrec_item_text: bool = False
    sasrec_id_dropout: float = 0.0  # with item text: share of items trained on their title alone per step
    text_cache_dir: Path = Path("var/item_text")  # title embeddings, one file per catalogue


@dataclass(frozen=True)
class Interventions:
    holdout_share: float = 0.10
    coupon_budget: int = 500
    care_budget: int = 1000
    fatigue_days: int = 7
    salt: str = "retention-holdout-v1"


@dataclass(frozen=True)
class Quality:
    """Thresholds of the data-quality gates (see README, "Data quality")."""

    max_rejected_share: float = 0.05  # above this share of bad rows in a file, the file stops the run
    max_lateness_days: int = 3  # older events in a day's partition are quarantined
    min_known_id_share: float = 0.99  # share of events whose user_id / item_id is in users / items
    volume_history_days: int = 7  # the day's row count is compared with the median of these days
    volume_min_history: int = 3  # fewer earlier days than this: no volume check
    volume_low: float = 0.5  # allowed band, as multiples of the trailing median
    volume_high: float = 3.0
    feature_rows_low: float = 0.5  # features' row count vs the previous run's
    feature_rows_high: float = 2.0
    drift_features: str = "days_since_last_event,events_30d,active_days_30d,purchase_value_30d,sessions_30d"
    drift_psi_warn: float = 0.1
    drift_psi_error: float = 0.5


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
    quality: Quality = field(default_factory=Quality)
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
        "quality": Quality,
        "services": Services,
    }
    return Config(
        **{name: _section(cls, raw.get(name) or {}, env, name, path.parent) for name, cls in classes.items()}
    )
